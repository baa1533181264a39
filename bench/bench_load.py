"""A room on one server: 100 realistic streams at once, then 1,000 instant requests.

The figures behind tests/test_load.py, measured the same way: `python -m helpers serve` in a
process of its own, clients that are bare HTTP/1.0 exchanges on asyncio streams noting when each
read came (parsed afterwards), and the server's planned schedule as the reference for lateness.

Run alone: `python -m bench.bench_load`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil

from helpers.metrics import percentile
from helpers.server.chat_request import validate_chat_request
from helpers.server.model import SIMULATED_MODEL
from helpers.server.planning import plan_completion, request_key
from helpers.server.testing.process import run_server_process
from helpers.server.testing.sse_probe import Received, fetch
from helpers.server.timing import Profile

STREAMS = 100
REQUESTS = 1000
WARM_UP = 300


@contextmanager
def _server(profile: Profile) -> Iterator[tuple[str, psutil.Process]]:
    with run_server_process("--profile", profile, "--no-access-log") as server:
        yield server.base_url, psutil.Process(server.process.pid)


def _body(number: int, learner: int) -> dict[str, Any]:
    return {
        "model": SIMULATED_MODEL,
        "messages": [{"role": "user", "content": f"Count to {number}"}],
        "stream": True,
        "user": f"learner-{learner}",
    }


def first_token_lateness(body: dict[str, Any], received: Received) -> tuple[float, bool, int]:
    """How late the first token came against the plan, whether the text is exact, chunks."""
    sent, events = received.sent, received.events()
    plan = plan_completion(validate_chat_request(body), "realistic", request_key(body))
    texts = [
        (arrived, json.loads(event[6:])["choices"][0]["delta"].get("content"))
        for arrived, event in events[:-1]
    ]
    tokens = [(arrived, text) for arrived, text in texts if text]
    exact = tuple(text for _, text in tokens) == plan.replies[0].tokens
    return tokens[0][0] - sent - plan.offsets[0], exact, len(events) - 1


def hundred_streams() -> dict[str, float]:
    bodies = [_body(20 + learner % 41, learner) for learner in range(STREAMS)]
    with _server("realistic") as (url, process):

        async def room() -> list[Received]:
            await fetch(url, _body(3, -1), timeout=60)  # the server's first-use costs
            return await asyncio.gather(*(fetch(url, body, timeout=60) for body in bodies))

        cpu = process.cpu_times()
        started = time.perf_counter()
        answers = asyncio.run(room())
        wall = time.perf_counter() - started
        cpu_after = process.cpu_times()
        rss = process.memory_info().rss
    checked = [
        first_token_lateness(body, received)
        for body, received in zip(bodies, answers, strict=True)
    ]
    lateness = [late for late, _, _ in checked]
    return {
        "exact": sum(exact for _, exact, _ in checked),
        "chunks": sum(chunks for _, _, chunks in checked),
        "wall": wall,
        "server_cpu": (cpu_after.user + cpu_after.system) - (cpu.user + cpu.system),
        "rss_mb": rss / 2**20,
        "late_p50": percentile(lateness, 50) or 0.0,
        "late_p99": percentile(lateness, 99) or 0.0,
        "late_max": max(lateness),
    }


def thousand_requests() -> dict[str, float]:
    with _server("instant") as (url, process):

        async def batch(count: int, first: int) -> None:
            slots = asyncio.Semaphore(20)

            async def one(learner: int) -> None:
                async with slots:
                    await fetch(url, _body(5 + learner % 26, learner), timeout=60)

            await asyncio.gather(*(one(learner) for learner in range(first, first + count)))

        asyncio.run(batch(WARM_UP, 0))
        before = process.memory_info().rss
        started = time.perf_counter()
        asyncio.run(batch(REQUESTS, WARM_UP))
        wall = time.perf_counter() - started
        grown = process.memory_info().rss - before
    return {"rate": REQUESTS / wall, "grown_kb": grown / 1024, "rss_mb": before / 2**20}


def run() -> list[str]:
    """The report lines for docs/benchmarks.md."""
    room, many = hundred_streams(), thousand_requests()
    return [
        f"{STREAMS} concurrent realistic streams (count to 20..60): {room['exact']:.0f} of "
        f"{STREAMS} texts exact, {room['chunks']:,.0f} chunks in {room['wall']:.2f} s",
        f"first token behind the schedule: p50 {room['late_p50'] * 1000:.0f} ms, p99 "
        f"{room['late_p99'] * 1000:.0f} ms, max {room['late_max'] * 1000:.0f} ms (target p99 "
        "<= 50 ms)",
        f"server process: {room['server_cpu']:.2f} s CPU for the {STREAMS} streams, "
        f"RSS {room['rss_mb']:.0f} MB",
        f"{REQUESTS:,} instant streams, 20 at a time, after {WARM_UP} to warm up: "
        f"{many['rate']:.0f} requests/s; RSS {many['rss_mb']:.0f} MB, grew "
        f"{many['grown_kb']:.0f} kB",
    ]


if __name__ == "__main__":
    for line in run():
        print(line)
