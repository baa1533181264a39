"""Every use of uvicorn beyond its documented `Config` and `Server.run`, in one place.

What this module relies on, and why (tests/server/test_uvicorn_internals.py fails when an
upgrade moves any of it):

- `uvicorn.protocols.http.h11_impl.H11Protocol`, subclassed:
  - `data_received(data)`, overridden to note when each request's bytes came, so its schedule
    counts from its arrival however long it waits behind other requests;
  - `self.cycle` (the current request cycle, replaced when a request begins) and its
    `scope["state"]`, where that arrival time is written (`ARRIVAL_STATE`);
  - `self.loop` (the event loop: its clock, `call_later`) and `self.transport` (the connection),
    set on every live connection;
  - `send_400_response(msg)`, overridden to refuse an unreadable request in OpenAI's error
    format, so clients can parse it.
  - `connection_made`, `connection_lost`, `handle_events` and `on_response_complete`, extended
    to give each request head a deadline (uvicorn's keep-alive timer restarts with every byte,
    so a client trickling a head would hold its connection for ever), and `self.connections`
    (the server's open connections) to refuse one beyond a cap in OpenAI's format.
- `uvicorn.Server.shutdown(sockets)`, overridden to tell open streams to finish at once.
- The `"uvicorn.error"` logger, where uvicorn logs an exception from the app: a filter keeps
  the disconnect a client asked for out of it.
- `uvicorn.Config(h11_max_incomplete_event_size=..., timeout_keep_alive=...)`: the size limit
  of a request's head, and how long an idle connection is kept.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from helpers.server.app import ARRIVAL_STATE
from helpers.server.capacity import StreamGate
from helpers.server.faults import SimulatedDisconnect
from helpers.server.wire import error_body, json_bytes

__all__ = [
    "ERROR_LOGGER",
    "HEAD_SECONDS",
    "MAX_HEAD_BYTES",
    "ArrivalStampingProtocol",
    "GracefulServer",
    "SimulatedDisconnectFilter",
    "install_disconnect_filter",
    "uvicorn_config",
]

ERROR_LOGGER = "uvicorn.error"
# A request line and headers larger than this are refused (h11's own default, made explicit).
MAX_HEAD_BYTES = 16 * 1024
# Open streams skip their waits when the server stops; this bounds what is left (slow clients).
_GRACE_SECONDS = 2
# An idle keep-alive connection is closed after this (uvicorn's default, made explicit).
_KEEP_ALIVE_SECONDS = 5
# How long a refused connection stays open to drain the client's bytes.
_LINGER_SECONDS = 1.0
HEAD_SECONDS = 10.0
"""How long a request's line and headers may take to arrive, from the connection's opening or
the previous response's end."""


class ArrivalStampingProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, noting when each request arrived, giving each request head
    `HEAD_SECONDS` to arrive, refusing connections beyond `max_connections`, and refusing an
    unreadable request in OpenAI's error format rather than with plain text."""

    max_connections: int = 1_000
    """Open connections beyond this are answered 503 and closed at once (set per server by
    `uvicorn_config`)."""

    # Set once the connection was refused: whatever the client still sends is dropped.
    _refused = False
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refuse(
                503,
                "Service Unavailable",
                f"The server has {self.max_connections} connections open, the most it keeps; "
                "please try again in a moment.",
                "server_error",
            )
            return
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._arrived = self.loop.time()
        super().data_received(data)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before and self.cycle is not None:
            # A request began: its head is whole. Its task is created but has not run, so its
            # scope can still be told when the bytes came, however long it then waits.
            self._stop_head_timer()
            self.cycle.scope["state"][ARRIVAL_STATE] = getattr(self, "_arrived", self.loop.time())

    def on_response_complete(self) -> None:
        # Armed before uvicorn looks for a pipelined request, which then stops it again.
        self._await_head()
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(
            400,
            "Bad Request",
            "The HTTP request could not be read: its request line or headers are malformed, "
            f"or larger than {MAX_HEAD_BYTES // 1024} KiB together.",
            "invalid_request_error",
        )

    def _await_head(self) -> None:
        """Give the next request head HEAD_SECONDS to arrive whole: uvicorn's keep-alive timer
        restarts with every byte, so a client trickling a head would hold the connection."""
        self._stop_head_timer()
        if not self.transport.is_closing():
            self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_overdue)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self.cycle is None or self.cycle.response_complete:
            self._refuse(
                408,
                "Request Timeout",
                f"The request line and headers did not arrive within {HEAD_SECONDS:g} seconds.",
                "invalid_request_error",
            )

    def _refuse(self, status: int, reason: str, message: str, kind: str) -> None:
        """Answer in OpenAI's format and end the connection, whatever h11 thinks of it."""
        self._stop_head_timer()
        body = json_bytes(error_body(message, kind))
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        # Closing while the client is still sending would reset the connection, which can
        # destroy the answer before it is read; so stop writing, drop what still comes, and
        # close a moment later.
        self.transport.write(head.encode() + body)
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)


class GracefulServer(uvicorn.Server):
    """uvicorn, telling open streams to finish at once when it stops (Ctrl-C, stop(), exit)."""

    def __init__(self, config: uvicorn.Config, gate: StreamGate) -> None:
        super().__init__(config)
        self._gate = gate

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._gate.close()
        await super().shutdown(sockets)


class SimulatedDisconnectFilter(logging.Filter):
    """Keeps uvicorn from logging the traceback of a disconnect the client asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SimulatedDisconnect))


def install_disconnect_filter() -> None:
    """Add the SimulatedDisconnectFilter to uvicorn's error logger, once."""
    error_log = logging.getLogger(ERROR_LOGGER)
    if not any(isinstance(f, SimulatedDisconnectFilter) for f in error_log.filters):
        error_log.addFilter(SimulatedDisconnectFilter())


def uvicorn_config(app: ASGIApp, max_connections: int) -> uvicorn.Config:
    """How this server runs uvicorn: asyncio, the ArrivalStampingProtocol capped at
    `max_connections`, no logging setup."""
    # No logging setup of our own (log_config=None) so a notebook's logging is left alone; only
    # warnings and errors would reach it, and a disconnect the client asked for is not one.
    install_disconnect_filter()
    protocol = type(
        "CappedProtocol", (ArrivalStampingProtocol,), {"max_connections": max_connections}
    )
    return uvicorn.Config(
        app,
        loop="asyncio",
        http=protocol,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=_KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=_GRACE_SECONDS,
    )
