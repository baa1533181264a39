"""Pure builders for the Responses API wire format: response objects and typed stream events.

A streamed response is a sequence of typed events, each framed `event: <type>` + `data: <json>`
and numbered by `sequence_number`, with no `[DONE]`: created, in_progress, output_item.added,
content_part.added, one output_text.delta per token, output_text.done, content_part.done,
output_item.done, then completed (or incomplete when `max_output_tokens` cut the reply).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from helpers.server.responses_request import ResponsesRequest
from helpers.server.wire import JSON, SERVICE_TIER, obfuscation, to_json

__all__ = [
    "ResponseHeader",
    "failed_events",
    "final_response",
    "response_body",
    "response_events",
    "response_usage",
    "typed_sse_event",
]

Status = Literal["in_progress", "completed", "incomplete", "failed"]
TimedEvent = tuple[float, JSON]
# Fields the spec lets be null. The others (`usage`, `user`) OpenAI sends as null while they
# have no value, and the spec does not allow that: this simulation leaves them out instead.
_NULLABLE = frozenset({
    "completed_at", "error", "incomplete_details", "instructions", "max_output_tokens",
    "max_tool_calls", "previous_response_id", "prompt_cache_key", "safety_identifier",
})


@dataclass(frozen=True)
class ResponseHeader:
    """What every event of one response repeats: ids, creation time, and the checked request."""

    id: str
    message_id: str
    created_at: int
    request: ResponsesRequest


def typed_sse_event(event: JSON) -> bytes:
    """One server-sent event named by its type: `event:` and `data:` lines and a blank line."""
    assert isinstance(event.get("type"), str), "a Responses event always has a type"
    return f"event: {event['type']}\ndata: {to_json(event)}\n\n".encode()


def response_usage(input_tokens: int, output_tokens: int) -> JSON:
    """`usage` as the Responses API reports it: input and output tokens, details all zero."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def response_body(
    header: ResponseHeader,
    status: Status,
    output: Sequence[JSON] = (),
    usage: JSON | None = None,
    *,
    completed_at: float | None = None,
    error: JSON | None = None,
) -> JSON:
    """The `response` object in a given state; the non-streamed answer is its final state."""
    request = header.request
    echo = request.echo
    incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
    body: JSON = {
        "id": header.id,
        "object": "response",
        "created_at": header.created_at,
        "status": status,
        "background": False,
        "completed_at": completed_at,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "max_tool_calls": None,
        "model": request.model,
        "output": list(output),
        "parallel_tool_calls": True,
        "previous_response_id": echo.get("previous_response_id"),
        "prompt_cache_key": echo.get("prompt_cache_key"),
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": echo.get("safety_identifier"),
        "service_tier": SERVICE_TIER,
        "store": echo.get("store") is not False,
        "temperature": _or(echo.get("temperature"), 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": _or(echo.get("top_p"), 1.0),
        "truncation": "disabled",
        "usage": usage,
        "user": echo.get("user"),
        "metadata": echo.get("metadata") or {},
    }
    return {key: value for key, value in body.items() if value is not None or key in _NULLABLE}


def _or(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) else default


def _text_part(text: str) -> JSON:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _message(header: ResponseHeader, status: Status, parts: Sequence[JSON]) -> JSON:
    return {
        "id": header.message_id,
        "type": "message",
        "status": status,
        "content": list(parts),
        "role": "assistant",
    }


def response_events(
    header: ResponseHeader,
    timed_tokens: Iterable[tuple[float, str]],
    *,
    first: float,
    input_tokens: int,
    complete: Callable[[], bool],
) -> Iterator[TimedEvent]:
    """Every event of a streamed response with the seconds after the request it is due, made
    as the tokens come.

    The response is announced at once (difference 12 in helpers.server.app) and the output
    message at `first`, when the first token is ready. Once the tokens are over, `complete()`
    says whether the reply ended by itself (False: `max_output_tokens` cut it).
    """
    sequence = itertools.count()
    ids = {"item_id": header.message_id, "output_index": 0, "content_index": 0}

    def event(at: float, kind: str, **fields: object) -> TimedEvent:
        return at, {"type": kind, "sequence_number": next(sequence), **fields}

    yield event(0.0, "response.created", response=response_body(header, "in_progress"))
    yield event(0.0, "response.in_progress", response=response_body(header, "in_progress"))
    yield event(first, "response.output_item.added", output_index=0,
                item=_message(header, "in_progress", []))
    yield event(first, "response.content_part.added", **ids, part=_text_part(""))
    pieces: list[str] = []
    last = first
    for last, token in timed_tokens:
        pieces.append(token)
        at, delta = event(last, "response.output_text.delta", **ids, delta=token, logprobs=[])
        if header.request.include_obfuscation:
            delta["obfuscation"] = obfuscation(
                token, key=f"{header.id}:{delta['sequence_number']}"
            )
        yield at, delta
    text = "".join(pieces)
    yield event(last, "response.output_text.done", **ids, text=text, logprobs=[])
    yield event(last, "response.content_part.done", **ids, part=_text_part(text))
    usage = response_usage(input_tokens, len(pieces))
    final = final_response(header, pieces, complete(), last, usage)
    yield event(last, "response.output_item.done", output_index=0, item=final["output"][0])
    yield event(last, f"response.{final['status']}", response=final)


def final_response(
    header: ResponseHeader, tokens: Sequence[str], complete: bool, last: float, usage: JSON
) -> JSON:
    """The non-streamed answer: the response as its last stream event would carry it."""
    ending: Status = "completed" if complete else "incomplete"
    item = _message(header, ending, [_text_part("".join(tokens))])
    at = _completed_at(header, last) if complete else None
    return response_body(header, ending, [item], usage, completed_at=at)


def failed_events(header: ResponseHeader, sequence_number: int, message: str) -> list[JSON]:
    """How a stream that fails after its 200 status ends: an `error` event, then
    `response.failed` carrying the same error (the Python client raises on neither)."""
    error = {"code": "server_error", "message": message}
    return [
        {
            "type": "error",
            "sequence_number": sequence_number,
            "code": "server_error",
            "message": message,
            "param": None,
        },
        {
            "type": "response.failed",
            "sequence_number": sequence_number + 1,
            "response": response_body(header, "failed", error=error),
        },
    ]


def _completed_at(header: ResponseHeader, last: float) -> int:
    return header.created_at + round(last)

