"""The pure planner: from a checked request to every byte of its answer and when each is due.

No clock and no I/O: the same request gives the same replies, ids, `created`, chunks and
schedule (difference 2 in helpers.server.app), with the requested fault applied.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helpers.server.chat_request import ChatRequest
from helpers.server.chat_wire import (
    ChunkHeader,
    ContentChunks,
    completion_body,
    role_delta,
    stream_choice,
    stream_chunk,
    usage_body,
)
from helpers.server.faults import FaultSpec, stream_error_body
from helpers.server.model import SIMULATED_MODEL, WORDINGS, FinishReason, Reply, generate_reply
from helpers.server.responses_request import ResponsesRequest
from helpers.server.responses_wire import (
    ResponseHeader,
    failed_events,
    final_response,
    response_events,
    response_usage,
    typed_sse_event,
)
from helpers.server.timing import Profile, iter_schedule
from helpers.server.tokens import count_prompt_tokens, iter_tokens
from helpers.server.wire import JSON, SSE_DONE, json_bytes, sse_event

__all__ = [
    "MODEL_CREATED",
    "Completion",
    "Event",
    "Events",
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
    """The answer to one request: what each choice writes, the prompt's tokens, and the seeded
    schedule its token steps follow. Tokens, chunks and times are found as they are needed."""

    header: ChunkHeader
    replies: tuple[Reply, ...]
    prompt_tokens: int
    profile: Profile
    seed: int

    @property
    def steps(self) -> int:
        """Token steps: the longest choice's tokens, and at least one (the role chunk's)."""
        return max(1, *(len(reply.tokens) for reply in self.replies))

    @property
    def offsets(self) -> tuple[float, ...]:
        """When each token step is due, in seconds after the request arrived."""
        return tuple(itertools.islice(self.schedule(), self.steps))

    @property
    def usage(self) -> JSON:
        return usage_body(self.prompt_tokens, sum(len(reply.tokens) for reply in self.replies))

    def schedule(self) -> Iterator[float]:
        return iter_schedule(self.profile, self.seed)


@dataclass(frozen=True)
class Event:
    """Bytes due `at` seconds after the request arrived; `disconnect` drops the connection."""

    at: float
    data: bytes = b""
    disconnect: bool = False


class Events:
    """A stream's events, made one at a time each time they are iterated: a long reply's
    chunks never all exist at once, and its first is ready at once."""

    def __init__(self, make: Callable[[], Iterator[Event]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[Event]:
        return self._make()


@dataclass(frozen=True)
class StreamPlan:
    """A whole streamed response: when the headers go out, then every event in order."""

    headers_at: float
    events: Events
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
    """Decide what each choice writes, the usage's prompt tokens and the seed of its timing."""
    seed = int(key, 16)

    def reply(variant: int) -> Reply:
        return generate_reply(
            request.messages,
            max_tokens=request.max_tokens,
            stop=request.stop,
            variant=variant,
            token_limit=request.token_limit,
        )

    # At temperature 0 every choice is the canonical one; above it they differ, but only in so
    # many wordings, each written once however many choices share it.
    variants = [
        0 if request.temperature == 0 else ((request.seed or 0) + index) % WORDINGS
        for index in range(request.n)
    ]
    written = {variant: reply(variant) for variant in set(variants)}
    replies = tuple(written[variant] for variant in variants)
    header = ChunkHeader(
        id="chatcmpl-" + _base62(seed, 29),
        created=_EPOCH + seed % _YEAR,
        model=request.model,
        system_fingerprint=_SYSTEM_FINGERPRINT,
        include_usage=request.include_usage,
        include_obfuscation=request.include_obfuscation,
    )
    return Completion(header, replies, count_prompt_tokens(request.messages), profile, seed)


def plan_stream(completion: Completion, spec: FaultSpec) -> StreamPlan:
    """Every SSE event of a streamed chat completion, with the requested fault applied."""
    return _with_fault(lambda: _chat_events(completion, spec), spec)


