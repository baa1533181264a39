"""Notebook 02's exercise: join a stream's deltas into its text."""

from __future__ import annotations

import textwrap

from helpers.exercises import made_up
from helpers.exercises.framework import Case, Exercise

__all__ = ["check_join_deltas"]

check_join_deltas = Exercise(
    name="join_deltas",
    params="chunks",
    expected_type=str,
    cases=(
        Case("a test stream answering in one word", (made_up.stream(["Two", "."]),), "Two."),
        Case(
            "a test stream that counts to three",
            (made_up.stream(["1", ",", " ", "2", ",", " ", "3"]),),
            "1, 2, 3",
            "Keep every piece, spaces included, in the order they arrived.",
        ),
    ),
    hint_text=(
        "loop over the chunks and collect `chunk.choices[0].delta.content`; the last chunk's "
        "content is `None`, so leave it out before joining."
    ),
    solution_code=textwrap.dedent(
        """\
        def join_deltas(chunks):
            pieces = []
            for chunk in chunks:
                content = chunk.choices[0].delta.content
                if content is not None:
                    pieces.append(content)
            return "".join(pieces)
        """
    ),
    error_clues={
        "TypeError": "The finish chunk's delta carries no text: its `content` is `None`.",
        "AttributeError": "Stream chunks carry a `delta`, not a `message`.",
    },
)
