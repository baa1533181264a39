"""Notebook 07's exercise: its self-check passes the reference and names each kind of mistake."""

from __future__ import annotations

from typing import Any

from helpers.exercises import check_response_text_and_usage as check


def only_completed(events: list[Any]) -> tuple[str, Any]:
    pieces, usage = [], None
    for event in events:
        if event.type == "response.output_text.delta":
            pieces.append(event.delta)
        if event.type == "response.completed":
            usage = event.response.usage
    return "".join(pieces), usage


def test_the_reference_solution_passes() -> None:
    assert check(check.reference()).outcome == "correct"


def test_reading_only_response_completed_misses_the_incomplete_usage() -> None:
    feedback = check(only_completed)
    assert feedback.outcome == "incorrect"
    assert "response.incomplete" in feedback.message


def test_joining_every_event_without_checking_its_type_gets_a_clue() -> None:
    feedback = check(lambda events: ("".join(e.delta for e in events), None))
    assert feedback.outcome == "incorrect"
    assert "check `event.type` first" in feedback.message


def test_a_placeholder_is_not_attempted_and_none_asks_about_return() -> None:
    assert check(lambda events: (..., None)).outcome == "not attempted"
    assert "forget to `return`" in check(lambda events: None).message


def test_the_messages_never_reveal_the_expected_usage() -> None:
    feedback = check(lambda events: ("Two.", "usage"))
    assert feedback.outcome == "incorrect"
    assert "input_tokens" not in feedback.message
