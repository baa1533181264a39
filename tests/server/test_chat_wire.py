from __future__ import annotations

import json

import pytest

from helpers.server.chat_wire import (
    SSE_DONE,
    ChunkHeader,
    completion_body,
    error_body,
    json_bytes,
    obfuscation,
    role_delta,
    sse_event,
    stream_choice,
    stream_chunk,
    usage_body,
)

HEADER = ChunkHeader(id="chatcmpl-abc", created=1700000000, model="m", system_fingerprint="fp_1")
PLAIN = ChunkHeader(
    id="chatcmpl-abc", created=1700000000, model="m", system_fingerprint="fp_1",
    include_obfuscation=False,
)
PREFIX = (
    b'data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1700000000,'
    b'"model":"m","service_tier":"default","system_fingerprint":"fp_1",'
)


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
    ("choices", "usage", "include_usage", "tail"),
    [
        ([stream_choice(0, role_delta())], None, False,
         b'"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},'
         b'"finish_reason":null}]}\n\n'),
        ([stream_choice(1, {"content": " 2"})], None, False,
         b'"choices":[{"index":1,"delta":{"content":" 2"},"finish_reason":null}]}\n\n'),
        ([stream_choice(0, {}, "length")], None, True,
         b'"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":null}\n\n'),
        ([], usage_body(1, 2), True,
         b'"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,'
         b'"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
         b'"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
         b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}\n\n'),
    ],
)
def test_chunk_bytes_without_obfuscation(
    choices: list[dict[str, object]], usage: dict[str, object] | None, include_usage: bool,
    tail: bytes,
) -> None:
    header = ChunkHeader(
        id="chatcmpl-abc", created=1700000000, model="m", system_fingerprint="fp_1",
        include_usage=include_usage, include_obfuscation=False,
    )
    assert sse_event(stream_chunk(header, choices, sequence=0, usage=usage)) == PREFIX + tail


def test_obfuscation_is_the_last_key_and_deterministic() -> None:
    chunk = stream_chunk(HEADER, [stream_choice(0, {"content": "Hi"})], sequence=3)
    assert list(chunk)[-1] == "obfuscation"
    assert chunk == stream_chunk(HEADER, [stream_choice(0, {"content": "Hi"})], sequence=3)
    other = stream_chunk(HEADER, [stream_choice(0, {"content": "Hi"})], sequence=4)
    assert other["obfuscation"] != chunk["obfuscation"]
    plain = stream_chunk(PLAIN, [stream_choice(0, {"content": "Hi"})], sequence=3)
    assert "obfuscation" not in plain


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


def test_usage_requires_include_usage() -> None:
    with pytest.raises(AssertionError, match="include_usage"):
        stream_chunk(HEADER, [], sequence=0, usage=usage_body(1, 1))


def test_completion_body() -> None:
    body = completion_body(HEADER, [("Two.", "stop"), ("1, 2", "length")], usage_body(18, 6))
    assert body["object"] == "chat.completion"
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert body["choices"][1]["message"] == {
        "role": "assistant", "content": "1, 2", "refusal": None, "annotations": [],
    }
    assert body["choices"][1]["finish_reason"] == "length"
    assert body["choices"][0]["logprobs"] is None
    assert body["usage"]["total_tokens"] == 24
    assert body["service_tier"] == "default"
    assert body["system_fingerprint"] == "fp_1"


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
