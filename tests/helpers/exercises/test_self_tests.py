"""The self-tests that used to sit in hidden notebook cells: each lesson's check rejects the
mistake its exercise is about and accepts its own reference answer.

They live here, not in the notebooks, because a hidden cell is hidden only in JupyterLab: on
GitHub, nbviewer, Colab and VS Code a learner would read them, and some were nearly the answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers.exercises import (
    check_converse,
    check_finished_texts,
    check_is_cut_off,
    check_join_deltas,
    check_pieces_until_blocked,
    check_reply_text,
    check_response_text_and_usage,
    check_text_and_usage,
    check_time_to_first_token,
)
from helpers.exercises.framework import Exercise

ALL = [
    check_is_cut_off,
    check_reply_text,
    check_join_deltas,
    check_time_to_first_token,
    check_text_and_usage,
    check_converse,
    check_pieces_until_blocked,
    check_finished_texts,
    check_response_text_and_usage,
]


@pytest.mark.parametrize("exercise", ALL, ids=[e.name for e in ALL])
def test_reference_answer_passes(exercise: Exercise) -> None:
    assert exercise(exercise.reference()).correct


def only_completed(events: list[Any]) -> tuple[str, Any]:
    pieces = [e.delta for e in events if e.type == "response.output_text.delta"]
    done = [e.response.usage for e in events if e.type == "response.completed"]
    return "".join(pieces), done[0] if done else None


def forgetful(client: Any, questions: list[str]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for question in questions:
        asked = {"role": "user", "content": question}
        stream = client.chat.completions.create(model="m", messages=[asked], stream=True)
        reply = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        messages += [asked, {"role": "assistant", "content": reply}]
    return messages


def blocking(client: Any, questions: list[str]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for question in questions:
        messages.append({"role": "user", "content": question})
        reply = client.chat.completions.create(model="m", messages=messages)
        messages.append({"role": "assistant", "content": reply.choices[0].message.content})
    return messages


def each_alone(pieces: list[str], phrase: str) -> int:
    return next((n for n, piece in enumerate(pieces, 1) if phrase in piece), len(pieces))


WRONG = {
    # 01: any ending but "stop" is not a cut-off; a filtered answer is not one.
    "is_cut_off: not stop": (check_is_cut_off, lambda r: r.choices[0].finish_reason != "stop"),
    "is_cut_off: judged by the text": (
        check_is_cut_off,
        lambda r: not r.choices[0].message.content.endswith(("3", ".")),
    ),
    "reply_text: the message, not its text": (
        check_reply_text,
        lambda response: response.choices[0].message,
    ),
    "join_deltas: trips over the final None": (
        check_join_deltas,
        lambda chunks: "".join(c.choices[0].delta.content for c in chunks),
    ),
    "time_to_first_token: times the role chunk": (
        check_time_to_first_token,
        lambda arrivals: arrivals[0][0],
    ),
    "text_and_usage: no guard": (
        check_text_and_usage,
        lambda chunks: ("".join(c.choices[0].delta.content or "" for c in chunks), None),
    ),
    "text_and_usage: trusts chunks[-1].usage": (
        check_text_and_usage,
        lambda chunks: (
            "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
            chunks[-1].usage,
        ),
    ),
    "text_and_usage: usage only on a chunk without choices": (
        check_text_and_usage,
        lambda chunks: (
            "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
            next((c.usage for c in chunks if not c.choices), None),
        ),
    ),
    "converse: sends only the latest question": (check_converse, forgetful),
    "converse: does not stream": (check_converse, blocking),
    "pieces_until_blocked: each piece alone": (check_pieces_until_blocked, each_alone),
    "finished_texts: lets a cancellation through": (
        check_finished_texts,
        lambda prompts, results: {
            p: r for p, r in zip(prompts, results, strict=True) if not isinstance(r, Exception)
        },
    ),
    "response_text_and_usage: only response.completed": (
        check_response_text_and_usage,
        only_completed,
    ),
}


@pytest.mark.parametrize("exercise, wrong", WRONG.values(), ids=list(WRONG))
def test_the_mistake_the_exercise_teaches_fails(exercise: Exercise, wrong: Any) -> None:
    assert not exercise(wrong).correct
