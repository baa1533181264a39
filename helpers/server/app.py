"""The simulated OpenAI chat API as a Starlette app.

Where the simulation deliberately differs from OpenAI's service:

1. Replies come from a rule-based model (helpers.server.model), not a language model: it counts,
   does simple arithmetic and repeats text; anything else gets a reply saying it is simulated.
2. Everything is a function of the request: the same body gives the same text, chunks, timing,
   `id` and `created` (derived from the request, not the clock) so replayed outputs match.
3. Parameters the simulation cannot honour (tools, logprobs, response_format, audio, user,
   metadata, ...) are type-checked, then ignored: no tool calls, `logprobs` is always null.
4. Given both `max_tokens` and `max_completion_tokens`, the smaller one applies.
5. Token counts come from o200k pre-tokenization plus a long-word rule (helpers.server.tokens), not
   the real vocabulary; a non-text content part counts a flat 85 tokens.
6. The `simulation` body field and the `X-Simulation` header pick a latency profile and inject
   faults; OpenAI would reject the field.
7. With `n` > 1 the choices advance in lockstep, one chunk per choice per token step.
8. A bearer token is checked only when the server was started with one; otherwise any key works.
9. A non-streamed answer takes as long as the stream would have.
10. Request bodies over `ServerConfig.max_body_bytes` (1 MiB) are refused with 413, and a body
    that does not arrive within `ServerConfig.body_seconds` with 408.
11. Beyond `ServerConfig.max_streams` completions at once (streamed or not) a request gets a 429
    with `Retry-After`, as from OpenAI's rate limits; those count per minute and organisation,
    this counts what is open right now, so that a full room cannot exhaust the server.
12. `/v1/responses` answers with the same model, tokens and timing as chat: its input items
    become chat messages (`instructions` a system message), so usage counts tokens as chat
    does; `response.created` and `response.in_progress` leave at once, the output message when
    its first token is due. Only message input items are read, and the `no_finish` fault (about
    chat's `finish_reason`) does not apply.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import string
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from helpers.server.chat_request import (
    ChatRequest,
    OpenAIError,
    parse_json_body,
    validate_chat_request,
)
from helpers.server.chat_wire import (
    JSON,
    SSE_DONE,
    ChunkHeader,
    completion_body,
    error_body,
    json_bytes,
    role_delta,
    sse_event,
    stream_choice,
    stream_chunk,
    usage_body,
)
from helpers.server.faults import (
    SIMULATION_HEADER,
    STREAM_ONLY_FAULTS,
    FaultSpec,
    SimulatedDisconnect,
    http_fault_error,
    parse_faults,
    stream_error_body,
)
from helpers.server.model import SIMULATED_MODEL, Reply, canonical_model, generate_reply
from helpers.server.responses_request import ResponsesRequest, validate_responses_request
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

__all__ = [
    "ARRIVAL_STATE",
    "Completion",
    "Event",
    "ServerConfig",
    "ServerStats",
    "StatsCounter",
    "StreamGate",
    "StreamPlan",
    "StreamSlots",
    "create_app",
    "plan_completion",
    "plan_response_stream",
    "plan_stream",
    "request_key",
]

# Difference 2: `created` is this epoch (2025-01-01) plus up to a year derived from the request.
_EPOCH = 1_735_689_600
_YEAR = 365 * 24 * 3600
_MODEL_CREATED = _EPOCH
_ID_ALPHABET = string.ascii_letters + string.digits
_SYSTEM_FINGERPRINT = "fp_" + hashlib.sha256(SIMULATED_MODEL.encode()).hexdigest()[:10]
_EVENT_STREAM = "text/event-stream; charset=utf-8"
# Where the HTTP layer may note, in the request's scope state, when the request arrived (event-loop
# time); the schedule counts from then, so requests queued behind others' handlers in a burst
# still get their first tokens on time. Without it, the handler's start is used.
ARRIVAL_STATE = "streaming_lab.arrived"
# At most this many events share one write, so a huge instant stream still notices a disconnect.
_MAX_BATCH = 256


@dataclass(frozen=True)
class ServerConfig:
    """How one server instance behaves: its bearer token, default latency profile, body limit."""

    # Kept out of the repr: a printed config or a traceback must not show it.
    token: str | None = dataclasses.field(default=None, repr=False)
    profile: Profile = "realistic"
    max_body_bytes: int = 1 << 20
    body_seconds: float = 30.0
    """How long a request body may take to arrive (difference 10)."""
    max_streams: int = 200
    """Completions answered at once, streamed or not (difference 11)."""
    retry_after: int = 1
    """Seconds a client refused for being one too many is told to wait."""


@dataclass(frozen=True)
class ServerStats:
    """Counters since the server started: chat requests, those refused because the server was
    full, and streams by how they ended."""

    requests: int = 0
    rejected: int = 0
    active: int = 0
    completed: int = 0
    client_closed: int = 0
    faulted: int = 0
    chunks_sent: int = 0


Outcome = Literal["completed", "client_closed", "faulted"]
# A checked request of either API the server answers.
_Asked = TypeVar("_Asked", ChatRequest, ResponsesRequest)


class StatsCounter:
    """The live counters; the server's event loop updates them, any thread may snapshot them."""

    def __init__(self) -> None:
        self._counts = {field.name: 0 for field in dataclasses.fields(ServerStats)}

    def add(self, name: str, amount: int = 1) -> None:
        assert name in self._counts, f"no counter named {name!r}"
        self._counts[name] += amount

    def snapshot(self) -> ServerStats:
        return ServerStats(**self._counts)


