"""`python -m helpers bench`: serving metrics of any OpenAI-compatible chat endpoint.

The figures are those of vLLM's `vllm bench serve` (`vllm/benchmarks/serve.py`,
`calculate_metrics`, and `vllm/benchmarks/lib/endpoint_request_func.py`); each request's clock
starts just before it is sent:

- TTFT: to the first chunk that carries a choice, even one with only the role in it.
- ITL: the gaps between consecutive chunks that carry a choice, pooled over all requests.
- E2E (vLLM's E2EL): to the last chunk that carries a choice; the usage-only chunk is left out.
- TPOT: per request, (E2E - TTFT) / (output tokens - 1); requests of one token are left out.
- Output throughput: all output tokens over the wall time of the whole run; request throughput
  likewise.
Percentiles interpolate linearly, as numpy's default that vLLM uses.

Where this differs from vLLM, deliberately:

1. Every request sends the same chat prompt (`--prompt`); vLLM samples a dataset.
2. All requests are queued at once and `--concurrency` of them run at a time (vLLM's
   `--request-rate inf --max-concurrency C`).
3. Output tokens come from the usage chunk; an engine that sends none gets an estimate from the
   o200k-style pre-tokenizer, and the result says so. vLLM counts with the model's tokenizer.
4. Chunks are read through the `openai` client and `helpers.Recorder`, which tolerate what real
   engines send (`choices` empty or null, usage on the finish chunk or nowhere, vendor fields).
5. One request goes first and is not counted, like vLLM's initial test run: it checks the
   endpoint and pays the first-use costs (connection, client set-up, a cold server), which here
   made the first requests' TTFT 0.15 s late.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

import openai

from helpers.backend import public_url
from helpers.metrics import percentile
from helpers.recorder import Recorder
from helpers.token_limit import limit_fields
from helpers.tools.arguments import positive_int

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_PROMPT",
    "BenchConfig",
    "BenchError",
    "BenchResult",
    "RequestResult",
    "Summary",
    "configure",
    "format_report",
    "plot_result",
    "progress_printer",
    "request_result",
    "result_dict",
    "run",
    "run_bench",
    "save_result",
    "summarize",
]

DEFAULT_PROMPT = "Count to 100, with a comma between each number and no newlines."
# Relative to the current directory.
DEFAULT_OUT = "bench-results"
PERCENTILES = (50, 90, 99)
# A stuck engine fails a request instead of hanging the run; connecting fails fast.
_CONNECT_TIMEOUT = 5.0


class BenchError(RuntimeError):
    """The endpoint failed its first request, so there was nothing to measure."""


@dataclass(frozen=True)
class BenchConfig:
    """What to measure; the API key is passed apart, so it never lands in a result file."""

    base_url: str
    model: str
    requests: int
    concurrency: int
    prompt: str = DEFAULT_PROMPT
    max_tokens: int | None = None
    timeout: float = 120.0

    @property
    def is_openai(self) -> bool:
        """Whether the target is OpenAI's own API, which refuses `max_tokens` on some models."""
        return urlsplit(self.base_url).hostname == "api.openai.com"

    def __post_init__(self) -> None:
        assert self.requests >= 1, "at least one request"
        assert self.concurrency >= 1, "a concurrency of at least 1"


@dataclass(frozen=True)
class RequestResult:
    """One request: times in seconds from its own start; `started` is from the run's start."""

    index: int
    started: float
    ok: bool
    error: str | None = None
    ttft: float | None = None
    e2e: float | None = None
    itl: tuple[float, ...] = ()
    output_tokens: int = 0
    tokens_estimated: bool = False
    cut_off: bool = False
    """The stream ended, without an error, before its answer had: no finish reason, or no
    `[DONE]`. Some engines cut a stream off when the next request arrives."""

    @property
    def tpot(self) -> float | None:
        """(E2E - TTFT) / (N - 1), or None for a failed request or a single token."""
        if self.ttft is None or self.e2e is None or self.output_tokens < 2:
            return None
        return (self.e2e - self.ttft) / (self.output_tokens - 1)


