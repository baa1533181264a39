"""The pure planning half of the server: same request, same chunks and schedule; fault shapes."""

from __future__ import annotations

import json
import time
import tracemalloc
from typing import Any

import pytest

from helpers.server.chat_request import validate_chat_request
from helpers.server.faults import FaultSpec
from helpers.server.planning import StreamPlan, plan_completion, plan_stream, request_key
from helpers.server.wire import SSE_DONE

COUNT_PROMPT = "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ..."
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": COUNT_PROMPT}]}


def plan(body: dict[str, object], spec: FaultSpec | None = None) -> StreamPlan:
    request = validate_chat_request(body)
    completion = plan_completion(request, "realistic", request_key(body))
    return plan_stream(completion, spec or FaultSpec())


def test_two_runs_give_the_same_chunks_and_the_same_schedule() -> None:
    first, second = plan(dict(BODY, stream=True)), plan(dict(BODY, stream=True))
    assert (first.headers_at, first.faulted) == (second.headers_at, second.faulted)
    assert list(first.events) == list(second.events)
    offsets = [event.at for event in first.events]
    assert offsets[0] > 1.0  # realistic: about a second before the first token
    assert offsets[-1] - offsets[0] == pytest.approx(2.82 - 1.14)


def test_another_request_gets_another_schedule_and_id() -> None:
    first = plan(dict(BODY, stream=True))
    other = plan(dict(BODY, stream=True, seed=5))
    assert [e.at for e in first.events] != [e.at for e in other.events]
    first_id = json.loads(next(iter(first.events)).data[6:])["id"]
    assert first_id != json.loads(next(iter(other.events)).data[6:])["id"]


def test_simulation_controls_do_not_change_the_request_key() -> None:
    assert request_key(dict(BODY, simulation={"fault": "stall"})) == request_key(BODY)
    assert request_key(dict(BODY, n=2)) != request_key(BODY)


def test_the_lesson_stream_has_one_role_chunk_298_tokens_and_one_finish_chunk() -> None:
    events = list(plan(dict(BODY, stream=True)).events)
    chunks = [json.loads(e.data[6:]) for e in events if e.data != SSE_DONE]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": "", "refusal": None}
    assert all(set(d) == {"content"} for d in deltas[1:-1])
    assert len(deltas) == 1 + 298 + 1
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert events[-1].data == SSE_DONE
    # The role chunk goes with the first token, the finish chunk and [DONE] with the last.
    assert events[0].at == events[1].at
    assert events[-1].at == events[-2].at == events[-3].at


@pytest.mark.parametrize(
    ("spec", "events", "last"),
    [
        (FaultSpec(fault="error_event", after_chunks=4), 5, b'data: {"error":'),
        (FaultSpec(fault="disconnect", after_chunks=4), 5, b""),
        (FaultSpec(fault="no_done"), 300, b'data: {"id":'),
        (FaultSpec(fault="no_finish"), 300, SSE_DONE),
        (FaultSpec(fault="error_event", after_chunks=10_000), 301, b'data: {"error":'),
    ],
)
def test_fault_shapes(spec: FaultSpec, events: int, last: bytes) -> None:
    planned = plan(dict(BODY, stream=True), spec)
    made = list(planned.events)
    assert len(made) == events
    assert made[-1].data.startswith(last)
    assert planned.faulted
    assert made[-1].disconnect == (spec.fault == "disconnect")


def test_a_stall_delays_everything_from_its_chunk_on() -> None:
    calm = plan(dict(BODY, stream=True))
    late = plan(dict(BODY, stream=True), FaultSpec(fault="stall", after_chunks=3, seconds=4))
    shifted = [b.at - a.at for a, b in zip(calm.events, late.events, strict=True)]
    assert shifted[:3] == [0.0] * 3
    assert shifted[3:] == pytest.approx([4.0] * (len(shifted) - 3))
    assert late.headers_at == 0.0


def test_a_slow_first_byte_delays_the_headers_and_every_chunk() -> None:
    calm = plan(dict(BODY, stream=True))
    late = plan(dict(BODY, stream=True), FaultSpec(fault="slow_first_byte", seconds=4))
    shifted = [b.at - a.at for a, b in zip(calm.events, late.events, strict=True)]
    assert shifted == pytest.approx([4.0] * len(shifted))
    assert late.headers_at == 4.0


def chunks_of(planned: StreamPlan) -> list[dict[str, Any]]:
    return [json.loads(e.data[6:]) for e in planned.events if e.data.startswith(b"data: {")]


def test_a_reply_with_no_limit_named_stops_at_the_models_16384_tokens() -> None:
    long = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Count to 10000"}]}
    chunks = chunks_of(plan(dict(long, stream=True, stream_options={"include_usage": True})))
    texts = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert sum(1 for text in texts[1:] if text) == 16_384
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 16_384


def test_many_choices_share_the_requests_32768_tokens() -> None:
    body = {
        "model": "gpt-4o-mini", "n": 8, "stream": True,
        "messages": [{"role": "user", "content": "Count to 10000"}],
        "stream_options": {"include_usage": True},
    }
    chunks = chunks_of(plan(body))
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes.count("length") == 8
    assert chunks[-1]["usage"]["completion_tokens"] == 32_768


def test_a_streams_events_are_made_as_they_are_taken() -> None:
    """The first chunk of a 16,384-token stream is ready without the rest being made, and
    going through all of them never holds more than a few of them at once."""
    long = {"model": "gpt-4o-mini", "stream": True,
            "messages": [{"role": "user", "content": "Count to 10000"}]}
    planned = plan(long)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        first = next(iter(planned.events))
        first_after = time.perf_counter() - started
        for _ in planned.events:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first.data.startswith(b"data: {")
    assert first_after < 0.05
    # All 16,386 chunks together are over 3 MB; one at a time the peak stays small.
    assert peak < 512 * 1024