class StreamGate:
    """Lets a stopping server finish open responses at once: their remaining waits are skipped."""

    def __init__(self) -> None:
        self._closing: anyio.Event | None = None
        self._closed = False

    async def wait_until(self, deadline: float) -> None:
        """Sleep until `deadline` (event-loop time) unless the server starts stopping first."""
        if self.is_due(deadline):
            # Still yield, so a client's disconnect is noticed even when nothing waits.
            await anyio.lowlevel.checkpoint()
            return
        if self._closing is None:
            self._closing = anyio.Event()
        with anyio.move_on_after(deadline - anyio.current_time()):
            await self._closing.wait()

    def is_due(self, deadline: float) -> bool:
        return self._closed or deadline <= anyio.current_time()

    def close(self) -> None:
        """Called on the server's event loop when it begins to shut down."""
        self._closed = True
        if self._closing is not None:
            self._closing.set()


class StreamSlots:
    """Counts the completions being answered and refuses one beyond `limit` (difference 11)."""

    def __init__(self, limit: int, retry_after: int) -> None:
        assert limit >= 1, "a server answers at least one request at a time"
        self.limit = limit
        self.open = 0
        self._retry_after = retry_after

    def take(self) -> _Slot:
        """A slot to release when the answer is over, or the 429 that says to come back."""
        if self.open >= self.limit:
            wait = self._retry_after
            raise OpenAIError(
                429,
                f"The server is busy: it is answering {self.limit} requests, the most it takes at "
                f"once. Please try again in {wait}s.",
                type="requests",
                code="rate_limit_exceeded",
                headers={"retry-after": str(wait), "retry-after-ms": str(wait * 1000)},
            )
        self.open += 1
        return _Slot(self)


class _Slot:
    def __init__(self, slots: StreamSlots) -> None:
        self._slots: StreamSlots | None = slots

    def release(self) -> None:
        """Give the slot back; later calls do nothing."""
        if self._slots is not None:
            self._slots.open -= 1
            self._slots = None


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


def request_key(body: Mapping[str, Any]) -> str:
    """A digest of the request, minus its simulation controls: the seed of everything derived."""
    canonical = {name: value for name, value in body.items() if name != "simulation"}
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def plan_completion(request: ChatRequest, profile: Profile, key: str) -> Completion:
    """Decide the replies, usage and timing of a request (pure: no clock, no I/O)."""
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
    """Every SSE event of a streamed completion, with the requested fault applied."""
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


