"""A room under abuse: 100 learners run notebook 06's four-stream race at the same moment (400
concurrent `realistic` streams) while 10 abusive clients send what tests/server/test_abuse.py
tries, side by side with the same room left alone.

Measured as bench_load measures a room: `python -m helpers serve` in a process of its own,
bare HTTP/1.0 clients noting when each read came, and the server's own plan as the reference
for how late each first token came. The server's memory is sampled every 50 ms.

Run alone: `python -m bench.bench_abuse`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import psutil

from bench.bench_load import first_token_lateness
from helpers.metrics import percentile
from helpers.server.model import SIMULATED_MODEL
from helpers.server.testing.process import run_server_process
from helpers.server.testing.sse_probe import Received, fetch, post_request

LEARNERS = 100
# Notebook 06's race: four prompts, streamed at once by every learner.
RACE = (
    "What's 1+1? Answer in one word.",
    "Count to 20",
    "Count to 50",
    "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ...",
)
ABUSERS = 10
INSTANT = {"profile": "instant"}


def _chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": SIMULATED_MODEL, "messages": [{"role": "user", "content": content}], **extra}


def race_bodies() -> list[dict[str, Any]]:
    return [
        _chat(prompt, stream=True, user=f"learner-{learner}")
        for learner in range(LEARNERS)
        for prompt in RACE
    ]


async def _raw(base_url: str, data: bytes, hold: float) -> bytes:
    """Send `data` on a connection of its own, read for at most `hold` seconds, then leave."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    answer = b""
    try:
        writer.write(data)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(hold):
                while chunk := await reader.read(1 << 16):
                    answer += chunk
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return answer


async def _abuse(base_url: str, first: int, done: asyncio.Event, tried: Counter[str]) -> None:
    """One abusive client: the cases of the abuse suite, one after another from case `first`,
    until the room ends."""
    cases = {
        "16,384-token stream": lambda: fetch(
            base_url, _chat("Count to 10000", stream=True, simulation=INSTANT), timeout=60
        ),
        "128 choices, no limit": lambda: fetch(
            base_url, _chat("Count to 10000", n=128, stream=True, simulation=INSTANT), timeout=60
        ),
        "a thousand repeats": lambda: fetch(
            base_url,
            _chat("Say " + " ".join(f"w{n}" for n in range(100)) + " 1000 times",
                  stream=True, simulation=INSTANT),
            timeout=60,
        ),
        "40 KB of digits": lambda: fetch(base_url, _chat("1" * 40_000), timeout=60),
        "n x max_tokens too large": lambda: _raw(
            base_url, post_request(base_url, _chat("Hi", n=8, max_tokens=16_384)), 5
        ),
        "stall, then leave": lambda: _raw(
            base_url,
            post_request(
                base_url, _chat("Count to 50", simulation={"fault": "stall", "seconds": 600})
            ),
            0.3,
        ),
        "slow first byte, then leave": lambda: _raw(
            base_url,
            post_request(base_url, _chat("Count to 50", stream=True,
                                  simulation={"fault": "slow_first_byte", "seconds": 600})),
            0.3,
        ),
        "a head that never ends": lambda: _raw(
            base_url, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Le", 1.0
        ),
    }
    names = list(cases)
    for name in itertools.islice(itertools.cycle(names), first, None):
        if done.is_set():
            return
        await cases[name]()
        tried[name] += 1


class _PeakMemory:
    """The largest resident size of a process, sampled on a thread until stopped."""

    def __init__(self, process: psutil.Process) -> None:
        self.peak = process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(process,), daemon=True)
        self._thread.start()

    def _sample(self, process: psutil.Process) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, process.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def room(abusers: int) -> dict[str, Any]:
    """The race of every learner at once, with `abusers` abusive clients running meanwhile."""
    bodies = race_bodies()
    tried: Counter[str] = Counter()
    with run_server_process(
        "--profile", "realistic", "--no-access-log", "--max-streams", "600"
    ) as server:
        process = psutil.Process(server.process.pid)

        async def run() -> tuple[list[Received], float]:
            await fetch(server.base_url, _chat("Count to 3", stream=True), timeout=60)
            done = asyncio.Event()
            # Each abuser starts with another case, so that every kind runs during the race.
            abuse = [
                asyncio.create_task(_abuse(server.base_url, index, done, tried))
                for index in range(abusers)
            ]
            await asyncio.sleep(1.0 if abusers else 0.0)  # the abuse is under way
            started = time.perf_counter()
            answers = await asyncio.gather(
                *(fetch(server.base_url, body, timeout=120) for body in bodies)
            )
            wall = time.perf_counter() - started
            done.set()
            for task in abuse:  # a paced 16,384-token stream would take eight seconds more
                task.cancel()
            await asyncio.gather(*abuse, return_exceptions=True)
            return answers, wall

        rss_before = process.memory_info().rss
        peak = _PeakMemory(process)
        cpu = process.cpu_times()
        answers, wall = asyncio.run(run())
        cpu_after = process.cpu_times()
        peak_rss = peak.stop()
    checked = [
        first_token_lateness(body, received)
        for body, received in zip(bodies, answers, strict=True)
    ]
    lateness = [late for late, _, _ in checked]
    return {
        "streams": len(bodies),
        "exact": sum(exact for _, exact, _ in checked),
        "wall": wall,
        "late_p50": percentile(lateness, 50) or 0.0,
        "late_p99": percentile(lateness, 99) or 0.0,
        "late_max": max(lateness),
        "server_cpu": (cpu_after.user + cpu_after.system) - (cpu.user + cpu.system),
        "rss_before_mb": rss_before / 2**20,
        "rss_peak_mb": peak_rss / 2**20,
        "abuse": sum(tried.values()),
        "abuse_kinds": len(tried),
    }


def run() -> list[str]:
    """The report lines for docs/benchmarks.md: the room alone, then under abuse."""
    lines = []
    for abusers in (0, ABUSERS):
        result = room(abusers)
        who = f"with {abusers} abusive clients" if abusers else "alone"
        lines.append(
            f"{LEARNERS} learners' race, {result['streams']} realistic streams, {who}: "
            f"{result['exact']} of {result['streams']} texts exact in {result['wall']:.2f} s; "
            f"first token behind schedule p50 {result['late_p50'] * 1000:.0f} ms, p99 "
            f"{result['late_p99'] * 1000:.0f} ms, max {result['late_max'] * 1000:.0f} ms "
            f"(target p99 <= 50 ms); server {result['server_cpu']:.2f} s CPU, RSS "
            f"{result['rss_before_mb']:.0f} MB before, {result['rss_peak_mb']:.0f} MB at peak"
            + (f"; {result['abuse']} abusive requests of {result['abuse_kinds']} kinds"
               if abusers else "")
        )
    return lines


if __name__ == "__main__":
    for line in run():
        print(line)
