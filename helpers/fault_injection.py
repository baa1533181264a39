"""Faults made on the client's side, whatever backend answers, and what the client saw of them.

`faulty, traffic = inject_fault(client, "stall", after_events=20)` returns a copy of `client`
whose requests go through a transport wrapped around a real connection. The transport answers
429 itself, delays the answer, stalls, breaks off or quietly ends a stream, each the way a real
server or network would, so the unmodified `openai` client raises what it would for real.
`traffic` lists the client's attempts: whether each reached the server, how many events it read,
the fault that struck it and whether the client closed it early.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeVar, get_args

import httpx2
import openai

from helpers.backend import async_connection, connection

__all__ = ["FAULTS", "Attempt", "FaultKind", "Traffic", "inject_fault"]

FaultKind = Literal[
    "rate_limit", "slow_first_byte", "stall", "error_event", "disconnect", "quiet_end"
]
FAULTS: tuple[FaultKind, ...] = get_args(FaultKind)
_STREAM_FAULTS = frozenset({"stall", "error_event", "disconnect", "quiet_end"})
_WORDS: dict[FaultKind | None, str] = {
    "stall": "a stall",
    "error_event": "an error event",
    "disconnect": "a dropped connection",
    "quiet_end": "a quiet end",
}
# What httpx2 says when a read times out (a socket's timeout; anyio's has no message) and when
# the peer closes a chunked body early (h11's words).
_READ_TIMEOUT = "timed out"
_ASYNC_READ_TIMEOUT = ""
_PEER_CLOSED = (
    "peer closed connection without sending complete message body (incomplete chunked read)"
)
_OVERLOADED = "The server had an error while processing your request. Sorry about that!"
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")

ClientT = TypeVar("ClientT", openai.OpenAI, openai.AsyncOpenAI)


@dataclass
class Attempt:
    """One HTTP request the client sent through the injector, as the client saw it."""

    number: int
    sent: bool = True
    """False when the injector answered without contacting the server."""
    status: int | None = None
    """The answer's status; None when none came in time."""
    events: int = 0
    """The data events the client read, `[DONE]` not counted."""
    fault: FaultKind | None = None
    done: bool = False
    """Whether `data: [DONE]` arrived."""
    closed_by_client: bool = False
    """Whether the client closed the answer before its end."""
    ended: bool = field(default=False, repr=False)
    """Whether the answer has ended, however."""

    def __str__(self) -> str:
        if not self.sent:
            return f"{self.status} from the injector, never sent"
        if self.status is None:
            text = "no answer within the read timeout"
        else:
            slow = " after a slow first byte" if self.fault == "slow_first_byte" else ""
            text = f"{self.status}{slow}, {_count(self.events, 'event')}"
        if self.fault in _STREAM_FAULTS:
            text += f", then {_WORDS[self.fault]}"
        if self.done:
            text += ", [DONE]"
        if self.closed_by_client:
            return text + "; closed by the client"
        return text if self.ended else text + "; still open"


@dataclass
class Traffic:
    """Every attempt a client made through the injector, in order."""

    attempts: list[Attempt] = field(default_factory=list)

    @property
    def sent(self) -> int:
        """How many attempts reached the server."""
        return sum(attempt.sent for attempt in self.attempts)

    def __repr__(self) -> str:
        lines = [f"{_count(len(self.attempts), 'attempt')}, {self.sent} reached the server"]
        lines += [f"  {attempt.number}. {attempt}" for attempt in self.attempts]
        return "\n".join(lines)


def inject_fault(
    client: ClientT,
    fault: FaultKind,
    *,
    after_events: int = 0,
    seconds: float = math.inf,
    retry_after: float = 0.5,
    times: int | None = None,
) -> tuple[ClientT, Traffic]:
    """A copy of `client` that meets `fault` on the first `times` attempts (all when None), and
    the record of its traffic.

    `rate_limit` answers 429 asking for `retry_after` seconds, without contacting the server;
    `slow_first_byte` holds the answer back `seconds`; `stall` goes silent for `seconds` after
    `after_events` events; `error_event`, `disconnect` and `quiet_end` end the stream there
    with an error event, a dropped connection, or nothing at all. A wait longer than the read
    timeout ends in the read timeout's error.
    """
    assert fault in FAULTS, f"fault is one of {', '.join(FAULTS)}, not {fault!r}"
    assert after_events >= 0 and seconds >= 0 and retry_after >= 0, "counts and waits are >= 0"
    injector = _Injector(fault, after_events, seconds, retry_after, times)
    if isinstance(client, openai.AsyncOpenAI):
        inner = async_connection(client.base_url)
        http = openai.DefaultAsyncHttpxClient(transport=_AsyncTransport(injector, inner))
        return client.with_options(http_client=http), injector.traffic
    sync_inner = connection(client.base_url)
    sync_http = openai.DefaultHttpxClient(transport=_SyncTransport(injector, sync_inner))
    return client.with_options(http_client=sync_http), injector.traffic


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