@dataclass(frozen=True)
class Summary:
    """Mean and percentiles of one metric, in milliseconds; None when nothing was measured."""

    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Summary:
        millis = [value * 1000 for value in seconds]
        mean = sum(millis) / len(millis) if millis else None
        p50, p90, p99 = (percentile(millis, q) for q in PERCENTILES)
        return cls(mean, p50, p90, p99)


@dataclass(frozen=True)
class BenchResult:
    """A whole run: its settings, wall time and every request."""

    config: BenchConfig
    duration: float
    results: tuple[RequestResult, ...]

    @property
    def completed(self) -> tuple[RequestResult, ...]:
        return tuple(result for result in self.results if result.ok)

    @property
    def failed(self) -> tuple[RequestResult, ...]:
        return tuple(result for result in self.results if not result.ok)

    @property
    def cut_off(self) -> tuple[RequestResult, ...]:
        return tuple(result for result in self.failed if result.cut_off)

    @property
    def output_tokens(self) -> int:
        return sum(result.output_tokens for result in self.completed)

    @property
    def tokens_estimated(self) -> bool:
        return any(result.tokens_estimated for result in self.completed)

    @property
    def output_throughput(self) -> float:
        """Output tokens per second of wall time, as vLLM's "Output token throughput"."""
        return self.output_tokens / self.duration if self.duration > 0 else 0.0

    @property
    def request_throughput(self) -> float:
        return len(self.completed) / self.duration if self.duration > 0 else 0.0


def summarize(result: BenchResult) -> dict[str, Summary]:
    """TTFT, ITL, TPOT and E2E over the completed requests (ITL pooled over all of them)."""
    done = result.completed
    return {
        "ttft": Summary.of([r.ttft for r in done if r.ttft is not None]),
        "itl": Summary.of([gap for r in done for gap in r.itl]),
        "tpot": Summary.of([r.tpot for r in done if r.tpot is not None]),
        "e2e": Summary.of([r.e2e for r in done if r.e2e is not None]),
    }


def request_result(index: int, started: float, recorder: Recorder) -> RequestResult:
    """The vLLM figures of one recorded stream. It counts as a success only when it finished:
    a finish reason for every choice, and `[DONE]` where it can be seen."""
    # Several choices of one chunk share its arrival; chunks without choices do not count.
    arrivals = list({e.chunk: e.seconds for e in recorder.events if e.index is not None}.values())
    if recorder.error is not None:
        return RequestResult(index, started, False, _describe(recorder.error))
    if not arrivals:
        return RequestResult(
            index, started, False, "no chunk with a choice arrived (is streaming supported?)"
        )
    choices = {e.index for e in recorder.events if e.index is not None}
    finished = {e.index for e in recorder.events if e.finish_reason is not None}
    if choices - finished or recorder.done_seen is False:
        missing = "a finish_reason" if choices - finished else "data: [DONE]"
        empty = " and without any text" if not any(e.text for e in recorder.events) else ""
        return RequestResult(
            index, started, False, f"cut off: the stream ended without {missing}{empty}",
            cut_off=True,
        )
    metrics = recorder.metrics
    return RequestResult(
        index,
        started,
        True,
        ttft=arrivals[0],
        e2e=arrivals[-1],
        itl=tuple(later - earlier for earlier, later in itertools.pairwise(arrivals)),
        output_tokens=metrics.output_tokens,
        tokens_estimated=metrics.tokens_estimated,
    )


