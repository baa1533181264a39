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
- `uvicorn.Server.shutdown(sockets)`, overridden to tell open streams to finish at once.
- The `"uvicorn.error"` logger, where uvicorn logs an exception from the app: a filter keeps
  the disconnect a client asked for out of it.
- `uvicorn.Config(h11_max_incomplete_event_size=...)`, the size limit of a request's head.
"""

from __future__ import annotations

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
# How long a connection refused for an unreadable request stays open to drain the client's bytes.
_LINGER_SECONDS = 1.0


class ArrivalStampingProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, noting when each request arrived, and refusing an unreadable
    request in OpenAI's error format rather than with plain text, so clients can parse it."""

    # Set once an unreadable request was refused: whatever the client still sends is dropped.
    _refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        arrived = self.loop.time()
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before:
            # A request began: its task is created but has not run, so its scope can still be
            # told when the bytes came, however long it then waits behind other requests.
            self.cycle.scope["state"][ARRIVAL_STATE] = arrived

    def send_400_response(self, msg: str) -> None:
        body = json_bytes(
            error_body(
                "The HTTP request could not be read: its request line or headers are malformed, "
                f"or larger than {MAX_HEAD_BYTES // 1024} KiB together.",
                "invalid_request_error",
            )
        )
        head = (
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        # h11's state no longer matters: the connection ends here. Closing it while the client
        # is still sending would reset it, which can destroy the answer before it is read; so
        # stop writing, drop what still comes, and close a moment later.
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


def uvicorn_config(app: ASGIApp) -> uvicorn.Config:
    """How this server runs uvicorn: asyncio, the ArrivalStampingProtocol, no logging setup."""
    # No logging setup of our own (log_config=None) so a notebook's logging is left alone; only
    # warnings and errors would reach it, and a disconnect the client asked for is not one.
    install_disconnect_filter()
    return uvicorn.Config(
        app,
        loop="asyncio",
        http=ArrivalStampingProtocol,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=_GRACE_SECONDS,
    )
