"""Notebook 05's exercise: how many pieces arrive before a blocked phrase shows."""

from __future__ import annotations

import textwrap

from helpers.exercises.framework import Case, Exercise

__all__ = ["check_pieces_until_blocked"]

check_pieces_until_blocked = Exercise(
    name="pieces_until_blocked",
    params="pieces, phrase",
    expected_type=int,
    cases=(
        Case(
            "test pieces where the phrase arrives inside one piece",
            (["The ", "code name is Bluebird", "."], "Bluebird"),
            2,
        ),
        Case(
            "test pieces where the phrase is split over two pieces",
            (["The code ", "name is Blue", "bird", ", so", " hush"], "Bluebird"),
            3,
            "A phrase can start in one piece and end in the next: check the recent text, "
            "not each piece alone.",
        ),
        Case(
            "test pieces where the phrase is split over three pieces",
            (["It is ", "Blu", "eb", "ird", " today"], "Bluebird"),
            4,
            "Keep enough of the earlier pieces to hold the whole phrase.",
        ),
        Case(
            "test pieces without the phrase",
            (["Nothing", " to", " hide", "."], "Bluebird"),
            4,
            "When the phrase never appears the loop reads every piece.",
        ),
    ),
    hint_text=(
        "keep a string `window`: add each piece to it, stop as soon as `phrase in window`, and "
        "otherwise keep only its last `len(phrase) - 1` characters before the next piece."
    ),
    solution_code=textwrap.dedent(
        """\
        def pieces_until_blocked(pieces, phrase):
            window = ""
            for count, piece in enumerate(pieces, start=1):
                window += piece
                if phrase in window:
                    return count
                window = window[max(0, len(window) - len(phrase) + 1) :]
            return len(pieces)
        """
    ),
    error_clues={"TypeError": "`pieces` is a list of strings and `phrase` one string."},
)
