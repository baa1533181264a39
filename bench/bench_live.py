"""Benchmarks of the recorder and the live view (figures for docs/benchmarks.md).

1. Overhead: a 10,000-chunk `instant` stream consumed through `LiveView.follow` (recorder and
   view) against a bare `for chunk in stream: pass`, same server, trials interleaved.
2. Update rate: chunks arriving at 5,000 a second; widget value changes (one message each) per
   second of stream, and whether the final value holds the whole text.
3. Timing truth: recorded gaps between chunks against the gaps the server scheduled, on loopback,
   with the server in this process (as the notebooks run it) and in a process of its own.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from helpers.live import LiveView
from helpers.metrics import percentile
from helpers.recorder import Recorder
from helpers.server.chat_request import validate_chat_request
from helpers.server.embedded import EmbeddedServer
from helpers.server.faults import FaultSpec
from helpers.server.model import SIMULATED_MODEL
from helpers.server.planning import plan_completion, plan_stream, request_key
from helpers.server.testing.process import run_server_process
from helpers.server.timing import Profile
from helpers.server.wire import SSE_DONE

# "Count to 2750." is answered in 9,999 tokens: 10,001 chunks with the role and finish chunks.
LONG: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Count to 2750."}]
COUNT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Count to 300."}]
_TEXT = re.compile(r"<div class='streaming-lab-live-text'[^>]*>(.*?)</div>", re.S)


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=60)


class _Clock:
    """Wall and process CPU seconds of a block; CPU time is the steadier on a shared machine."""

    def __enter__(self) -> _Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def _bare(client: openai.OpenAI) -> tuple[_Clock, int]:
    count = 0
    with (
        _Clock() as clock,
        client.chat.completions.create(model=SIMULATED_MODEL, messages=LONG, stream=True) as s,
    ):
        for _ in s:
            count += 1
    return clock, count


def _followed(client: openai.OpenAI) -> tuple[_Clock, int]:
    view = LiveView(backend_label="bench")
    count = 0
    # Outside IPython the view prints the final text; that is not part of the measurement.
    with (
        contextlib.redirect_stdout(io.StringIO()),
        _Clock() as clock,
        client.chat.completions.create(model=SIMULATED_MODEL, messages=LONG, stream=True) as s,
    ):
        for _ in view.follow(s):
            count += 1
    return clock, count


def overhead(trials: int = 11) -> dict[str, Any]:
    """Medians of each way over interleaved trials (wall and CPU time), and their ratios."""
    bare: list[_Clock] = []
    followed: list[_Clock] = []
    with EmbeddedServer(profile="instant") as server:
        client = _client(server.base_url)
        _, chunks = _bare(client)  # warm-up: imports, connection, caches
        for trial in range(trials):
            # Each way goes first in every other trial: the second run of a pair was often faster.
            for way in (_bare, _followed) if trial % 2 == 0 else (_followed, _bare):
                clock, count = way(client)
                (bare if way is _bare else followed).append(clock)
                assert count == chunks
    wall = [statistics.median(c.wall for c in clocks) for clocks in (bare, followed)]
    cpu = [statistics.median(c.cpu for c in clocks) for clocks in (bare, followed)]
    return {
        "chunks": chunks,
        "trials": trials,
        "bare_s": wall[0],
        "followed_s": wall[1],
        "wall_ratio": wall[1] / wall[0],
        "cpu_ratio": cpu[1] / cpu[0],
    }


def added_cost(chunks: int = 10_000, trials: int = 11) -> dict[str, float]:
    """Microseconds per chunk that recording and the view add, on chunks parsed beforehand."""
    parsed = [
        ChatCompletionChunk.model_validate(
            {
                "id": "b",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": f"{n}, "}, "finish_reason": None}],
            }
        )
        for n in range(chunks)
    ]
    recorded, followed = [], []
    for _ in range(trials):
        rec = Recorder()
        started = time.perf_counter()
        for _ in rec.record(parsed):
            pass
        recorded.append(time.perf_counter() - started)
        view = LiveView(backend_label="bench")
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            for _ in view.follow(parsed):
                pass
        followed.append(time.perf_counter() - started)
    return {
        "recorder_us": statistics.median(recorded) / chunks * 1e6,
        "live_view_us": statistics.median(followed) / chunks * 1e6,
    }


def _paced_sse(chunks: int, per_second: float, batch: int) -> Iterator[bytes]:
    """SSE parts released `batch` chunks at a time on a schedule of `per_second` chunks."""
    started = time.perf_counter()
    for first in range(0, chunks, batch):
        due = started + first / per_second
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield b"".join(
            b'data: {"id":"b","object":"chat.completion.chunk","created":0,"model":"m",'
            b'"choices":[{"index":0,"delta":{"content":"t%d "},"finish_reason":null}]}\n\n' % n
            for n in range(first, min(first + batch, chunks))
        )
    yield b"data: [DONE]\n\n"


def update_rate(per_second: float = 5000, seconds: float = 2.0) -> dict[str, Any]:
    """Widget value changes per second of stream while chunks arrive at `per_second`."""
    chunks = int(per_second * seconds)

    def handle(request: httpx.Request) -> httpx.Response:
        body = _paced_sse(chunks, per_second, batch=max(1, int(per_second / 100)))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = openai.OpenAI(
        api_key="bench",
        base_url="http://paced.invalid/v1",
        max_retries=0,
        # openai accepts an httpx client too, though its annotation names only httpx2's.
        http_client=httpx.Client(transport=httpx.MockTransport(handle)),  # type: ignore[arg-type]
    )
    view = LiveView(backend_label="bench")
    changes: list[float] = []
    view.observe(lambda change: changes.append(time.perf_counter()), names="value")
    with contextlib.redirect_stdout(io.StringIO()):
        stream = client.chat.completions.create(model="m", messages=COUNT, stream=True)
        started = time.perf_counter()
        with stream:
            for _ in view.follow(stream):
                pass
    took = time.perf_counter() - started
    expected = "".join(f"t{n} " for n in range(chunks))
    shown = [html.unescape(text) for text in _TEXT.findall(view.value)]
    return {
        "chunks": chunks,
        "stream_s": took,
        "chunks_per_s": chunks / took,
        "messages": len(changes),
        "messages_per_s": len(changes) / took,
        "final_delivered": shown == [expected],
    }


def _schedule(messages: list[ChatCompletionMessageParam], profile: Profile) -> list[float]:
    """When the server plans to send each chunk of this request (seconds after it arrived)."""
    body = {"model": SIMULATED_MODEL, "messages": messages, "stream": True}
    plan = plan_stream(
        plan_completion(validate_chat_request(body), profile, request_key(body)), FaultSpec()
    )
    return [event.at for event in plan.events if event.data != SSE_DONE]


@contextlib.contextmanager
def _server(profile: Profile, separate: bool) -> Iterator[str]:
    """A simulated API server's base URL: in this process (as the notebooks run it) or in a
    process of its own, which shares no interpreter lock with the client."""
    if not separate:
        with EmbeddedServer(profile=profile) as server:
            yield server.base_url
        return
    with run_server_process("--profile", profile, "--no-access-log") as server:
        yield server.base_url


def _gap_errors(measured: list[float], truth: list[float]) -> list[float]:
    assert len(measured) == len(truth), (len(measured), len(truth))
    return [
        abs((measured[i] - measured[i - 1]) - (truth[i] - truth[i - 1]))
        for i in range(1, len(measured))
    ]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "gaps": len(values),
        "median_ms": (percentile(values, 50) or 0) * 1000,
        "p99_ms": (percentile(values, 99) or 0) * 1000,
        "max_ms": max(values) * 1000,
    }


def timing_truth(
    profile: Profile = "realistic", separate: bool = False, requests: int = 5
) -> dict[str, dict[str, float]]:
    """Errors of the recorded gaps between chunks against the server's scheduled gaps, for the
    recorder alone and for the live view."""
    errors: dict[str, list[float]] = {"recorder": [], "live view": []}
    with _server(profile, separate) as base_url:
        client = _client(base_url)
        for n in range(requests):
            messages: list[ChatCompletionMessageParam] = [
                {"role": "user", "content": f"Count to {200 + n}."}
            ]
            planned = _schedule(messages, profile)
            for way, values in errors.items():
                view = LiveView(backend_label="bench")
                rec = Recorder() if way == "recorder" else view.recorder
                with (
                    contextlib.redirect_stdout(io.StringIO()),
                    client.chat.completions.create(
                        model=SIMULATED_MODEL, messages=messages, stream=True
                    ) as s,
                ):
                    for _ in rec.record(s) if way == "recorder" else view.follow(s):
                        pass
                values += _gap_errors([event.seconds for event in rec.events], planned)
    return {way: _summary(values) for way, values in errors.items()}


def wake_up_lateness(sleeps: int = 150, seconds: float = 0.01) -> dict[str, float]:
    """How late `time.sleep` wakes up on this machine now: the floor under any timing error."""
    late = []
    for _ in range(sleeps):
        started = time.perf_counter()
        time.sleep(seconds)
        late.append(time.perf_counter() - started - seconds)
    return {
        "median_ms": (percentile(late, 50) or 0) * 1000,
        "p99_ms": (percentile(late, 99) or 0) * 1000,
    }


def run() -> list[str]:
    """Run every benchmark here and return its report lines."""
    lines = []
    cost = overhead()
    lines.append(
        f"overhead: {cost['chunks']} instant chunks from the embedded server, medians of "
        f"{cost['trials']} interleaved trials: bare loop {cost['bare_s']:.3f} s, recorder + "
        f"live view {cost['followed_s']:.3f} s; ratio {cost['wall_ratio']:.3f} in wall time, "
        f"{cost['cpu_ratio']:.3f} in process CPU time (target <= 1.10)"
    )
    added = added_cost()
    lines.append(
        f"added cost per chunk (chunks parsed beforehand): recorder "
        f"{added['recorder_us']:.1f} us, recorder + live view {added['live_view_us']:.1f} us; "
        f"the bare loop over the server costs {cost['bare_s'] / cost['chunks'] * 1e6:.0f} us"
    )
    rate = update_rate()
    lines.append(
        f"update rate: {rate['chunks']} chunks at {rate['chunks_per_s']:.0f}/s over "
        f"{rate['stream_s']:.2f} s: {rate['messages']} widget messages, "
        f"{rate['messages_per_s']:.1f}/s (target <= 30/s), final value delivered: "
        f"{rate['final_delivered']}"
    )
    floor = wake_up_lateness()
    lines.append(
        f"wake-up lateness of time.sleep(0.01) just before: median {floor['median_ms']:.3f} ms, "
        f"p99 {floor['p99_ms']:.3f} ms (the machine's own share of any timing error)"
    )
    for separate in (False, True):
        where = "server in its own process" if separate else "server in this process"
        for profile in ("realistic", "fast"):
            for way, figures in timing_truth(profile, separate).items():
                lines.append(
                    f"timing truth ({profile}, {where}, {way}): {figures['gaps']} gaps, error "
                    f"median {figures['median_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms, "
                    f"max {figures['max_ms']:.3f} ms (targets <= 1 ms, <= 5 ms)"
                )
    return lines
