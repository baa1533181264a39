"""What the background and the foreground server share: a checked configuration, and uvicorn
serving the app from a socket bound before it starts."""

from __future__ import annotations

import contextlib
import socket
import sys
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from helpers.server.access_log import AccessLog
from helpers.server.app import ServerConfig, create_app
from helpers.server.bind import check_bind, check_token
from helpers.server.capacity import StatsCounter, StreamGate
from helpers.server.timing import parse_profile
from helpers.server.uvicorn_internals import GracefulServer, uvicorn_config

__all__ = ["BoundServer", "bind_server", "checked_config", "raise_open_file_limit"]

# Files kept free for the server's own use (logs, the listening socket, imports).
_FILES_HELD_BACK = 64
_FILES_WANTED = 65_536
# Windows sockets are not counted against a per-process file limit.
_FILES_ON_WINDOWS = 65_536


def checked_config(
    host: str,
    token: str | None,
    profile: str,
    max_streams: int,
    max_chunk_rate: float | None = None,
) -> ServerConfig:
    """The configuration of a server on `host`; raises UnusableTokenError for a token clients
    cannot send, UnsafeBindError beyond loopback without a token, UnknownProfileError for an
    unknown profile."""
    # An empty token (e.g. TUTORIAL_SERVER_TOKEN="") means no token, not one nobody can send.
    token = token or None
    check_token(token)
    check_bind(host, token)
    return ServerConfig(
        token=token,
        profile=parse_profile(profile),
        max_streams=max_streams,
        max_chunk_rate=max_chunk_rate or None,
    )


@dataclass(frozen=True)
class BoundServer:
    """uvicorn around the app, and the socket it will serve from, already listening."""

    server: uvicorn.Server
    listener: socket.socket
    base_url: str
    """`http://HOST:PORT/v1`, as the OpenAI client's `base_url` wants it."""

    def run(self) -> None:
        """Serve until the server is told to exit (`server.should_exit`, Ctrl-C, SIGTERM)."""
        self.server.run(sockets=[self.listener])


def bind_server(
    host: str, port: int, config: ServerConfig, stats: StatsCounter, *, access_log: bool
) -> BoundServer:
    """Listen on `host`:`port` (0: any free port) and build the server; raises OSError when the
    address cannot be bound."""
    listener = _listen(host, port)
    gate = StreamGate()
    app: ASGIApp = create_app(config, stats, gate)
    if access_log:
        app = AccessLog(app)
    cap = min(config.max_connections, _open_files_allowed() - _FILES_HELD_BACK)
    server = GracefulServer(uvicorn_config(app, max_connections=cap), gate)
    family_host = f"[{host}]" if listener.family == socket.AF_INET6 else host
    return BoundServer(server, listener, f"http://{family_host}:{listener.getsockname()[1]}/v1")


def _open_files_allowed() -> int:
    """How many files this process may have open (its soft limit)."""
    if sys.platform == "win32":
        return _FILES_ON_WINDOWS
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_open_file_limit() -> None:
    """Raise this process's soft limit of open files to its hard one, so that the connection
    cap, not the system, turns clients away. For a server process of its own: a kernel's limit
    is left alone."""
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, _FILES_WANTED)
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _listen(host: str, port: int) -> socket.socket:
    # Binding here (not in uvicorn) makes a busy port fail in the caller, with the real error,
    # and tells the port at once; listen() queues early clients until the loop runs.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Naming the protocol matters: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # connections whose socket says IPPROTO_TCP. With it on, a response's second small write
    # waited for the client's delayed ACK: 40 ms added to every answer and to stream chunks.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock
