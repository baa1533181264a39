"""The framing both APIs share: SSE events, the [DONE] marker, JSON bodies, padding."""

from __future__ import annotations

import json

import pytest

from helpers.server.wire import SSE_DONE, error_body, json_bytes, obfuscation, sse_event


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"a": 1}, b'data: {"a":1}\n\n'),
        ({"text": "caf\u00e9 \u2019"}, 'data: {"text":"caf\u00e9 \u2019"}\n\n'.encode()),
        ({"text": "line\nbreak"}, b'data: {"text":"line\\nbreak"}\n\n'),
        ({"error": {"message": "x", "type": "server_error", "param": None, "code": None}},
         b'data: {"error":{"message":"x","type":"server_error","param":null,"code":null}}\n\n'),
    ],
)
def test_sse_event_bytes(data: dict[str, object], expected: bytes) -> None:
    assert sse_event(data) == expected


def test_done_marker_bytes() -> None:
    assert SSE_DONE == b"data: [DONE]\n\n"


@pytest.mark.parametrize(
    ("content", "padded_to"),
    [("Hi", 4), (" How", 4), (" help", 20), (" brainstorming", 20), ("x" * 20, 20), ("x" * 21, 36)],
)
def test_obfuscation_pads_content_like_openai(content: str, padded_to: int) -> None:
    # The recorded OpenAI stream pads "Hi" with 2 characters, " help" with 15, " How" with none.
    padding = obfuscation(content, key="k")
    assert len(content) + len(padding) == padded_to
    assert padding.isalnum() or padding == ""


def test_obfuscation_without_content_has_1_to_15_characters() -> None:
    lengths = {len(obfuscation("", key=str(i))) for i in range(200)}
    assert min(lengths) == 1
    assert max(lengths) == 15


def test_json_bytes_is_utf8_and_pretty() -> None:
    data = json_bytes(error_body("caf\u00e9", "invalid_request_error", "messages", "empty_array"))
    assert data.endswith(b"}\n")
    assert "caf\u00e9".encode() in data
    assert json.loads(data) == {
        "error": {
            "message": "caf\u00e9", "type": "invalid_request_error", "param": "messages",
            "code": "empty_array",
        }
    }
