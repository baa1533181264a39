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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from helpers.server.auth import check_bearer_token
from helpers.server.capacity import Pace, StatsCounter, StreamGate, StreamSlots
from helpers.server.chat_request import ChatRequest, validate_chat_request
from helpers.server.checks import parse_json_body
from helpers.server.errors import OpenAIError
from helpers.server.event_stream import CutOffAnswer, Departure, EventStream
from helpers.server.faults import (
    SIMULATION_HEADER,
    STREAM_ONLY_FAULTS,
    FaultSpec,
    http_fault_error,
    parse_faults,
)
from helpers.server.last_resort import LastResort, server_error
from helpers.server.model import SIMULATED_MODEL, canonical_model
from helpers.server.planning import (
    MODEL_CREATED,
    StreamPlan,
    WholeAnswer,
    plan_chat_answer,
    plan_responses_answer,
    request_id,
    request_key,
)
from helpers.server.responses_request import ResponsesRequest, validate_responses_request
from helpers.server.timing import Profile
from helpers.server.wire import JSON, error_body, json_bytes

__all__ = ["ARRIVAL_STATE", "CHUNK_BURST", "ServerConfig", "create_app"]

# Where the HTTP layer may note, in the request's scope state, when the request arrived (event-loop
# time); the schedule counts from then, so requests queued behind others' handlers in a burst
# still get their first tokens on time. Without it, the handler's start is used.
ARRIVAL_STATE = "streaming_lab.arrived"
# Errors after which the connection is closed: the client may still be sending a body nobody
# will read (a bad token, a body too slow or too large).
_CLOSING_STATUSES = frozenset({401, 408, 413})
CHUNK_BURST = 64
"""Events a paced stream may send at once: more than the largest burst of the real trace (28)."""
# A stream whose body is up to this size is planned on the event loop: well under a millisecond.
_PLAN_INLINE_BYTES = 16 * 1024


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
    max_chunk_rate: float | None = None
    """The most events a second one stream sends beyond a burst of `CHUNK_BURST` (None: as fast
    as the client reads); a room's server sets it, so no stream can take its whole CPU."""
    max_connections: int = 1_000
    """Connections open at once; one more is answered 503 and closed (fewer where the system
    allows this process fewer open files)."""


# A checked request of either API the server answers.
_Asked = TypeVar("_Asked", ChatRequest, ResponsesRequest)
# The pure planner of one API's answer: request, latency profile, request key, fault.
_Planner = Callable[[_Asked, Profile, str, FaultSpec], StreamPlan | WholeAnswer]


def create_app(
    config: ServerConfig, stats: StatsCounter | None = None, gate: StreamGate | None = None
) -> ASGIApp:
    """The ASGI app: /v1/chat/completions, /v1/responses, /v1/models, /health; errors in
    OpenAI's format, the unexpected ones included."""
    api = _Api(config, stats or StatsCounter(), gate or StreamGate())
    return LastResort(Starlette(
        routes=[
            Route("/v1/chat/completions", api.chat_completions, methods=["POST"]),
            Route("/v1/responses", api.responses, methods=["POST"]),
            Route("/v1/models", api.list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", api.retrieve_model, methods=["GET"]),
            Route("/health", api.health, methods=["GET"]),
        ],
        exception_handlers={
            OpenAIError: _openai_error,
            HTTPException: _http_error,
            Exception: server_error,
        },
    ))


class _Api:
    def __init__(self, config: ServerConfig, stats: StatsCounter, gate: StreamGate) -> None:
        self._config = config
        self._stats = stats
        self._gate = gate
        self._slots = StreamSlots(config.max_streams, config.retry_after)

    async def chat_completions(self, request: Request) -> Response:
        return await self._answer(request, validate_chat_request, plan_chat_answer)

    async def responses(self, request: Request) -> Response:
        return await self._answer(request, validate_responses_request, plan_responses_answer)

    async def _answer(
        self, request: Request, validate: Callable[[object], _Asked], plan: _Planner[_Asked]
    ) -> Response:
        """What both APIs share: token, body, validation, faults and a slot, then the planned
        answer, streamed or whole."""
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
        _check_fault(asked, spec)
        try:
            slot = self._slots.take()
        except OpenAIError:
            self._stats.add("rejected")
            raise
        try:
            key = request_key(body)
            profile = spec.profile or self._config.profile
            # A stream's plan is cheap (its events are made as they are sent) unless its prompt
            # is large (its tokens are counted); a whole answer's is made at once. The costly
            # ones go to a worker thread, so that other streams keep flowing.
            if asked.stream and len(raw) <= _PLAN_INLINE_BYTES:
                planned = plan(asked, profile, key, spec)
            else:
                planned = await anyio.to_thread.run_sync(plan, asked, profile, key, spec)
            headers = {"x-request-id": request_id(key)}
            if isinstance(planned, StreamPlan):
                # The stream releases the slot once it is over.
                pace = (
                    Pace(self._config.max_chunk_rate, CHUNK_BURST, self._gate)
                    if self._config.max_chunk_rate
                    else None
                )
                return EventStream(planned, arrived, self._stats, self._gate, headers, slot, pace)
            stayed = await self._wait_for_client(request, arrived + planned.at)
        except BaseException:
            slot.release()
            raise
        slot.release()
        if not stayed:
            self._stats.add("client_closed")
            return Response(status_code=499)  # nobody is left to read it
        if planned.cut_off:
            return CutOffAnswer(len(planned.body))
        return Response(planned.body, media_type="application/json", headers=headers)

    async def _wait_for_client(self, request: Request, deadline: float) -> bool:
        """Wait until `deadline` (the server's clock) for a non-streamed answer; False as soon
        as the client has gone, so that its slot is free at once."""
        departure = Departure()
        async with anyio.create_task_group() as group:
            group.start_soon(departure.watch, request.receive, group.cancel_scope)
            await self._gate.wait_until(deadline)
            group.cancel_scope.cancel()
        return not departure.gone

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
            # Every completion being answered holds a slot, streaming or still waiting.
            "slots": {"held": self._slots.open, "limit": self._slots.limit},
            "streams": stats,
            # Every open connection and stream holds a task: a count that only grows is a leak.
            "tasks": len(asyncio.all_tasks()),
        }
        return Response(json_bytes(body), media_type="application/json")

    def _check_token(self, request: Request) -> None:
        check_bearer_token(request.headers.get("authorization"), self._config.token)


def _check_fault(asked: ChatRequest | ResponsesRequest, spec: FaultSpec) -> None:
    """Answer an HTTP-status fault, and refuse one that cannot happen in this answer."""
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
    if isinstance(asked, ResponsesRequest) and spec.fault == "no_finish":  # difference 12
        raise OpenAIError(
            400,
            "The simulated fault 'no_finish' concerns chat chunks' finish_reason, which the "
            "Responses API does not have; 'no_done' ends a stream without response.completed.",
            param="simulation.fault",
            code="invalid_value",
        )


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
        "created": MODEL_CREATED,
        "owned_by": "streaming-completions-lab",
    }


async def _openai_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OpenAIError)
    headers = dict(exc.headers)
    if exc.status in _CLOSING_STATUSES:
        headers["connection"] = "close"
    return Response(json_bytes(exc.body()), exc.status, headers, "application/json")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"
    else:
        message = f"{exc.detail} ({request.method} {request.url.path})"
    body = json_bytes(error_body(message, "invalid_request_error"))
    return Response(body, exc.status_code, exc.headers, "application/json")