def _chat_events(completion: Completion, spec: FaultSpec) -> Iterator[Event]:
    header = completion.header
    sequence = itertools.count()

    def event(at: float, choices: Sequence[JSON], usage: JSON | None = None) -> Event:
        chunk = stream_chunk(header, choices, sequence=next(sequence), usage=usage)
        return Event(at, sse_event(chunk))

    schedule = completion.schedule()
    at = next(schedule)
    choices = [_TokenStream(reply) for reply in completion.replies]
    texts = [ContentChunks(header, index) for index in range(len(choices))]
    for index in range(len(choices)):
        yield event(at, [stream_choice(index, role_delta())])
    # Difference 7: the choices advance together, one chunk each per token step.
    while True:
        for index, choice in enumerate(choices):
            if choice.ended:
                continue
            token = choice.take()
            if token is not None:
                yield Event(at, texts[index].encode(token, sequence=next(sequence)))
            if choice.exhausted:
                choice.ended = True
                if spec.fault != "no_finish":
                    yield event(at, [stream_choice(index, {}, choice.finish_reason)])
        if all(choice.ended for choice in choices):
            break
        at = next(schedule)
    if header.include_usage:
        sent = sum(choice.sent for choice in choices)
        yield event(at, [], usage_body(completion.prompt_tokens, sent))
    yield Event(at, SSE_DONE)


class _TokenStream:
    """One choice's tokens, taken a step at a time: found as they are taken, at most the reply's
    limit, and it knows when the last one has been taken and why it was the last."""

    def __init__(self, reply: Reply) -> None:
        self._tokens = iter_tokens(reply.written)
        self._limit = reply.limit
        self._next = next(self._tokens, None)
        self.sent = 0
        self.ended = False
        self.finish_reason: FinishReason = "stop"

    @property
    def exhausted(self) -> bool:
        return self._next is None

    def take(self) -> str | None:
        """This step's token; None for a reply with no tokens at all."""
        token = self._next
        if token is not None:
            self.sent += 1
            self._next = next(self._tokens, None)
            if self.sent == self._limit and self._next is not None:
                self.finish_reason, self._next = "length", None
        return token

    def timed(self, schedule: Iterator[float]) -> Iterator[tuple[float, str]]:
        """Every token with the time it is due."""
        while not self.exhausted:
            token = self.take()
            assert token is not None
            yield next(schedule), token


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

    def events() -> Iterator[Event]:
        tokens = _TokenStream(completion.replies[0])
        timed = response_events(
            header,
            tokens.timed(completion.schedule()),
            first=next(completion.schedule()),
            input_tokens=completion.prompt_tokens,
            complete=lambda: tokens.finish_reason == "stop",
        )
        return (Event(at, typed_sse_event(e)) for at, e in timed)

    def failure(cut: int, at: float) -> tuple[Event, ...]:
        message = stream_error_body(cut)["error"]["message"]
        return tuple(Event(at, typed_sse_event(e)) for e in failed_events(header, cut, message))

    return _with_fault(events, spec, failure)


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
    make: Callable[[], Iterator[Event]],
    spec: FaultSpec,
    failure: Callable[[int, float], tuple[Event, ...]] = _chat_failure,
) -> StreamPlan:
    fault, delay = spec.fault, spec.seconds
    if fault == "slow_first_byte":
        return StreamPlan(delay, Events(lambda: (_later(e, delay) for e in make())), True)
    if fault in ("stall", "error_event", "disconnect", "no_done"):
        return StreamPlan(0.0, Events(lambda: _faulted(make(), spec, failure)), True)
    return StreamPlan(0.0, Events(make), fault == "no_finish")


def _faulted(
    events: Iterator[Event], spec: FaultSpec, failure: Callable[[int, float], tuple[Event, ...]]
) -> Iterator[Event]:
    """An in-stream fault: it strikes before event number `after_chunks`, or in place of the
    last event ([DONE], or the final response event) when the stream is shorter."""
    for index, (event, last) in enumerate(_marking_the_last(events)):
        if spec.fault == "no_done":
            if not last:
                yield event
            continue
        if index < spec.after_chunks and not last:
            yield event
        elif spec.fault == "stall":
            yield _later(event, spec.seconds)
        elif spec.fault == "error_event":
            yield from failure(index, event.at)
            return
        else:
            yield Event(event.at, disconnect=True)
            return


def _marking_the_last(events: Iterator[Event]) -> Iterator[tuple[Event, bool]]:
    previous = next(events, None)
    for event in events:
        assert previous is not None
        yield previous, False
        previous = event
    if previous is not None:
        yield previous, True


def _later(event: Event, delay: float) -> Event:
    return dataclasses.replace(event, at=event.at + delay)


def _base62(number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, digit = divmod(number, len(_ID_ALPHABET))
        digits.append(_ID_ALPHABET[digit])
    return "".join(digits)
