"""The server's counters, its stopping gate and its slots, on their own."""

from __future__ import annotations

import anyio
import pytest

from helpers.server.capacity import Pace, ServerStats, StatsCounter, StreamGate, StreamSlots
from helpers.server.errors import OpenAIError


def test_the_slots_refuse_one_beyond_the_limit_with_a_429_that_says_when() -> None:
    slots = StreamSlots(limit=2, retry_after=3)
    first, second = slots.take(), slots.take()
    with pytest.raises(OpenAIError) as refused:
        slots.take()
    assert refused.value.status == 429
    assert refused.value.code == "rate_limit_exceeded"
    assert refused.value.headers == {"retry-after": "3", "retry-after-ms": "3000"}
    assert "answering 2 requests" in refused.value.message
    first.release()
    first.release()  # a second release gives back nothing more
    assert slots.open == 1
    third = slots.take()
    assert slots.open == 2
    second.release()
    third.release()
    assert slots.open == 0


def test_the_counters_snapshot_what_was_added() -> None:
    counter = StatsCounter()
    counter.add("requests", 3)
    counter.add("active")
    counter.add("active", -1)
    counter.add("chunks_sent", 40)
    assert counter.snapshot() == ServerStats(requests=3, chunks_sent=40)
    with pytest.raises(AssertionError, match="no counter named 'typo'"):
        counter.add("typo")


def test_the_gate_sleeps_until_the_deadline_unless_the_server_stops() -> None:
    async def run() -> tuple[float, float]:
        gate = StreamGate()
        start = anyio.current_time()
        await gate.wait_until(start + 0.05)
        waited = anyio.current_time() - start
        async with anyio.create_task_group() as group:
            group.start_soon(gate.wait_until, anyio.current_time() + 30)
            await anyio.sleep(0.01)
            gate.close()
        cut = anyio.current_time() - start - waited
        return waited, cut

    waited, cut = anyio.run(run)
    assert 0.05 <= waited < 0.5
    assert cut < 1.0, "close() ends a 30 s wait at once"


def test_a_pace_lets_a_burst_through_then_holds_to_its_rate() -> None:
    async def run() -> tuple[float, float, float]:
        pace = Pace(rate=1_000, burst=50, gate=StreamGate())
        start = anyio.current_time()
        await pace.take(50)  # the whole burst, at once
        burst = anyio.current_time() - start
        for _ in range(10):
            await pace.take(10)  # 100 more at 1,000 a second: about 0.1 s
        paced = anyio.current_time() - start - burst
        stopping = StreamGate()
        stopped = Pace(rate=1, burst=1, gate=stopping)
        stopping.close()
        before = anyio.current_time()
        await stopped.take(100)  # 100 s of waiting, skipped by a stopping server
        return burst, paced, anyio.current_time() - before

    burst, paced, stopped = anyio.run(run)
    assert burst < 0.01
    assert 0.09 <= paced < 0.5
    assert stopped < 0.1