def _describe(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    prefix = f"HTTP {status}: " if status is not None else ""
    text = str(error) or type(error).__name__
    return f"{prefix}{type(error).__name__}: {text}"[:300]


Progress = Callable[[int, int, float], None]


def request_body(config: BenchConfig) -> dict[str, Any]:
    """The arguments of every request's `create()`."""
    body: dict[str, Any] = {
        "model": config.model,
        "messages": [{"role": "user", "content": config.prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if config.max_tokens is not None:
        body |= limit_fields(config.max_tokens, openai_api=config.is_openai)
    return body


async def _bench(config: BenchConfig, api_key: str, progress: Progress) -> BenchResult:
    client = openai.AsyncOpenAI(
        base_url=config.base_url,
        api_key=api_key,
        max_retries=0,
        timeout=openai.Timeout(config.timeout, connect=_CONNECT_TIMEOUT),
    )
    body = request_body(config)
    slots = asyncio.Semaphore(config.concurrency)
    results: list[RequestResult] = []

    async def one(index: int, run_start: float) -> RequestResult:
        recorder = Recorder()
        recorder.start()
        started = time.perf_counter() - run_start
        try:
            stream = await client.chat.completions.create(**body)
            async with stream:
                async for _ in recorder.arecord(stream):
                    pass
        except (openai.APIError, ValueError) as exc:
            # ValueError: a chunk that is not JSON. The recorder has ended if the stream began.
            if not recorder.finished:
                recorder.end(error=exc)
        return request_result(index, started, recorder)

    async def counted(index: int, run_start: float) -> None:
        async with slots:
            results.append(await one(index, run_start))
        failed = sum(not result.ok for result in results)
        progress(len(results), failed, time.perf_counter() - run_start)

    async with client:
        # Difference 5: one request first, as vLLM's initial test run.
        first = await one(-1, time.perf_counter())
        if not first.ok:
            raise BenchError(
                f"The first request to {public_url(config.base_url)} failed, so nothing was "
                f"measured: {first.error}"
            )
        run_start = time.perf_counter()
        await asyncio.gather(*(counted(index, run_start) for index in range(config.requests)))
    duration = time.perf_counter() - run_start
    return BenchResult(config, duration, tuple(sorted(results, key=lambda r: r.index)))


def run_bench(
    config: BenchConfig, api_key: str, progress: Progress | None = None
) -> BenchResult:
    """Send `config.requests` streamed chat requests, `config.concurrency` at a time."""
    return asyncio.run(_bench(config, api_key, progress or (lambda done, failed, elapsed: None)))


def format_report(result: BenchResult) -> str:
    """The figures as aligned text, in the spirit of vLLM's "Serving Benchmark Result"."""
    config = result.config
    estimated = " (estimated: no usage)" if result.tokens_estimated else ""
    tokens = f"{result.output_tokens}{estimated}"
    lines = [
        f"Endpoint {public_url(config.base_url)} · model {config.model}",
        f"{'successful requests':<28}{len(result.completed)} of {len(result.results)}",
        f"{'cut off or empty':<28}{len(result.cut_off)}",
        f"{'failed with an error':<28}{len(result.failed) - len(result.cut_off)}",
        f"{'concurrency':<28}{config.concurrency}",
        f"{'duration (s)':<28}{result.duration:.2f}",
        f"{'output tokens':<28}{tokens}",
        f"{'request throughput (req/s)':<28}{result.request_throughput:.2f}",
        f"{'output throughput (tok/s)':<28}{result.output_throughput:.1f}",
        "",
        f"{'(ms)':<6}{'mean':>10}{'p50':>10}{'p90':>10}{'p99':>10}",
    ]
    for name, summary in summarize(result).items():
        values = (summary.mean, summary.p50, summary.p90, summary.p99)
        lines.append(f"{name.upper():<6}" + "".join(f"{_ms(value):>10}" for value in values))
    for failure in result.failed[:5]:
        lines.append(f"request {failure.index} failed: {failure.error}")
    if len(result.failed) > 5:
        lines.append(f"... and {len(result.failed) - 5} more failures")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def result_dict(result: BenchResult) -> dict[str, Any]:
    """The JSON-ready result: settings (never the key, nor a password in the URL), totals,
    summaries and every request."""
    config = dataclasses.replace(result.config, base_url=public_url(result.config.base_url))
    return {
        "config": dataclasses.asdict(config),
        "duration_s": result.duration,
        "completed": len(result.completed),
        "failed": len(result.failed),
        "cut_off": len(result.cut_off),
        "output_tokens": result.output_tokens,
        "tokens_estimated": result.tokens_estimated,
        "request_throughput": result.request_throughput,
        "output_throughput": result.output_throughput,
        **{
            f"{name}_ms": dataclasses.asdict(summary)
            for name, summary in summarize(result).items()
        },
        "requests": [
            {**dataclasses.asdict(request), "tpot": request.tpot} for request in result.results
        ],
    }


def save_result(result: BenchResult, out_dir: Path) -> tuple[Path, Path]:
    """Write `bench-MODEL-TIME.json` and `.png` into `out_dir`; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model = re.sub(r"[^A-Za-z0-9._-]+", "_", result.config.model)
    stem = out_dir / f"bench-{model}-{datetime.now():%Y%m%d-%H%M%S}"
    json_path, png_path = stem.with_suffix(".json"), stem.with_suffix(".png")
    json_path.write_text(json.dumps(result_dict(result), indent=2) + "\n")
    plot_result(result).savefig(png_path, dpi=100)
    return json_path, png_path


def plot_result(result: BenchResult) -> Figure:
    """Each request's span with its first token marked, and the histogram of ITL."""
    # Imported here: matplotlib is slow to import and only the plot needs it.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4), layout="constrained")
    spans, gaps = figure.subplots(1, 2, width_ratios=(3, 2))
    for row, request in enumerate(result.results):
        if request.ok and request.ttft is not None and request.e2e is not None:
            start = request.started
            spans.plot([start, start + request.ttft], [row, row], color="#c8c8c8", linewidth=2)
            spans.plot(
                [start + request.ttft, start + request.e2e], [row, row], color="#1f77b4",
                linewidth=2,
            )
            spans.plot([start + request.ttft], [row], marker="|", color="#d62728")
        else:
            spans.plot([request.started], [row], marker="x", color="#d62728")
    spans.set_xlabel("seconds since the run started")
    spans.set_ylabel("request")
    spans.set_title("Requests: waiting (grey), first token (red), streaming (blue)")
    itl_ms = [gap * 1000 for request in result.completed for gap in request.itl]
    gaps.hist(itl_ms, bins=40, color="#1f77b4")
    gaps.set_xlabel("inter-token latency (ms)")
    gaps.set_ylabel("chunks")
    gaps.set_title("ITL, all requests")
    return figure


def configure(parser: argparse.ArgumentParser) -> None:
    """The `bench` subcommand's arguments."""
    parser.add_argument("--base-url", required=True, help="the API's base URL, ending in /v1")
    parser.add_argument("--model", required=True, help="the model to ask for")
    parser.add_argument("--requests", type=positive_int, default=100, help="requests to send (100)")
    parser.add_argument(
        "--concurrency", type=positive_int, default=10, help="requests in flight at once (10)"
    )
    parser.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (OPENAI_API_KEY); the key itself is "
        "never printed or saved",
    )
    parser.add_argument(
        "--prompt", default=DEFAULT_PROMPT, help="the user message of every request"
    )
    parser.add_argument(
        "--max-tokens",
        type=positive_int,
        default=None,
        help="the answer's token limit, sent as max_completion_tokens and, to engines that are "
        "not OpenAI, also as max_tokens (unset: not sent)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds a request may take (120)"
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"directory for the JSON and PNG results ({DEFAULT_OUT})"
    )


def progress_printer(total: int, stream: TextIO) -> Progress:
    """Progress on `stream`: one line redrawn on a terminal, a line per tenth of the run else."""
    interactive = stream.isatty()
    step = max(1, total // 10)

    def show(done: int, failed: int, elapsed: float) -> None:
        line = f"bench: {done}/{total} requests done, {failed} failed, {elapsed:.1f} s"
        if interactive:
            stream.write("\r" + line + ("\n" if done == total else ""))
        elif done % step == 0 or done == total:
            stream.write(line + "\n")
        stream.flush()

    return show


def run(args: argparse.Namespace) -> int:
    """Run the benchmark the arguments describe; print the report and where it was saved."""
    # Engines that need no key still make the client want one.
    api_key = os.environ.get(args.api_key_env, "").strip() or "no-key-needed"
    config = BenchConfig(
        base_url=args.base_url.rstrip("/"),
        model=args.model,
        requests=args.requests,
        concurrency=args.concurrency,
        prompt=args.prompt,
        max_tokens=args.max_tokens,
        timeout=args.timeout,
    )
    try:
        result = run_bench(config, api_key, progress_printer(config.requests, sys.stderr))
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(format_report(result))
    json_path, png_path = save_result(result, Path(args.out))
    print(f"Saved {json_path} and {png_path}")
    return 0 if result.completed else 1
