"""The ticker calls its function at its interval, in the caller's context, until stopped."""

from __future__ import annotations

import contextvars
import threading
import time

from helpers.ticker import Ticker

CELL = contextvars.ContextVar("cell", default="none")


def test_ticks_at_its_interval_until_stopped() -> None:
    ticks: list[float] = []
    started = time.perf_counter()
    ticker = Ticker(lambda: ticks.append(time.perf_counter()), 0.02)
    time.sleep(0.25)
    ticker.stop()
    stopped = time.perf_counter()
    count = len(ticks)
    time.sleep(0.06)
    assert len(ticks) == count, "no tick after stop()"
    # 0.25 s at 0.02 s: about 12 ticks; a loaded machine may give fewer, never more.
    assert 3 <= count <= 13
    assert all(tick - started >= 0.02 for tick in ticks)
    assert stopped - ticks[-1] < 0.25


def test_ticks_run_in_a_copy_of_the_callers_context() -> None:
    seen: list[str] = []
    token = CELL.set("cell 7")
    try:
        ticker = Ticker(lambda: seen.append(CELL.get()), 0.01)
        time.sleep(0.05)
        ticker.stop()
    finally:
        CELL.reset(token)
    assert seen and set(seen) == {"cell 7"}


def test_its_thread_is_a_daemon_that_ends_on_stop() -> None:
    ticker = Ticker(lambda: None, 0.01)
    threads = [t for t in threading.enumerate() if t.name == "live-view-ticker"]
    assert threads and all(t.daemon for t in threads)
    ticker.stop()
    assert not any(t.is_alive() for t in threads if t is ticker._thread)