@dataclass
class _Injector:
    """The fault, when it applies, and the traffic record; what both transports share."""

    kind: FaultKind
    after_events: int
    seconds: float
    retry_after: float
    times: int | None
    traffic: Traffic = field(default_factory=Traffic)

    def begin(self) -> tuple[Attempt, FaultKind | None]:
        """A new attempt, and the fault it meets, if any."""
        attempt = Attempt(len(self.traffic.attempts) + 1)
        self.traffic.attempts.append(attempt)
        armed = self.times is None or attempt.number <= self.times
        return attempt, self.kind if armed else None

    def too_many_requests(self, request: httpx2.Request, attempt: Attempt) -> httpx2.Response:
        """A 429 as OpenAI sends it, never sent to the server."""
        attempt.sent, attempt.status, attempt.fault, attempt.ended = False, 429, "rate_limit", True
        wait = self.retry_after
        message = (
            f"Rate limit reached for {_model(request)} in organization org-injected on requests "
            f"per min (RPM): Limit 3, Used 3, Requested 1. Please try again in {wait:g}s. Visit "
            "https://platform.openai.com/account/rate-limits to learn more. (Injected on the "
            "client's side.)"
        )
        body = {
            "error": {
                "message": message, "type": "requests", "param": None,
                "code": "rate_limit_exceeded",
            }
        }
        headers = {
            "retry-after": str(math.ceil(wait)),
            "retry-after-ms": str(round(wait * 1000)),
            "x-ratelimit-limit-requests": "3",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{wait:g}s",
            "x-request-id": f"req_injected_{attempt.number}",
        }
        return httpx2.Response(429, headers=headers, json=body, request=request)

    def hold_back(
        self, request: httpx2.Request, attempt: Attempt, started: float
    ) -> tuple[float, bool]:
        """How long to hold back an answer whose request left at `started`, and whether the
        client's read timeout runs out first."""
        attempt.fault = "slow_first_byte"
        return self.wait(request, time.perf_counter() - started)

    def wait(self, request: httpx2.Request, spent: float) -> tuple[float, bool]:
        """How long to stay silent after `spent` seconds of silence, and whether the client's
        read timeout runs out first."""
        read = request.extensions.get("timeout", {}).get("read")
        if read is None or self.seconds < read - spent:
            return self.seconds, False
        return max(0.0, read - spent), True

    def answer(
        self, response: httpx2.Response, attempt: Attempt, fault: FaultKind | None
    ) -> _Script:
        attempt.status = response.status_code
        streamed = response.headers.get("content-type", "").startswith("text/event-stream")
        return _Script(self, attempt, fault if streamed and fault in _STREAM_FAULTS else None)


@dataclass
class _Script:
    """One answer's body, cut into whole SSE events so that the client reads exactly those the
    injector passed on, and the fault that strikes it."""

    injector: _Injector
    attempt: Attempt
    fault: FaultKind | None
    _buffer: bytes = b""

    def split(self, data: bytes) -> list[bytes]:
        self._buffer += data
        blocks = []
        while match := _EVENT_END.search(self._buffer):
            blocks.append(self._buffer[: match.end()])
            self._buffer = self._buffer[match.end() :]
        return blocks

    def rest(self) -> bytes:
        self.attempt.ended = True
        return self._buffer

    def strikes(self, block: bytes) -> FaultKind | None:
        """The fault that strikes before `block` reaches the client, if any."""
        if self.fault is None or self.attempt.events != self.injector.after_events:
            return None
        if _data(block) in (None, "[DONE]"):
            return None
        fault, self.fault = self.fault, None
        self.attempt.fault = fault
        return fault

    def stall(self, request: httpx2.Request) -> tuple[float, bool]:
        return self.injector.wait(request, 0.0)

    def last_block(self, request: httpx2.Request, fault: FaultKind) -> bytes:
        """End the body with `fault`: the bytes it ends with, or the error a broken one raises."""
        self.attempt.ended = True
        if fault == "disconnect":
            raise httpx2.RemoteProtocolError(_PEER_CLOSED, request=request)
        if fault == "quiet_end":
            return b""
        message = f"{_OVERLOADED} (Injected after {_count(self.attempt.events, 'event')}.)"
        error = {"message": message, "type": "server_error", "param": None, "code": None}
        return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"

    def passed(self, block: bytes) -> bytes:
        data = _data(block)
        if data == "[DONE]":
            self.attempt.done = self.attempt.ended = True
        elif data is not None:
            self.attempt.events += 1
        return block

    def close(self) -> None:
        if not self.attempt.ended:
            self.attempt.closed_by_client = self.attempt.ended = True


