"""The pure planner: from a checked request to every byte of its answer and when each is due.

No clock and no I/O: the same request gives the same replies, ids, `created`, chunks and
schedule (difference 2 in helpers.server.app), with the requested fault applied.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helpers.server.chat_request import ChatRequest
from helpers.server.chat_wire import (
    ChunkHeader,
    completion_body,
    role_delta,
    stream_choice,
    stream_chunk,
    usage_body,
)
from helpers.server.faults import FaultSpec, stream_error_body
from helpers.server.model import SIMULATED_MODEL, Reply, generate_reply
from helpers.server.responses_request import ResponsesRequest
from helpers.server.responses_wire import (
    ResponseHeader,
    failed_events,
    final_response,
    response_events,
    response_usage,
    typed_sse_event,
)
from helpers.server.timing import Profile, chunk_schedule
from helpers.server.tokens import count_prompt_tokens
from helpers.server.wire import JSON, SSE_DONE, json_bytes, sse_event

__all__ = [
    "MODEL_CREATED",
    "Completion",
    "Event",
    "StreamPlan",
    "WholeAnswer",
    "plan_chat_answer",
    "plan_completion",
    "plan_response_stream",
    "plan_responses_answer",
    "plan_stream",
    "request_id",
    "request_key",
    "response_header",
    "usage_in_responses_format",
]

# Difference 2: `created` is this epoch (2025-01-01) plus up to a year derived from the request.
_EPOCH = 1_735_689_600
_YEAR = 365 * 24 * 3600
MODEL_CREATED = _EPOCH
_ID_ALPHABET = string.ascii_letters + string.digits
_SYSTEM_FINGERPRINT = "fp_" + hashlib.sha256(SIMULATED_MODEL.encode()).hexdigest()[:10]
# Faults that delay a stream by `FaultSpec.seconds`, and so a non-streamed answer too.
_DELAYING_FAULTS = ("stall", "slow_first_byte")


@dataclass(frozen=True)
class Completion:
    """The answer to one request: replies per choice, usage, and when each token step is due."""

    header: ChunkHeader
    replies: tuple[Reply, ...]
    usage: JSON
    offsets: tuple[float, ...]


@dataclass(frozen=True)
class Event:
    """Bytes due `at` seconds after the request arrived; `disconnect` drops the connection."""

    at: float
    data: bytes = b""
    disconnect: bool = False


@dataclass(frozen=True)
class StreamPlan:
    """A whole streamed response: when the headers go out, then every event in order."""

    headers_at: float
    events: tuple[Event, ...]
    faulted: bool


@dataclass(frozen=True)
class WholeAnswer:
    """A non-streamed answer: its JSON body, due `at` seconds after the request arrived (when
    the stream would have ended, difference 9); `cut_off` drops it after its headers."""

    at: float
    body: bytes
    cut_off: bool


def request_key(body: Mapping[str, Any]) -> str:
    """A digest of the request, minus its simulation controls: the seed of everything derived."""
    canonical = {name: value for name, value in body.items() if name != "simulation"}
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def request_id(key: str) -> str:
    """The `x-request-id` header of the answer to the request with this key."""
    return f"req_{key[:32]}"


def plan_completion(request: ChatRequest, profile: Profile, key: str) -> Completion:
    """Decide the replies, usage and timing of a request."""
    seed = int(key, 16)
    replies = tuple(
        generate_reply(
            request.messages,
            max_tokens=request.max_tokens,
            stop=request.stop,
            # At temperature 0 every choice is the canonical one; above it they differ.
            variant=0 if request.temperature == 0 else (request.seed or 0) + index,
        )
        for index in range(request.n)
    )
    steps = max(1, *(len(reply.tokens) for reply in replies))
    header = ChunkHeader(
        id="chatcmpl-" + _base62(seed, 29),
        created=_EPOCH + seed % _YEAR,
        model=request.model,
        system_fingerprint=_SYSTEM_FINGERPRINT,
        include_usage=request.include_usage,
        include_obfuscation=request.include_obfuscation,
    )
    usage = usage_body(
        count_prompt_tokens(request.messages), sum(len(reply.tokens) for reply in replies)
    )
    return Completion(header, replies, usage, tuple(chunk_schedule(steps, profile, seed)))


def plan_stream(completion: Completion, spec: FaultSpec) -> StreamPlan:
    """Every SSE event of a streamed chat completion, with the requested fault applied."""
    header, offsets = completion.header, completion.offsets
    chunks: list[tuple[float, JSON]] = []

    def add(at: float, choices: Sequence[JSON], usage: JSON | None = None) -> None:
        chunks.append((at, stream_chunk(header, choices, sequence=len(chunks), usage=usage)))

    for index in range(len(completion.replies)):
        add(offsets[0], [stream_choice(index, role_delta())])
    # Difference 7: the choices advance together, one chunk each per token step.
    for step, at in enumerate(offsets):
        for index, reply in enumerate(completion.replies):
            if step < len(reply.tokens):
                add(at, [stream_choice(index, {"content": reply.tokens[step]})])
            if step == max(len(reply.tokens), 1) - 1 and spec.fault != "no_finish":
                add(at, [stream_choice(index, {}, reply.finish_reason)])
    if header.include_usage:
        add(offsets[-1], [], completion.usage)
    events = [Event(at, sse_event(chunk)) for at, chunk in chunks]
    events.append(Event(offsets[-1], SSE_DONE))
    return _with_fault(events, spec)


def response_header(asked: ResponsesRequest, completion: Completion, key: str) -> ResponseHeader:
    """The ids and creation time of the Responses answer to the request with this key."""
    item_key = hashlib.sha256(f"{key}:message".encode()).hexdigest()
    return ResponseHeader(
        f"resp_{key[:50]}", f"msg_{item_key[:50]}", completion.header.created, asked
    )


def usage_in_responses_format(completion: Completion) -> JSON:
    """The completion's chat usage, counted the same, as the Responses API reports it."""
    usage = completion.usage
    return response_usage(usage["prompt_tokens"], usage["completion_tokens"])


