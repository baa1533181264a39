"""A daemon thread that calls a function at a fixed interval until stopped."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

__all__ = ["Ticker"]

# How long stop() waits for a tick in progress before leaving the daemon thread behind.
_JOIN_SECONDS = 2.0


class Ticker:
    """Calls `tick` every `interval` seconds on a daemon thread until `stop()`."""

    def __init__(self, tick: Callable[[], None], interval: float) -> None:
        self._stopped = threading.Event()
        self._interval = interval
        # The thread runs in a copy of the caller's context, so what it sends belongs to the cell.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run, tick), name="live-view-ticker", daemon=True
        )
        self._thread.start()

    def _run(self, tick: Callable[[], None]) -> None:
        while not self._stopped.wait(self._interval):
            tick()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(_JOIN_SECONDS)
