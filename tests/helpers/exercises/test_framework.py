"""The exercises' self-checks: right answers pass, each kind of mistake gets its own message."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.exercises import (
    check_join_deltas,
    check_reply_text,
    check_text_and_usage,
    check_time_to_first_token,
)
from helpers.exercises.framework import Exercise, Feedback, Incorrect, NotAttempted

EXERCISES = [check_reply_text, check_join_deltas, check_time_to_first_token, check_text_and_usage]
IDS = [exercise.name for exercise in EXERCISES]


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_reference_solution_passes(exercise: Exercise) -> None:
    feedback = exercise(exercise.reference())
    assert feedback.outcome == "correct", feedback.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_untouched_placeholder_is_not_attempted(exercise: Exercise) -> None:
    def placeholder(*args: Any) -> Any:
        return ...

    feedback = exercise(placeholder)
    assert feedback.outcome == "not attempted"
    assert f"`{exercise.name}` still returns the placeholder" in feedback.message


def test_placeholder_inside_a_pair_is_not_attempted() -> None:
    with pytest.raises(NotAttempted):
        check_text_and_usage.verify(lambda chunks: (..., None))


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_none_asks_whether_return_was_forgotten(exercise: Exercise) -> None:
    feedback = exercise(lambda *args: None)
    assert feedback.outcome == "incorrect"
    assert "forget to `return`" in feedback.message
    assert f"`{exercise.name}(" in feedback.message


def test_passing_the_result_instead_of_the_function_is_explained() -> None:
    feedback = check_reply_text("Two.")
    assert feedback.outcome == "incorrect"
    assert "pass the function itself" in feedback.message
    assert "'Two.'" in feedback.message


def test_hard_coded_answer_fails_without_revealing_the_expected_text() -> None:
    feedback = check_reply_text(lambda response: "Two.")
    assert feedback.outcome == "incorrect"
    assert "'Two.'" in feedback.message  # what the learner returned...
    assert "1, 2, 3" not in feedback.message  # ...but never what the case expects


def test_wrong_type_names_both_types() -> None:
    feedback = check_reply_text(lambda response: response.choices[0].message)
    assert feedback.outcome == "incorrect"
    assert "returned a `ChatCompletionMessage`" in feedback.message
    assert "should return a `str`" in feedback.message


def test_exception_is_reported_with_the_likely_cause() -> None:
    def naive(chunks: Any) -> str:
        return "".join(chunk.choices[0].delta.content for chunk in chunks)

    feedback = check_join_deltas(naive)
    assert feedback.outcome == "incorrect"
    assert "raised `TypeError" in feedback.message
    assert "`content` is `None`" in feedback.message


def test_unguarded_loop_fails_on_the_usage_chunk() -> None:
    def unguarded(chunks: Any) -> tuple[str, Any]:
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
        return text, None

    feedback = check_text_and_usage(unguarded)
    assert feedback.outcome == "incorrect"
    assert "IndexError" in feedback.message
    assert "`choices == []`" in feedback.message


def test_missing_usage_fails() -> None:
    def text_only(chunks: Any) -> tuple[str, Any]:
        return check_join_deltas.reference()([c for c in chunks if c.choices]), None

    with pytest.raises(Incorrect, match="include_usage"):
        check_text_and_usage.verify(text_only)


def test_numbers_are_compared_with_a_tolerance() -> None:
    reference = check_time_to_first_token.reference()
    assert check_time_to_first_token(lambda arrivals: reference(arrivals) + 1e-12).correct
    assert not check_time_to_first_token(lambda arrivals: reference(arrivals) + 1e-3).correct


def test_first_chunk_is_not_the_first_token() -> None:
    feedback = check_time_to_first_token(lambda arrivals: arrivals[0][0])
    assert feedback.outcome == "incorrect"
    assert "returned `0.4`" in feedback.message
    assert "only the role" in feedback.message


def test_a_function_that_consumes_its_input_cannot_spoil_later_cases() -> None:
    seen: list[int] = []

    def consuming(chunks: list[Any]) -> str:
        seen.append(len(chunks))
        text = check_join_deltas.reference()(chunks)
        chunks.clear()
        return text

    assert check_join_deltas(consuming).correct
    assert check_join_deltas(consuming).correct
    assert seen[:2] == seen[2:]


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_solution_shows_the_code_that_passes(exercise: Exercise) -> None:
    note = exercise.solution()
    assert f"def {exercise.name}(" in note._repr_markdown_()
    assert "```python" in note._repr_markdown_()
    assert exercise.solution_code in repr(note)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_hint_does_not_give_the_whole_solution(exercise: Exercise) -> None:
    hint = exercise.hint()
    assert hint._repr_markdown_().startswith("**Hint:**")
    last_line = exercise.solution_code.strip().splitlines()[-1].strip()
    assert last_line not in hint.markdown
    assert "def " not in hint.markdown


def test_feedback_displays_as_markdown_and_plain_text() -> None:
    feedback = Feedback("incorrect", "`f(x)` returned `1`.")
    assert repr(feedback) == "Incorrect: `f(x)` returned `1`."
    markdown = feedback._repr_markdown_()
    assert markdown.startswith('<span style="color:')
    assert "**Incorrect:**" in markdown
    assert not feedback.correct
    assert Feedback("correct", "ok").correct
