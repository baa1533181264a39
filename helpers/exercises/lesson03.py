"""Notebook 03's exercise: the time to the first token, not to the first chunk."""

from __future__ import annotations

import textwrap

from helpers.exercises import made_up
from helpers.exercises.framework import Case, Exercise, close_enough

__all__ = ["check_time_to_first_token"]

_ROLE_FIRST = [
    (0.40, made_up.chunk({"role": "assistant", "content": ""})),
    (0.52, made_up.chunk({"content": "Hello"})),
    (0.61, made_up.chunk({"content": "!"})),
    (0.70, made_up.chunk({}, finish="stop")),
]
# Some engines put the first words in the role chunk itself.
_TEXT_FIRST = [
    (0.25, made_up.chunk({"role": "assistant", "content": "Hi"})),
    (0.33, made_up.chunk({"content": "."})),
    (0.41, made_up.chunk({}, finish="stop")),
]

check_time_to_first_token = Exercise(
    name="time_to_first_token",
    params="arrivals",
    expected_type=float,
    cases=(
        Case(
            "a test stream whose first chunk carries only the role",
            (_ROLE_FIRST,),
            0.52,
            "The first chunk to arrive is not always the first one with text in it.",
        ),
        Case(
            "a test stream whose very first chunk already carries text",
            (_TEXT_FIRST,),
            0.25,
            "Look for the first chunk with text rather than skipping a fixed number of chunks.",
        ),
    ),
    hint_text=(
        "go through `arrivals` in order and stop at the first `(seconds, chunk)` pair whose "
        "`chunk.choices[0].delta.content` is a non-empty string; return its `seconds`."
    ),
    solution_code=textwrap.dedent(
        """\
        def time_to_first_token(arrivals):
            for seconds, chunk in arrivals:
                if chunk.choices and chunk.choices[0].delta.content:
                    return seconds
        """
    ),
    error_clues={"TypeError": "Each item of `arrivals` is a `(seconds, chunk)` pair."},
    same=close_enough,
)
