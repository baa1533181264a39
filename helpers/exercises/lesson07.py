"""Notebook 07's exercise: a Responses stream's text and its final usage."""

from __future__ import annotations

import textwrap

from helpers.exercises import made_up
from helpers.exercises.framework import Case, Exercise, same_text_and_usage

__all__ = ["check_response_text_and_usage"]

_ONE_WORD = ["Two", "."]
_CUT = ["1", ",", " ", "2", ","]

check_response_text_and_usage = Exercise(
    name="response_text_and_usage",
    params="events",
    expected_type=tuple,
    cases=(
        Case(
            "a test stream that answers in one word",
            (made_up.response_stream(_ONE_WORD),),
            ("Two.", made_up.responses_usage(_ONE_WORD)),
            "Return a pair: the text of the `response.output_text.delta` events joined, then "
            "the usage of the final response.",
        ),
        Case(
            "a test stream cut short by max_output_tokens",
            (made_up.response_stream(_CUT, complete=False),),
            ("1, 2,", made_up.responses_usage(_CUT)),
            "A response cut short ends with `response.incomplete` rather than "
            "`response.completed`, and its response carries usage too.",
        ),
        Case(
            "a test stream that broke off before its final event",
            (made_up.response_stream(_ONE_WORD, ended=False),),
            ("Two.", None),
            "Without a final `response.completed` or `response.incomplete` event there is no "
            "usage, so the second item should say so with `None`.",
        ),
    ),
    hint_text=(
        "check `event.type` for each event: `response.output_text.delta` events carry the text "
        "in `event.delta`; `response.completed` and `response.incomplete` carry the finished "
        "response, whose `usage` you want."
    ),
    solution_code=textwrap.dedent(
        """\
        def response_text_and_usage(events):
            pieces, usage = [], None
            for event in events:
                if event.type == "response.output_text.delta":
                    pieces.append(event.delta)
                elif event.type in ("response.completed", "response.incomplete"):
                    usage = event.response.usage
            return "".join(pieces), usage
        """
    ),
    error_clues={
        "AttributeError": "Only some event types have a `delta` or a `response`: check "
        "`event.type` first.",
    },
    same=same_text_and_usage,
)
