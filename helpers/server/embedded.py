"""The simulated API on a loopback port: uvicorn in a background thread (or in the foreground)."""

from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from helpers.server.app import (
    ARRIVAL_STATE,
    ServerConfig,
    ServerStats,
    StatsCounter,
    StreamGate,
    create_app,
)
from helpers.server.chat_wire import error_body, json_bytes
from helpers.server.faults import SimulatedDisconnectFilter
from helpers.server.timing import parse_profile

__all__ = [
    "ACCESS_LOGGER",
    "PROFILE_ENV",
    "AccessLog",
    "EmbeddedServer",
    "EmbeddedServerError",
    "UnsafeBindError",
    "check_bind",
    "ensure_embedded_server",
    "is_loopback",
]

PROFILE_ENV = "TUTORIAL_PROFILE"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
# Open streams skip their waits when the server stops; this bounds what is left (slow clients).
_GRACE_SECONDS = 2
# A request line and headers larger than this are refused (h11's own default, made explicit).
_MAX_HEAD_BYTES = 16 * 1024
# How long a connection refused for an unreadable request stays open to drain the client's bytes.
_LINGER_SECONDS = 1.0
ACCESS_LOGGER = "helpers.access"


class UnsafeBindError(ValueError):
    """Listening beyond loopback without a token would open the server to the whole network."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"refusing to listen on {host!r} without a token: anyone who can reach this machine "
            "could use the server. Listen on 127.0.0.1, or set a token (--token or "
            "TUTORIAL_SERVER_TOKEN) that clients must send as their API key."
        )


class EmbeddedServerError(RuntimeError):
    """The server thread failed to start or to stop in time."""


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback address unless a token protects it."""
    if not token and not is_loopback(host):
        raise UnsafeBindError(host)


class EmbeddedServer:
    """One simulated API server; `start()` runs it in a daemon thread and returns its base URL."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        profile: str = "realistic",
        *,
        max_streams: int = ServerConfig.max_streams,
        access_log: bool = False,
    ) -> None:
        check_bind(host, token)
        # An empty token (e.g. TUTORIAL_SERVER_TOKEN="") means no token, not one nobody can send.
        self._config = ServerConfig(
            token=token or None, profile=parse_profile(profile), max_streams=max_streams
        )
        self._access_log = access_log
        self._counter = StatsCounter()
        self._host = host
        self._port = port
        self._base_url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT/v1`, as the OpenAI client's `base_url` wants it."""
        assert self._base_url is not None, "the server has not been started"
        return self._base_url

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        """Listen, serve from a background thread, and return the base URL once it answers."""
        assert self._server is None, "an EmbeddedServer starts only once"
        sock = self._listen()
        server = self._server = self._uvicorn_server()
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="streaming-lab-server", daemon=True
        )
        self._thread.start()
        deadline = time.perf_counter() + _START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.perf_counter() > deadline:
                server.should_exit = True
                sock.close()
                raise EmbeddedServerError(f"the simulated API server did not start on {self._host}")
            time.sleep(0.001)
        return self.base_url

    def serve_forever(self, on_ready: Callable[[str], None]) -> None:
        """Serve from the calling (main) thread until Ctrl-C; `on_ready` gets the base URL."""
        assert self._server is None, "an EmbeddedServer starts only once"
        sock = self._listen()
        self._server = self._uvicorn_server()
        on_ready(self.base_url)
        self._server.run(sockets=[sock])

    def stop(self) -> None:
        """Stop serving; running streams get a moment to finish. Safe to call twice."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT)
        if self._thread.is_alive():
            raise EmbeddedServerError("the simulated API server did not stop in time")

    def stats(self) -> ServerStats:
        """Requests and streams so far: active, completed, closed by the client, faulted."""
        return self._counter.snapshot()

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _uvicorn_server(self) -> uvicorn.Server:
        gate = StreamGate()
        app: ASGIApp = create_app(self._config, self._counter, gate)
        if self._access_log:
            app = AccessLog(app)
        return _Uvicorn(_uvicorn_config(app), gate)

    def _listen(self) -> socket.socket:
        # Binding here (not in uvicorn) makes a busy port fail in the caller, with the real error,
        # and tells the port at once; listen() queues early clients until the loop runs.
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # Naming the protocol matters: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
        # connections whose socket says IPPROTO_TCP. With it on, a response's second small write
        # waited for the client's delayed ACK: 40 ms added to every answer and to stream chunks.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen()
        except OSError:
            sock.close()
            raise
        port = sock.getsockname()[1]
        host = f"[{self._host}]" if family == socket.AF_INET6 else self._host
        self._base_url = f"http://{host}:{port}/v1"
        return sock


class _Uvicorn(uvicorn.Server):
    """uvicorn, telling open streams to finish at once when it stops (Ctrl-C, stop(), exit)."""

    def __init__(self, config: uvicorn.Config, gate: StreamGate) -> None:
        super().__init__(config)
        self._gate = gate

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._gate.close()
        await super().shutdown(sockets)


class AccessLog:
    """ASGI middleware logging one line per request once its answer is over, at INFO on the
    `helpers.access` logger: client, method, path, status, bytes, seconds.

    Never a header or the query string, which is where keys and tokens travel; the path is taken
    still percent-encoded, so it cannot break a line of the log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._logger = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status, size = 0, 0

        async def counting_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        ending = ""
        try:
            await self._app(scope, receive, counting_send)
        except BaseException:
            ending = " (connection dropped)"
            raise
        finally:
            client = scope.get("client")
            path = scope.get("raw_path") or scope["path"].encode()
            self._logger.info(
                '%s "%s %s" %d %d bytes %.3f s%s',
                f"{client[0]}:{client[1]}" if client else "-",
                scope["method"],
                path.decode("latin-1"),
                status,
                size,
                time.perf_counter() - started,
                ending,
            )


class _H11Protocol(H11Protocol):
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
                f"or larger than {_MAX_HEAD_BYTES // 1024} KiB together.",
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


def _uvicorn_config(app: ASGIApp) -> uvicorn.Config:
    # No logging setup of our own (log_config=None) so a notebook's logging is left alone; only
    # warnings and errors would reach it, and a disconnect the client asked for is not one.
    error_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, SimulatedDisconnectFilter) for f in error_log.filters):
        error_log.addFilter(SimulatedDisconnectFilter())
    return uvicorn.Config(
        app,
        loop="asyncio",
        http=_H11Protocol,
        h11_max_incomplete_event_size=_MAX_HEAD_BYTES,
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=_GRACE_SECONDS,
    )


_shared: EmbeddedServer | None = None
_shared_lock = threading.Lock()


def ensure_embedded_server() -> str:
    """The base URL of this process's simulated API server, started on first use.

    Latency profile from TUTORIAL_PROFILE (default realistic); stopped when Python exits.
    """
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            server = EmbeddedServer(profile=os.environ.get(PROFILE_ENV, "realistic"))
            server.start()
            atexit.register(server.stop)
            _shared = server
        return _shared.base_url
