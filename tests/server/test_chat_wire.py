from __future__ import annotations

import pytest

from helpers.server.chat_wire import (
    ChunkHeader,
    ContentChunks,
    completion_body,
    role_delta,
    stream_choice,
    stream_chunk,
    usage_body,
)
from helpers.server.wire import sse_event

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


@pytest.mark.parametrize("usage", [False, True])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("index", [0, 3])
def test_content_chunks_from_the_template_equal_the_built_ones(
    usage: bool, padded: bool, index: int
) -> None:
    header = ChunkHeader("chatcmpl-x1", 1_735_689_600, "gpt-4o-mini-sim", "fp_0123456789",
                         include_usage=usage, include_obfuscation=padded)
    chunks = ContentChunks(header, index)
    tokens = ["1", ",", " ", "Hello", ' "q"', "\\", "\n", "é", "\u2028", "🙂", "\x00", "a" * 40, ""]
    for sequence, token in enumerate(tokens, start=5):
        built = sse_event(
            stream_chunk(header, [stream_choice(index, {"content": token})], sequence=sequence)
        )
        assert chunks.encode(token, sequence=sequence) == built