def plan_response_stream(
    header: ResponseHeader, completion: Completion, spec: FaultSpec
) -> StreamPlan:
    """Every typed event of a streamed Responses answer, with the requested fault applied."""
    reply = completion.replies[0]
    usage = _response_usage(completion)
    timed = response_events(
        header, reply.tokens, reply.finish_reason == "stop", completion.offsets, usage
    )

    def failure(cut: int, at: float) -> tuple[Event, ...]:
        message = stream_error_body(cut)["error"]["message"]
        return tuple(Event(at, typed_sse_event(e)) for e in failed_events(header, cut, message))

    return _with_fault([Event(at, typed_sse_event(e)) for at, e in timed], spec, failure)


def _response_usage(completion: Completion) -> JSON:
    usage = completion.usage
    return response_usage(usage["prompt_tokens"], usage["completion_tokens"])


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


def create_app(
    config: ServerConfig, stats: StatsCounter | None = None, gate: StreamGate | None = None
) -> Starlette:
    """The ASGI app: /v1/chat/completions, /v1/responses, /v1/models, /health; errors in
    OpenAI's format."""
    api = _Api(config, stats or StatsCounter(), gate or StreamGate())
    return Starlette(
        routes=[
            Route("/v1/chat/completions", api.chat_completions, methods=["POST"]),
            Route("/v1/responses", api.responses, methods=["POST"]),
            Route("/v1/models", api.list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", api.retrieve_model, methods=["GET"]),
            Route("/health", api.health, methods=["GET"]),
        ],
        exception_handlers={OpenAIError: _openai_error, HTTPException: _http_error},
    )


class _Api:
    def __init__(self, config: ServerConfig, stats: StatsCounter, gate: StreamGate) -> None:
        self._config = config
        self._stats = stats
        self._gate = gate
        self._slots = StreamSlots(config.max_streams, config.retry_after)

    async def chat_completions(self, request: Request) -> Response:
        return await self._answer(request, validate_chat_request, self._complete)

    async def responses(self, request: Request) -> Response:
        return await self._answer(request, validate_responses_request, self._create_response)

    async def _answer(
        self,
        request: Request,
        validate: Callable[[object], _Asked],
        complete: Callable[
            [_Asked, Mapping[str, Any], FaultSpec, float, _Slot], Awaitable[Response]
        ],
    ) -> Response:
        """What both APIs share: token, body, validation, faults and a slot, then `complete`."""
        arrived = request.scope.get("state", {}).get(ARRIVAL_STATE) or anyio.current_time()
        self._check_token(request)
        self._stats.add("requests")
        with anyio.move_on_after(self._config.body_seconds) as reading:
            raw = await _read_body(request, self._config.max_body_bytes)
        if reading.cancelled_caught:
            raise OpenAIError(
                408,
                f"The request body did not arrive within {self._config.body_seconds:g} seconds.",
                code="request_timeout",
            )
        body = parse_json_body(raw)
        asked = validate(body)
        assert isinstance(body, dict)
        spec = parse_faults(asked.simulation, request.headers.get(SIMULATION_HEADER))
        error = http_fault_error(spec, asked.model)
        if error is not None:
            raise error
        if not asked.stream and spec.fault in STREAM_ONLY_FAULTS:
            raise OpenAIError(
                400,
                f"The simulated fault '{spec.fault}' only happens in a stream; set stream to true.",
                param="simulation.fault",
                code="invalid_value",
            )
        try:
            slot = self._slots.take()
        except OpenAIError:
            self._stats.add("rejected")
            raise
        try:
            response = await complete(asked, body, spec, arrived, slot)
        except BaseException:
            slot.release()
            raise
        if not isinstance(response, _EventStream):
            slot.release()
        return response

    async def _complete(
        self, chat: ChatRequest, body: Mapping[str, Any], spec: FaultSpec, arrived: float,
        slot: _Slot,
    ) -> Response:
        key = request_key(body)
        profile = spec.profile or self._config.profile
        # Planning a long reply takes a while; a worker thread keeps other streams flowing.
        completion = await anyio.to_thread.run_sync(plan_completion, chat, profile, key)
        headers = {"x-request-id": f"req_{key[:32]}"}
        if chat.stream:
            plan = await anyio.to_thread.run_sync(plan_stream, completion, spec)
            return _EventStream(plan, arrived, self._stats, self._gate, headers, slot)
        # Difference 9: the whole answer waits for the moment the stream would have ended.
        delay = spec.seconds if spec.fault in ("stall", "slow_first_byte") else 0.0
        await self._gate.wait_until(arrived + completion.offsets[-1] + delay)
        choices = [(reply.text, reply.finish_reason) for reply in completion.replies]
        content = json_bytes(completion_body(completion.header, choices, completion.usage))
        if spec.fault == "disconnect":
            return _Aborted(len(content))
        return Response(content, media_type="application/json", headers=headers)

    async def _create_response(
        self, asked: ResponsesRequest, body: Mapping[str, Any], spec: FaultSpec, arrived: float,
        slot: _Slot,
    ) -> Response:
        if spec.fault == "no_finish":  # difference 12
            raise OpenAIError(
                400,
                "The simulated fault 'no_finish' concerns chat chunks' finish_reason, which the "
                "Responses API does not have; 'no_done' ends a stream without response.completed.",
                param="simulation.fault",
                code="invalid_value",
            )
        key = request_key(body)
        profile = spec.profile or self._config.profile
        completion = await anyio.to_thread.run_sync(plan_completion, asked.chat, profile, key)
        item_key = hashlib.sha256(f"{key}:message".encode()).hexdigest()
        header = ResponseHeader(
            f"resp_{key[:50]}", f"msg_{item_key[:50]}", completion.header.created, asked
        )
        headers = {"x-request-id": f"req_{key[:32]}"}
        if asked.stream:
            plan = await anyio.to_thread.run_sync(plan_response_stream, header, completion, spec)
            return _EventStream(plan, arrived, self._stats, self._gate, headers, slot)
        # Difference 9, as for chat.
        delay = spec.seconds if spec.fault in ("stall", "slow_first_byte") else 0.0
        await self._gate.wait_until(arrived + completion.offsets[-1] + delay)
        reply = completion.replies[0]
        answer = final_response(
            header, reply.tokens, reply.finish_reason == "stop", completion.offsets[-1],
            _response_usage(completion),
        )
        content = json_bytes(answer)
        if spec.fault == "disconnect":
            return _Aborted(len(content))
        return Response(content, media_type="application/json", headers=headers)

    async def list_models(self, request: Request) -> Response:
        self._check_token(request)
        body = json_bytes({"object": "list", "data": [_model_card()]})
        return Response(body, media_type="application/json")

    async def retrieve_model(self, request: Request) -> Response:
        self._check_token(request)
        name = request.path_params["model"]
        if canonical_model(name) != name:
            raise OpenAIError(
                404,
                f"The model '{name}' does not exist",
                param="model",
                code="model_not_found",
            )
        return Response(json_bytes(_model_card()), media_type="application/json")

    async def health(self, request: Request) -> Response:
        stats = dataclasses.asdict(self._stats.snapshot())
        body = {
            "status": "ok",
            "simulated": True,
            "model": SIMULATED_MODEL,
            "profile": self._config.profile,
            "requests": stats.pop("requests"),
            "rejected": stats.pop("rejected"),
            "streams": stats,
            # Every open connection and stream holds a task: a count that only grows is a leak.
            "tasks": len(asyncio.all_tasks()),
        }
        return Response(json_bytes(body), media_type="application/json")

    def _check_token(self, request: Request) -> None:
        expected = self._config.token
        if expected is None:  # difference 8
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise OpenAIError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise OpenAIError(
                401,
                "Incorrect API key provided. This server expects the token it was started with.",
                code="invalid_api_key",
            )


class _EventStream(Response):
    """Sends a StreamPlan on time and stops as soon as the client goes away."""

    def __init__(
        self,
        plan: StreamPlan,
        arrived: float,
        stats: StatsCounter,
        gate: StreamGate,
        headers: Mapping[str, str],
        slot: _Slot,
    ) -> None:
        self.status_code = 200
        self.media_type = _EVENT_STREAM
        self.background = None
        self.init_headers(headers)
        self._plan = plan
        self._arrived = arrived
        self._stats = stats
        self._gate = gate
        self._slot = slot
        self._client_gone = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._respond(receive, send)
        finally:
            self._slot.release()

    async def _respond(self, receive: Receive, send: Send) -> None:
        await self._gate.wait_until(self._arrived + self._plan.headers_at)
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        self._stats.add("active")
        outcome: Outcome | Literal["disconnect"] | None = None
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch, receive, group.cancel_scope)
                outcome = await self._send_events(send)
                group.cancel_scope.cancel()
        finally:
            self._stats.add("active", -1)
            if self._client_gone:
                self._stats.add("client_closed")
            elif outcome is not None:
                self._stats.add("faulted" if outcome == "disconnect" else outcome)
        if outcome == "disconnect":
            raise SimulatedDisconnect()
        if outcome is not None and not self._client_gone:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._client_gone = True
        scope.cancel()

    async def _send_events(self, send: Send) -> Outcome | Literal["disconnect"]:
        events = self._plan.events
        index = 0
        while index < len(events):
            await self._gate.wait_until(self._arrived + events[index].at)
            if events[index].disconnect:
                return "disconnect"
            # Everything already due leaves in one write, as a burst does on the real wire.
            end = index + 1
            while (
                end < len(events)
                and end - index < _MAX_BATCH
                and not events[end].disconnect
                and self._gate.is_due(self._arrived + events[end].at)
            ):
                end += 1
            batch = events[index:end]
            body = b"".join(event.data for event in batch)
            await send({"type": "http.response.body", "body": body, "more_body": True})
            self._stats.add("chunks_sent", sum(event.data != SSE_DONE for event in batch))
            index = end
        return "faulted" if self._plan.faulted else "completed"


