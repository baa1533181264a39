"""The pure Responses builders: exact SSE bytes, event order and timing, failure events."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.server.responses_request import validate_responses_request
from helpers.server.responses_wire import (
    ResponseHeader,
    failed_events,
    final_response,
    response_events,
    response_usage,
    typed_sse_event,
)


def header(**request: object) -> ResponseHeader:
    checked = validate_responses_request({"model": "gpt-4o-mini", "input": "hi", **request})
    return ResponseHeader("resp_1", "msg_1", 1_700_000_000, checked)


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        ({"type": "error", "sequence_number": 3},
         b'event: error\ndata: {"type":"error","sequence_number":3}\n\n'),
        ({"type": "response.output_text.delta", "delta": "caf\u00e9 \u2713"},
         'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
         '"delta":"caf\u00e9 \u2713"}\n\n'.encode()),
    ],
)
def test_typed_sse_event_bytes(event: dict[str, object], wire: bytes) -> None:
    assert typed_sse_event(event) == wire


def made(
    header: ResponseHeader,
    tokens: list[str],
    complete: bool,
    offsets: list[float],
    input_tokens: int,
) -> list[tuple[float, dict[str, Any]]]:
    """Every event of a response whose tokens are due at `offsets`."""
    timed = response_events(
        header, zip(offsets, tokens, strict=False), first=offsets[0],
        input_tokens=input_tokens, complete=lambda: complete,
    )
    return list(timed)


def test_events_are_numbered_and_timed_from_the_token_schedule() -> None:
    timed = made(header(), ["Hi", "!"], True, [0.5, 0.7], 9)
    assert [at for at, _ in timed] == [0.0, 0.0, 0.5, 0.5, 0.5, 0.7, 0.7, 0.7, 0.7, 0.7]
    assert [event["sequence_number"] for _, event in timed] == list(range(10))
    assert [event["delta"] for _, event in timed[4:6]] == ["Hi", "!"]
    final = timed[-1][1]["response"]
    assert final == final_response(header(), ["Hi", "!"], True, 0.7, response_usage(9, 2))
    assert final["completed_at"] == 1_700_000_001 and final["usage"]["total_tokens"] == 11


def test_an_empty_reply_still_opens_and_closes_its_message() -> None:
    timed = made(header(), [], True, [0.2], 9)
    kinds = [event["type"] for _, event in timed]
    assert "response.output_text.delta" not in kinds and len(kinds) == 8
    assert timed[-1][1]["response"]["output"][0]["content"][0]["text"] == ""


def test_a_cut_reply_ends_incomplete_and_a_failure_ends_failed() -> None:
    cut = made(header(max_output_tokens=16), ["a"], False, [0.1], 9)
    ending = cut[-1][1]
    assert ending["type"] == "response.incomplete"
    assert ending["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert ending["response"]["completed_at"] is None
    error, failed = failed_events(header(), 6, "boom")
    assert (error["type"], error["sequence_number"], error["message"]) == ("error", 6, "boom")
    assert failed["sequence_number"] == 7
    assert failed["response"]["error"] == {"code": "server_error", "message": "boom"}


def test_obfuscation_follows_stream_options_and_echoes_follow_the_request() -> None:
    plain = made(header(stream=True), ["x"], True, [0.0], 1)
    bare = made(
        header(stream=True, stream_options={"include_obfuscation": False}, user="u", top_p=0.5),
        ["x"], True, [0.0], 1)
    assert "obfuscation" in plain[4][1] and "obfuscation" not in bare[4][1]
    assert "user" not in plain[-1][1]["response"]
    assert (bare[-1][1]["response"]["user"], bare[-1][1]["response"]["top_p"]) == ("u", 0.5)