def _data(block: bytes) -> str | None:
    """An event's data, or None for a block of comments only."""
    lines = block.decode("utf-8", "replace").splitlines()
    data = [line[5:].removeprefix(" ") for line in lines if line.startswith("data:")]
    return "\n".join(data) if data else None


def _no_answer(attempt: Attempt, error: httpx2.TransportError) -> None:
    # A client that times out gives up on the request and closes its connection.
    attempt.ended = True
    attempt.closed_by_client = isinstance(error, httpx2.TimeoutException)


def _model(request: httpx2.Request) -> str:
    try:
        model = json.loads(request.read()).get("model")
    except (ValueError, AttributeError):
        model = None
    return model if isinstance(model, str) else "this model"


def _plain(request: httpx2.Request) -> None:
    # Compressed bytes could not be cut into events: ask for the body as it is.
    request.headers["accept-encoding"] = "identity"


def _sleep(seconds: float) -> None:
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        time.sleep(min(left, 60.0))


async def _asleep(seconds: float) -> None:
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        await asyncio.sleep(min(left, 60.0))


class _SyncTransport(httpx2.BaseTransport):
    def __init__(self, injector: _Injector, inner: httpx2.BaseTransport) -> None:
        self._injector = injector
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        attempt, fault = self._injector.begin()
        if fault == "rate_limit":
            return self._injector.too_many_requests(request, attempt)
        _plain(request)
        started = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
            if fault == "slow_first_byte":
                wait, timed_out = self._injector.hold_back(request, attempt, started)
                _sleep(wait)
                if timed_out:
                    response.close()
                    raise httpx2.ReadTimeout(_READ_TIMEOUT, request=request)
        except httpx2.TransportError as error:
            _no_answer(attempt, error)
            raise
        script = self._injector.answer(response, attempt, fault)
        assert isinstance(response.stream, httpx2.SyncByteStream)
        body = _SyncBody(script, request, response.stream)
        return httpx2.Response(
            response.status_code, headers=response.headers, stream=body,
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()


class _SyncBody(httpx2.SyncByteStream):
    def __init__(self, script: _Script, request: httpx2.Request, inner: httpx2.SyncByteStream):
        self._script = script
        self._request = request
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        script = self._script
        for data in self._inner:
            for block in script.split(data):
                fault = script.strikes(block)
                if fault == "stall":
                    wait, timed_out = script.stall(self._request)
                    _sleep(wait)
                    if timed_out:
                        raise httpx2.ReadTimeout(_READ_TIMEOUT, request=self._request)
                elif fault is not None:
                    yield script.last_block(self._request, fault)
                    return
                yield script.passed(block)
        if rest := script.rest():
            yield rest

    def close(self) -> None:
        self._script.close()
        self._inner.close()


class _AsyncTransport(httpx2.AsyncBaseTransport):
    def __init__(self, injector: _Injector, inner: httpx2.AsyncBaseTransport) -> None:
        self._injector = injector
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        attempt, fault = self._injector.begin()
        if fault == "rate_limit":
            return self._injector.too_many_requests(request, attempt)
        _plain(request)
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
            if fault == "slow_first_byte":
                wait, timed_out = self._injector.hold_back(request, attempt, started)
                await _asleep(wait)
                if timed_out:
                    await response.aclose()
                    raise httpx2.ReadTimeout(_ASYNC_READ_TIMEOUT, request=request)
        except httpx2.TransportError as error:
            _no_answer(attempt, error)
            raise
        script = self._injector.answer(response, attempt, fault)
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        body = _AsyncBody(script, request, response.stream)
        return httpx2.Response(
            response.status_code, headers=response.headers, stream=body,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AsyncBody(httpx2.AsyncByteStream):
    def __init__(
        self, script: _Script, request: httpx2.Request, inner: httpx2.AsyncByteStream
    ) -> None:
        self._script = script
        self._request = request
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        script = self._script
        async for data in self._inner:
            for block in script.split(data):
                fault = script.strikes(block)
                if fault == "stall":
                    wait, timed_out = script.stall(self._request)
                    await _asleep(wait)
                    if timed_out:
                        raise httpx2.ReadTimeout(_ASYNC_READ_TIMEOUT, request=self._request)
                elif fault is not None:
                    yield script.last_block(self._request, fault)
                    return
                yield script.passed(block)
        if rest := script.rest():
            yield rest

    async def aclose(self) -> None:
        self._script.close()
        await self._inner.aclose()