class _Aborted(Response):
    """Starts a JSON answer of `length` bytes, then drops the connection (the disconnect fault)."""

    def __init__(self, length: int) -> None:
        self.status_code = 200
        self.media_type = "application/json"
        self.background = None
        self.init_headers({"content-length": str(length)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        raise SimulatedDisconnect()


async def _read_body(request: Request, limit: int) -> bytes:
    # Difference 10: counted as it arrives, so a huge body is refused without being stored.
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise OpenAIError(
                    413,
                    f"Request body too large: over {limit} bytes, the limit of this simulated "
                    "server.",
                    code="request_too_large",
                )
            chunks.append(chunk)
    except ClientDisconnect:
        # Answered like any bad request (nobody reads it), instead of logged as a server error.
        raise OpenAIError(
            400, "The connection closed before the whole request body arrived."
        ) from None
    return b"".join(chunks)


def _model_card() -> JSON:
    return {
        "id": SIMULATED_MODEL,
        "object": "model",
        "created": _MODEL_CREATED,
        "owned_by": "streaming-completions-lab",
    }


def _base62(number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, digit = divmod(number, len(_ID_ALPHABET))
        digits.append(_ID_ALPHABET[digit])
    return "".join(digits)


async def _openai_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OpenAIError)
    return Response(json_bytes(exc.body()), exc.status, exc.headers, "application/json")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"
    else:
        message = f"{exc.detail} ({request.method} {request.url.path})"
    body = json_bytes(error_body(message, "invalid_request_error"))
    return Response(body, exc.status_code, exc.headers, "application/json")
