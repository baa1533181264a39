"""What the server holds while it answers: the live counters, the gate that lets a stopping
server end open responses at once, and the slots that cap completions answered at once."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import anyio
import anyio.lowlevel

from helpers.server.errors import OpenAIError

__all__ = ["Pace", "ServerStats", "Slot", "StatsCounter", "StreamGate", "StreamSlots"]


@dataclass(frozen=True)
class ServerStats:
    """Counters since the server started: chat requests, those refused because the server was
    full, and streams by how they ended."""

    requests: int = 0
    rejected: int = 0
    active: int = 0
    completed: int = 0
    client_closed: int = 0
    faulted: int = 0
    chunks_sent: int = 0


class StatsCounter:
    """The live counters; the server's event loop updates them, any thread may snapshot them."""

    def __init__(self) -> None:
        self._counts = {field.name: 0 for field in dataclasses.fields(ServerStats)}

    def add(self, name: str, amount: int = 1) -> None:
        assert name in self._counts, f"no counter named {name!r}"
        self._counts[name] += amount

    def snapshot(self) -> ServerStats:
        return ServerStats(**self._counts)


class StreamGate:
    """Lets a stopping server finish open responses at once: their remaining waits are skipped."""

    def __init__(self) -> None:
        self._closing: anyio.Event | None = None
        self._closed = False

    async def wait_until(self, deadline: float) -> None:
        """Sleep until `deadline` (event-loop time) unless the server starts stopping first."""
        if self.is_due(deadline):
            # Still yield, so a client's disconnect is noticed even when nothing waits.
            await anyio.lowlevel.checkpoint()
            return
        if self._closing is None:
            self._closing = anyio.Event()
        with anyio.move_on_after(deadline - anyio.current_time()):
            await self._closing.wait()

    def is_due(self, deadline: float) -> bool:
        return deadline <= self.due_now()

    def due_now(self) -> float:
        """Every deadline up to this (event-loop time) is due now; all of them once the server
        is stopping."""
        return math.inf if self._closed else anyio.current_time()

    def close(self) -> None:
        """Called on the server's event loop when it begins to shut down."""
        self._closed = True
        if self._closing is not None:
            self._closing.set()


class StreamSlots:
    """Counts the completions being answered and refuses one beyond `limit` (difference 11 in
    helpers.server.app)."""

    def __init__(self, limit: int, retry_after: int) -> None:
        assert limit >= 1, "a server answers at least one request at a time"
        self.limit = limit
        self.open = 0
        self._retry_after = retry_after

    def take(self) -> Slot:
        """A slot to release when the answer is over, or the 429 that says to come back."""
        if self.open >= self.limit:
            wait = self._retry_after
            raise OpenAIError(
                429,
                f"The server is busy: it is answering {self.limit} requests, the most it takes at "
                f"once. Please try again in {wait}s.",
                type="requests",
                code="rate_limit_exceeded",
                headers={"retry-after": str(wait), "retry-after-ms": str(wait * 1000)},
            )
        self.open += 1
        return Slot(self)


class Slot:
    """One completion's place among the StreamSlots, held until its answer is over."""

    def __init__(self, slots: StreamSlots) -> None:
        self._slots: StreamSlots | None = slots

    def release(self) -> None:
        """Give the slot back; later calls do nothing."""
        if self._slots is not None:
            self._slots.open -= 1
            self._slots = None


class Pace:
    """How fast one stream may send, as a token bucket: bursts of up to `burst` events leave
    at once, and beyond them at most `rate` events a second. A real engine's bursts pass
    untouched; a stream that would run flat out cannot take a shared server's whole CPU."""

    def __init__(self, rate: float, burst: int, gate: StreamGate) -> None:
        assert rate > 0 and burst >= 1, "a pace lets at least one event through"
        self._rate = rate
        self._burst = burst
        self._gate = gate
        self._allowance = float(burst)
        self._checked: float | None = None

    async def take(self, events: int) -> None:
        """Wait until `events` more may leave (not at all once the server is stopping)."""
        now = anyio.current_time()
        if self._checked is not None:
            self._allowance = min(
                self._burst, self._allowance + (now - self._checked) * self._rate
            )
        self._checked = now
        self._allowance -= events
        if self._allowance < 0:
            await self._gate.wait_until(now - self._allowance / self._rate)
