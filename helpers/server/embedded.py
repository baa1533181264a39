"""The simulated API on a loopback port, served by uvicorn from a background thread."""

from __future__ import annotations

import atexit
import os
import threading
import time
from types import TracebackType

import uvicorn

from helpers.server.app import ServerConfig
from helpers.server.capacity import ServerStats, StatsCounter
from helpers.server.serving import bind_server, checked_config

__all__ = ["PROFILE_ENV", "EmbeddedServer", "EmbeddedServerError", "ensure_embedded_server"]

PROFILE_ENV = "TUTORIAL_PROFILE"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


class EmbeddedServerError(RuntimeError):
    """The server thread failed to start or to stop in time."""


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
        self._config = checked_config(host, token, profile, max_streams)
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
        bound = bind_server(
            self._host, self._port, self._config, self._counter, access_log=self._access_log
        )
        server = self._server = bound.server
        self._base_url = bound.base_url
        self._thread = threading.Thread(target=bound.run, name="streaming-lab-server", daemon=True)
        self._thread.start()
        deadline = time.perf_counter() + _START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.perf_counter() > deadline:
                server.should_exit = True
                bound.listener.close()
                raise EmbeddedServerError(f"the simulated API server did not start on {self._host}")
            time.sleep(0.001)
        return self.base_url

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
