"""Notebook 01's exercise: read the reply of a blocking response."""

from __future__ import annotations

import textwrap

from helpers.exercises import made_up
from helpers.exercises.framework import Case, Exercise

__all__ = ["check_reply_text"]

check_reply_text = Exercise(
    name="reply_text",
    params="response",
    expected_type=str,
    cases=(
        Case(
            "a test response whose reply is a one-word answer",
            (made_up.response("Two."),),
            "Two.",
        ),
        Case("a test response that counts to three", (made_up.response("1, 2, 3"),), "1, 2, 3"),
    ),
    hint_text=(
        "the reply sits in the response's first choice; the text is one attribute below "
        "the `message`."
    ),
    solution_code=textwrap.dedent(
        """\
        def reply_text(response):
            return response.choices[0].message.content
        """
    ),
    error_clues={"AttributeError": "A blocking response has a `message`, not a `delta`."},
)