def plan_response_stream(
    header: ResponseHeader, completion: Completion, spec: FaultSpec
) -> StreamPlan:
    """Every typed event of a streamed Responses answer, with the requested fault applied."""
    reply = completion.replies[0]
    usage = usage_in_responses_format(completion)
    timed = response_events(
        header, reply.tokens, reply.finish_reason == "stop", completion.offsets, usage
    )

    def failure(cut: int, at: float) -> tuple[Event, ...]:
        message = stream_error_body(cut)["error"]["message"]
        return tuple(Event(at, typed_sse_event(e)) for e in failed_events(header, cut, message))

    return _with_fault([Event(at, typed_sse_event(e)) for at, e in timed], spec, failure)


def plan_chat_answer(
    chat: ChatRequest, profile: Profile, key: str, spec: FaultSpec
) -> StreamPlan | WholeAnswer:
    """The whole answer to a chat request: its stream, or its `chat.completion`."""
    completion = plan_completion(chat, profile, key)
    if chat.stream:
        return plan_stream(completion, spec)
    choices = [(reply.text, reply.finish_reason) for reply in completion.replies]
    return _whole(completion, spec, completion_body(completion.header, choices, completion.usage))


def plan_responses_answer(
    asked: ResponsesRequest, profile: Profile, key: str, spec: FaultSpec
) -> StreamPlan | WholeAnswer:
    """The whole answer to a Responses request: its event stream, or its final response."""
    completion = plan_completion(asked.chat, profile, key)
    header = response_header(asked, completion, key)
    if asked.stream:
        return plan_response_stream(header, completion, spec)
    reply = completion.replies[0]
    body = final_response(
        header, reply.tokens, reply.finish_reason == "stop", completion.offsets[-1],
        usage_in_responses_format(completion),
    )
    return _whole(completion, spec, body)


def _whole(completion: Completion, spec: FaultSpec, body: JSON) -> WholeAnswer:
    # Difference 9: the whole answer waits for the moment the stream would have ended.
    delay = spec.seconds if spec.fault in _DELAYING_FAULTS else 0.0
    return WholeAnswer(
        completion.offsets[-1] + delay, json_bytes(body), cut_off=spec.fault == "disconnect"
    )


def _chat_failure(cut: int, at: float) -> tuple[Event, ...]:
    return (Event(at, sse_event(stream_error_body(cut))),)


def _with_fault(
    events: list[Event],
    spec: FaultSpec,
    failure: Callable[[int, float], tuple[Event, ...]] = _chat_failure,
) -> StreamPlan:
    fault, delay = spec.fault, spec.seconds
    # An in-stream fault strikes before chunk number `after_chunks`, or in place of [DONE].
    cut = min(spec.after_chunks, len(events) - 1)
    if fault == "slow_first_byte":
        return StreamPlan(delay, tuple(_later(e, delay) for e in events), True)
    if fault == "stall":
        return StreamPlan(0.0, (*events[:cut], *(_later(e, delay) for e in events[cut:])), True)
    if fault == "error_event":
        return StreamPlan(0.0, (*events[:cut], *failure(cut, events[cut].at)), True)
    if fault == "disconnect":
        return StreamPlan(0.0, (*events[:cut], Event(events[cut].at, disconnect=True)), True)
    if fault == "no_done":
        return StreamPlan(0.0, tuple(events[:-1]), True)
    return StreamPlan(0.0, tuple(events), fault == "no_finish")


def _later(event: Event, delay: float) -> Event:
    return dataclasses.replace(event, at=event.at + delay)


def _base62(number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, digit = divmod(number, len(_ID_ALPHABET))
        digits.append(_ID_ALPHABET[digit])
    return "".join(digits)
