"""Pure builders of OpenAI's chat wire format: stream chunks, whole completions, usage."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from helpers.server.wire import JSON, SERVICE_TIER, obfuscation, sse_event

__all__ = [
    "ChunkHeader",
    "ContentChunks",
    "completion_body",
    "role_delta",
    "stream_choice",
    "stream_chunk",
    "usage_body",
]


@dataclass(frozen=True)
class ChunkHeader:
    """What every chunk of one completion repeats, and how the stream was asked for."""

    id: str
    created: int
    model: str
    system_fingerprint: str
    include_usage: bool = False
    include_obfuscation: bool = True


def role_delta() -> JSON:
    return {"role": "assistant", "content": "", "refusal": None}


def stream_choice(index: int, delta: JSON, finish_reason: str | None = None) -> JSON:
    return {"index": index, "delta": delta, "finish_reason": finish_reason}


def stream_chunk(
    header: ChunkHeader,
    choices: Sequence[JSON],
    *,
    sequence: int,
    usage: JSON | None = None,
) -> JSON:
    """One `chat.completion.chunk`; `sequence` (its position in the stream) seeds its padding."""
    assert usage is None or header.include_usage, "usage is only sent when include_usage is set"
    chunk: JSON = {
        "id": header.id,
        "object": "chat.completion.chunk",
        "created": header.created,
        "model": header.model,
        "service_tier": SERVICE_TIER,
        "system_fingerprint": header.system_fingerprint,
        "choices": list(choices),
    }
    if header.include_usage:
        chunk["usage"] = usage
    if header.include_obfuscation:
        content = "".join(choice["delta"].get("content") or "" for choice in choices)
        chunk["obfuscation"] = obfuscation(content, key=f"{header.id}:{sequence}")
    return chunk


# json's own string encoder, without dumps()'s per-call set-up: what to_json writes for a str.
_json_string: Callable[[str], str] = json.encoder.encode_basestring


class ContentChunks:
    """The SSE events of one choice's text chunks, made from a template: byte for byte
    `sse_event(stream_chunk(header, [stream_choice(index, {"content": token})], ...))`, at a
    fraction of its cost, since a stream is mostly such chunks."""

    _MARK = "\x00token\x00"

    def __init__(self, header: ChunkHeader, index: int) -> None:
        self._header = header
        # The chunk with a stand-in token, unpadded, cut around the stand-in.
        plain = ChunkHeader(header.id, header.created, header.model, header.system_fingerprint,
                            header.include_usage, include_obfuscation=False)
        choice = stream_choice(index, {"content": self._MARK})
        event = sse_event(stream_chunk(plain, [choice], sequence=0)).decode()
        before, after = event.split(json.dumps(self._MARK), 1)
        self._before = before
        # `after` ends with `}\n\n`; the padding, when asked for, goes just before it.
        self._after = after[: -len("}\n\n")]

    def encode(self, token: str, *, sequence: int) -> bytes:
        """The event of a chunk carrying `token`, at position `sequence` in the stream."""
        end = "}\n\n"
        if self._header.include_obfuscation:
            # The padding is letters and digits: nothing in it needs escaping.
            padding = obfuscation(token, key=f"{self._header.id}:{sequence}")
            end = f',"obfuscation":"{padding}"' + end
        return f"{self._before}{_json_string(token)}{self._after}{end}".encode()


def usage_body(prompt_tokens: int, completion_tokens: int) -> JSON:
    """`usage` with the detail objects OpenAI fills in, all zero here."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion_body(
    header: ChunkHeader, choices: Sequence[tuple[str, str]], usage: JSON
) -> JSON:
    """A whole `chat.completion` from (text, finish_reason) per choice."""
    return {
        "id": header.id,
        "object": "chat.completion",
        "created": header.created,
        "model": header.model,
        "choices": [
            {
                "index": index,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": finish_reason,
            }
            for index, (text, finish_reason) in enumerate(choices)
        ],
        "usage": usage,
        "service_tier": SERVICE_TIER,
        "system_fingerprint": header.system_fingerprint,
    }
