"""Notebook 04's exercise: a stream's text and the usage of its last chunk."""

from __future__ import annotations

import textwrap

from helpers.exercises import made_up
from helpers.exercises.framework import Case, Exercise, same_text_and_usage

__all__ = ["check_text_and_usage"]

check_text_and_usage = Exercise(
    name="text_and_usage",
    params="chunks",
    expected_type=tuple,
    cases=(
        Case(
            "a test stream sent with include_usage",
            (made_up.stream(["Two", "."], made_up.usage(18, 2)),),
            ("Two.", made_up.usage(18, 2)),
            "Return a pair: the joined text, then the `usage` of the last chunk.",
        ),
        Case(
            "another test stream sent with include_usage",
            (made_up.stream(["Hello", " there"], made_up.usage(12, 2)),),
            ("Hello there", made_up.usage(12, 2)),
            "Return a pair: the joined text, then the `usage` of the last chunk.",
        ),
        Case(
            "a test stream sent without include_usage",
            (made_up.stream(["Yes"]),),
            ("Yes", None),
            "Without include_usage no chunk carries usage, so the second item should say so.",
        ),
        Case(
            "a test stream that broke off before its first chunk",
            ([],),
            ("", None),
            "An interrupted stream never sends its usage chunk, and may send no chunk at all.",
        ),
    ),
    hint_text=(
        "the usage chunk arrives last and has `choices == []`, so test `if chunk.choices:` "
        "before reading `chunk.choices[0]`; keep the `chunk.usage` that is not `None`."
    ),
    solution_code=textwrap.dedent(
        """\
        def text_and_usage(chunks):
            pieces, usage = [], None
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                if chunk.usage is not None:
                    usage = chunk.usage
            return "".join(pieces), usage
        """
    ),
    error_clues={
        "IndexError": (
            "The usage chunk at the end of the stream has `choices == []`, and a stream that "
            "broke off may have no chunks at all: check before you index."
        ),
        "TypeError": "The finish chunk's delta carries no text: its `content` is `None`.",
    },
    same=same_text_and_usage,
)
