"""The simulated API served from the main thread until Ctrl-C or SIGTERM (`python -m helpers
serve`)."""

from __future__ import annotations

import signal
from collections.abc import Callable

from helpers.server.app import ServerConfig
from helpers.server.capacity import StatsCounter
from helpers.server.serving import bind_server, checked_config, raise_open_file_limit

__all__ = ["serve_forever"]


def serve_forever(
    host: str,
    port: int,
    token: str | None,
    profile: str,
    *,
    max_streams: int = ServerConfig.max_streams,
    max_chunk_rate: float | None = None,
    access_log: bool = True,
    on_ready: Callable[[str], None],
) -> None:
    """Listen, call `on_ready` with the base URL, and serve until Ctrl-C or SIGTERM; open
    streams then finish at once. Raises UnsafeBindError beyond loopback without a token, and
    OSError when the address cannot be bound."""
    config = checked_config(host, token, profile, max_streams, max_chunk_rate)
    raise_open_file_limit()
    bound = bind_server(host, port, config, StatsCounter(), access_log=access_log)
    # SIGTERM (systemd, docker stop, kill) stops as gently as Ctrl-C. uvicorn handles both while
    # serving, shuts down gracefully, then raises the signal again.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        on_ready(bound.base_url)
        bound.run()
    except KeyboardInterrupt:
        pass
