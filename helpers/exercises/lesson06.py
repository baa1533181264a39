"""Notebook 06's exercise: the texts of the streams that finished."""

from __future__ import annotations

import asyncio
import textwrap

from helpers.exercises.framework import Case, Exercise

__all__ = ["check_finished_texts"]

check_finished_texts = Exercise(
    name="finished_texts",
    params="prompts, results",
    expected_type=dict,
    cases=(
        Case(
            "test results where every stream finished",
            (["Count to 3", "Say hi"], ["1, 2, 3", "hi"]),
            {"Count to 3": "1, 2, 3", "Say hi": "hi"},
            "Pair each prompt with the result in the same position.",
        ),
        Case(
            "test results where one stream failed with a TimeoutError",
            (["a", "b", "c"], ["A", TimeoutError("the stream stalled"), "C"]),
            {"a": "A", "c": "C"},
            "Leave out the prompts whose result is an exception.",
        ),
        Case(
            "test results where one stream was cancelled",
            (["p", "q"], [asyncio.CancelledError(), "Q"]),
            {"q": "Q"},
            "`asyncio.CancelledError` is a `BaseException` but not an `Exception`.",
        ),
    ),
    hint_text=(
        "walk through `zip(prompts, results)` and keep the pairs whose result is a `str`; a "
        "cancelled stream's result is an `asyncio.CancelledError`, which is not an `Exception`."
    ),
    solution_code=textwrap.dedent(
        """\
        def finished_texts(prompts, results):
            return {
                prompt: result
                for prompt, result in zip(prompts, results)
                if isinstance(result, str)
            }
        """
    ),
    error_clues={"TypeError": "`prompts` is a list of strings and `results` a list as long."},
)
