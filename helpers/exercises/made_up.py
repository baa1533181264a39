"""Made-up responses and streams for the exercises' test inputs: the shapes OpenAI sends, built
offline from the `openai` client's own types, so a check gives the same verdict on every backend
and learners' code sees exactly what a real stream yields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent, ResponseUsage
from pydantic import TypeAdapter

from helpers.server.responses_request import validate_responses_request
from helpers.server.responses_wire import ResponseHeader, response_events

__all__ = [
    "ChatClient",
    "chunk",
    "response",
    "response_stream",
    "responses_usage",
    "stream",
    "usage",
]


def response(content: str, finish: str = "stop") -> ChatCompletion:
    """A blocking chat response whose reply is `content`, ended for the reason `finish`."""
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-exercise",
            "object": "chat.completion",
            "created": 0,
            "model": "exercise-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish,
                }
            ],
        }
    )


def chunk(
    delta: dict[str, Any] | None, finish: str | None = None, usage: CompletionUsage | None = None
) -> ChatCompletionChunk:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-exercise",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "exercise-model",
            "choices": choices,
            "usage": None if usage is None else usage.model_dump(),
        }
    )


def stream(
    pieces: Sequence[str], usage: CompletionUsage | None = None, usage_on_finish: bool = False
) -> list[ChatCompletionChunk]:
    """A stream as OpenAI sends it: role chunk, one chunk per piece, finish chunk, usage chunk;
    `usage_on_finish` puts the usage on the finish chunk instead, as some engines do."""
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in pieces]
    if usage_on_finish:
        return [*chunks, chunk({}, finish="stop", usage=usage)]
    chunks.append(chunk({}, finish="stop"))
    if usage is not None:
        chunks.append(chunk(None, usage=usage))
    return chunks


class _Stream(list[ChatCompletionChunk]):
    """A made-up stream that, like the client's, can be used in a `with` block."""

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Completions:
    def create(self, *, messages: Sequence[Mapping[str, Any]], **options: Any) -> _Stream:
        if not options.get("stream"):
            raise ValueError("this exercise wants each reply streamed: pass stream=True")
        asked = sum(1 for message in messages if message["role"] == "user")
        plural = "s" if asked > 1 else ""
        return _Stream(stream(["You", " have", " asked", f" {asked}", f" question{plural}."]))


class ChatClient:
    """Stands in for `openai.OpenAI` in a check: `chat.completions.create(..., stream=True)`
    streams a reply that counts the user messages it was sent."""

    def __init__(self) -> None:
        self.chat = SimpleNamespace(completions=_Completions())


def usage(prompt: int, completion: int) -> CompletionUsage:
    """Chat usage with these token counts."""
    return CompletionUsage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


_EVENTS: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)


def response_stream(pieces: Sequence[str], complete: bool = True, ended: bool = True) -> list[Any]:
    """Events of a test response; `complete=False` ends it as cut by max_output_tokens, and
    `ended=False` drops the final event, as when a connection breaks."""
    request = validate_responses_request({"model": "gpt-4o-mini", "input": "exercise"})
    header = ResponseHeader("resp_exercise", "msg_exercise", 0, request)
    timed = response_events(
        header,
        ((0.0, piece) for piece in pieces),
        first=0.0,
        input_tokens=12,
        complete=lambda: complete,
    )
    events = [_EVENTS.validate_python(event) for _, event in timed]
    return events if ended else events[:-1]


def responses_usage(pieces: Sequence[str]) -> ResponseUsage:
    """The usage `response_stream(pieces)` reports, as the client types it."""
    return ResponseUsage.model_validate(
        {
            "input_tokens": 12,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": len(pieces),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 12 + len(pieces),
        }
    )
