"""JSON and SSE framing both APIs share: compact and pretty JSON, `data:` events, error bodies,
and the padding OpenAI adds to streamed events."""

from __future__ import annotations

import hashlib
import json
import math
import string
from collections.abc import Mapping
from typing import Any

__all__ = [
    "JSON",
    "SERVICE_TIER",
    "SSE_DONE",
    "error_body",
    "json_bytes",
    "obfuscation",
    "sse_event",
    "to_json",
]

SSE_DONE = b"data: [DONE]\n\n"
SERVICE_TIER = "default"
_PADDING = string.ascii_letters + string.digits

JSON = dict[str, Any]


def to_json(value: object) -> str:
    """Compact JSON as OpenAI streams it: no spaces, UTF-8 text left unescaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_bytes(value: object) -> bytes:
    """A JSON response body, pretty-printed like OpenAI's non-streamed answers."""
    return (json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode()


def sse_event(data: Mapping[str, object]) -> bytes:
    """One server-sent event: `data: <json>` and a blank line, LF only."""
    return f"data: {to_json(data)}\n\n".encode()


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


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> JSON:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}
