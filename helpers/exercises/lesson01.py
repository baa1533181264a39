"""Notebook 01's exercises: read the reply of a blocking response; tell a cut-off answer."""

from __future__ import annotations

import textwrap

from helpers.exercises import made_up
from helpers.exercises.framework import Case, Exercise

__all__ = ["check_is_cut_off", "check_reply_text"]

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

_ENDED = "The model ended this answer by itself: nothing is missing."
check_is_cut_off = Exercise(
    name="is_cut_off",
    params="response",
    expected_type=bool,
    cases=(
        Case("a test response that ended by itself", (made_up.response("1, 2, 3"),), False, _ENDED),
        Case(
            "a test response stopped by `max_completion_tokens`",
            (made_up.response("1, 2,", finish="length"),),
            True,
            "Which `finish_reason` means the token limit was reached?",
        ),
        Case(
            "a test response whose text was withheld by a content filter",
            (made_up.response("", finish="content_filter"),),
            False,
            "A filtered answer did not run into the token limit: test for the limit only.",
        ),
        Case(
            "a test response that stops in mid-word but ended by itself",
            (made_up.response("Done, 10", finish="stop"),),
            False,
            "Judge by the `finish_reason`, not by how the text looks.",
        ),
    ),
    hint_text=(
        "look at `response.choices[0].finish_reason`; one of its values says the answer ran "
        "into the token limit."
    ),
    solution_code=textwrap.dedent(
        """\
        def is_cut_off(response):
            return response.choices[0].finish_reason == "length"
        """
    ),
    error_clues={"AttributeError": "`finish_reason` belongs to the choice, not the message."},
)
