"""Pure encoders for OpenAI's chat wire format: chunk, completion and error bodies, SSE bytes."""

from __future__ import annotations

import hashlib
import json
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SERVICE_TIER",
    "SSE_DONE",
    "ChunkHeader",
    "completion_body",
    "error_body",
    "json_bytes",
    "obfuscation",
    "role_delta",
    "sse_event",
    "stream_choice",
    "stream_chunk",
    "to_json",
    "usage_body",
]

SSE_DONE = b"data: [DONE]\n\n"
SERVICE_TIER = "default"
_PADDING = string.ascii_letters + string.digits

JSON = dict[str, Any]


@dataclass(frozen=True)
class ChunkHeader:
    """What every chunk of one completion repeats, and how the stream was asked for."""

    id: str
    created: int
    model: str
    system_fingerprint: str
    include_usage: bool = False
    include_obfuscation: bool = True


def to_json(value: object) -> str:
    """Compact JSON as OpenAI streams it: no spaces, UTF-8 text left unescaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_bytes(value: object) -> bytes:
    """A JSON response body, pretty-printed like OpenAI's non-streamed answers."""
    return (json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode()


def sse_event(data: Mapping[str, object]) -> bytes:
    """One server-sent event: `data: <json>` and a blank line, LF only."""
    return f"data: {to_json(data)}\n\n".encode()


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


def obfuscation(content: str, *, key: str) -> str:
    """Deterministic padding shaped like OpenAI's: text of up to 4 characters is padded to 4,
    longer text to 20 (then in steps of 16); chunks without text get 1 to 15 characters."""
    # A hash, not a seeded RNG: this runs once per chunk and must stay cheap.
    digest = hashlib.blake2b(key.encode(), digest_size=32).digest()
    if content:
        target = 4 if len(content) <= 4 else 20 + 16 * math.ceil(max(0, len(content) - 20) / 16)
        length = target - len(content)
    else:
        length = 1 + digest[0] % 15
    return "".join(_PADDING[byte % len(_PADDING)] for byte in digest[1 : 1 + length])


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


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> JSON:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}
