"""Throughput of the embedded server on one `instant` stream, against a bare Starlette endpoint.

Both servers run in a process of their own under the same uvicorn settings; this process reads
with a raw httpx byte reader that only counts events, so the client is not what is measured. The
bare endpoint is a `StreamingResponse` yielding, one by one, the very bytes the embedded server
sent for the same request (captured first), so the two differ only in the work of the server:
planning the reply, encoding its chunks, keeping its schedule. Trials alternate, best of each.

Run alone: `python -m bench.bench_server`; `--serve-bare PORT FILE` is the bare server itself.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from helpers.server.model import SIMULATED_MODEL
from helpers.server.testing.process import run_server_process

# "Count to 4000." is answered in 14,999 tokens: 15,001 chunks with the role and finish chunks
# (a longer count would stop at the 16,384-token output limit).
BODY = {
    "model": SIMULATED_MODEL,
    "messages": [{"role": "user", "content": "Count to 4000."}],
    "stream": True,
}
TRIALS = 5
TARGET_RATIO = 0.5
TARGET_RATE = 20_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _wait_until_up(port: int) -> None:
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"no server came up on port {port}")


@contextmanager
def _process(args: list[str], port: int) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL)
    try:
        _wait_until_up(port)
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def read_stream(url: str) -> tuple[int, float, float, bytes]:
    """POST the body; return the events before [DONE], seconds to the first and the last byte,
    and the bytes themselves."""
    events, first, body = 0, 0.0, bytearray()
    previous = b""
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        with client.stream("POST", url, json=BODY) as response:
            response.raise_for_status()
            for data in response.iter_raw():
                if not first:
                    first = time.perf_counter() - started
                # An event ends with a blank line, which may straddle two reads.
                events += data.count(b"\n\n") + (previous == b"\n" and data[:1] == b"\n")
                previous = data[-1:]
                body += data
        last = time.perf_counter() - started
    return events - 1, first, last, bytes(body)


def serve_bare(port: int, events_file: Path) -> None:
    """A Starlette app answering every POST with the captured events, one write per event."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    events = [event + b"\n\n" for event in events_file.read_bytes().split(b"\n\n") if event]

    async def stream(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for event in events:
                yield event

        return StreamingResponse(body(), media_type="text/event-stream; charset=utf-8")

    app = Starlette(routes=[Route("/v1/chat/completions", stream, methods=["POST"])])
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="asyncio", http="h11", lifespan="off",
        log_level="warning", access_log=False, server_header=False,
    )


def measure() -> dict[str, float]:
    bare_port = _free_port()
    bare = f"http://127.0.0.1:{bare_port}/v1/chat/completions"
    rates: dict[str, list[float]] = {"embedded": [], "bare": []}
    with tempfile.TemporaryDirectory() as scratch, run_server_process(
        "--profile", "instant", "--no-access-log", "--max-chunk-rate", "0"
    ) as server:
        embedded = f"{server.base_url}/chat/completions"
        chunks, _, _, captured = read_stream(embedded)
        events_file = Path(scratch) / "events.sse"
        events_file.write_bytes(captured)
        bare_args = ["-m", "bench.bench_server", "--serve-bare", str(bare_port), str(events_file)]
        with _process(bare_args, bare_port):
            first_bytes = []
            for _ in range(TRIALS):
                for name, url in (("embedded", embedded), ("bare", bare)):
                    count, first, last, _ = read_stream(url)
                    assert count == chunks, f"{name} sent {count} chunks, not {chunks}"
                    rates[name].append(count / last)
                    if name == "embedded":
                        first_bytes.append(first)
    best = {name: max(values) for name, values in rates.items()}
    return {
        "chunks": chunks,
        "embedded": best["embedded"],
        "bare": best["bare"],
        "ratio": best["embedded"] / best["bare"],
        "first_byte": min(first_bytes),
    }


def run() -> list[str]:
    """The report lines for docs/benchmarks.md."""
    figures = measure()
    ratio_ok = "met" if figures["ratio"] >= TARGET_RATIO else "MISSED"
    rate_ok = "met" if figures["embedded"] >= TARGET_RATE else "MISSED"
    return [
        f"one instant stream of {figures['chunks']:,.0f} chunks, best of {TRIALS}, "
        "raw httpx reader, each server in its own process",
        f"embedded server: {figures['embedded']:,.0f} chunks/s (target >= {TARGET_RATE:,}: "
        f"{rate_ok}); first byte after {figures['first_byte'] * 1000:.0f} ms",
        f"bare Starlette SSE endpoint, same bytes: {figures['bare']:,.0f} chunks/s",
        f"ratio embedded / bare: {figures['ratio']:.2f} (target >= {TARGET_RATIO}: {ratio_ok})",
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-bare"]:
        serve_bare(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        print(json.dumps(measure(), indent=2))
