"""Serving metrics of one recorded stream, defined as vLLM's `bench serve` defines them.

vLLM's benchmark client (`vllm bench serve`, files `vllm/benchmarks/lib/endpoint_request_func.py`
and `vllm/benchmarks/serve.py`) starts a `time.perf_counter()` clock just before it sends the
request, then, for every SSE event but `[DONE]`:

- TTFT is the time to the first event whose `choices` is not empty. For a chat stream that is
  usually the chunk that only carries `role`, with empty content.
- ITL (inter-token latency) is the gap between each such event and the one before it: one entry
  per *chunk*, so a chunk carrying several tokens counts once.
- E2EL (end-to-end latency) is the time to the last event that carries choices; the trailing
  usage-only chunk does not count.
- TPOT (time per output token, first excluded) is (E2EL - TTFT) / (output_tokens - 1), with
  output_tokens from `usage.completion_tokens`, else counted with the model's tokenizer; it is
  left out when there is only one token.
- Output throughput is output tokens divided by the time taken.

Where this module differs, deliberately:

1. TTFT is the time to the first chunk with visible text, because that is when a reader can start
   reading; vLLM's figure is kept as `time_to_first_chunk`.
2. ITL is counted from that first text chunk, so that `ttft + sum(itl) == e2e`.
3. Without usage, output tokens are estimated with the o200k-style pre-tokenizer and flagged
   (`tokens_estimated`), instead of a model tokenizer.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from helpers.server.tokens import count_tokens
from helpers.table import Table

if TYPE_CHECKING:
    from openai.types import CompletionUsage

    from helpers.chunk_event import ChunkEvent

__all__ = ["StreamMetrics", "percentile"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default; None if empty."""
    assert 0 <= q <= 100, f"a percentile is between 0 and 100, not {q}"
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, repr=False)
class StreamMetrics:
    """Timings of one stream in seconds since the request started; see the module docstring.

    Shown in a notebook it is its `table()`, not a tuple of thousands of gaps.
    """

    time_to_first_chunk: float | None
    """vLLM's TTFT: the first chunk carrying a choice, even with empty content."""
    ttft: float | None
    """Time to first token: the first chunk with visible text."""
    e2e: float | None
    """End-to-end latency: the last chunk carrying a choice."""
    itl: tuple[float, ...]
    """Gaps between consecutive chunks carrying a choice, from the first text chunk on."""
    output_tokens: int
    """`usage.completion_tokens` when the stream sent usage, else an estimate."""
    tokens_estimated: bool
    """True when `output_tokens` is an estimate because no usage arrived."""
    chunks: int
    """Chunks that carried at least one choice."""

    @classmethod
    def from_events(
        cls, events: Sequence[ChunkEvent], usage: CompletionUsage | None = None
    ) -> StreamMetrics:
        """Metrics of `events` (all choices together); `usage` gives the exact token count."""
        arrivals: list[float] = []
        last_chunk = -1
        first_text: int | None = None  # position in `arrivals`
        text: list[str] = []
        for event in events:
            if event.index is None:
                continue
            # Several choices of one chunk share one arrival.
            if event.chunk != last_chunk:
                arrivals.append(event.seconds)
                last_chunk = event.chunk
            if event.text and first_text is None:
                first_text = len(arrivals) - 1
            text.append(event.reasoning)
            text.append(event.text)
        completion = usage.completion_tokens if usage is not None else None
        after = arrivals[first_text:] if first_text is not None else []
        return cls(
            time_to_first_chunk=arrivals[0] if arrivals else None,
            ttft=after[0] if after else None,
            e2e=arrivals[-1] if arrivals else None,
            itl=tuple(later - earlier for earlier, later in itertools.pairwise(after)),
            output_tokens=completion if completion is not None else count_tokens("".join(text)),
            tokens_estimated=completion is None,
            chunks=len(arrivals),
        )

    @property
    def itl_mean(self) -> float | None:
        return sum(self.itl) / len(self.itl) if self.itl else None

    @property
    def itl_median(self) -> float | None:
        return percentile(self.itl, 50)

    @property
    def itl_p95(self) -> float | None:
        return percentile(self.itl, 95)

    @property
    def itl_p99(self) -> float | None:
        return percentile(self.itl, 99)

    @property
    def tpot(self) -> float | None:
        """(E2E - TTFT) / (N - 1): the mean time per token after the first; None if N < 2."""
        if self.ttft is None or self.e2e is None or self.output_tokens < 2:
            return None
        return (self.e2e - self.ttft) / (self.output_tokens - 1)

    @property
    def output_tokens_per_second(self) -> float | None:
        """Output tokens over E2E: the whole wait counts, as in vLLM's output throughput."""
        if not self.e2e:
            return None
        return self.output_tokens / self.e2e

    @property
    def chunks_per_second(self) -> float | None:
        if not self.e2e:
            return None
        return self.chunks / self.e2e

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def table(self) -> Table:
        """The metrics as a two-column table that displays in HTML and as plain text."""
        tokens = f"≈{self.output_tokens} (estimated: no usage)" if self.tokens_estimated else (
            str(self.output_tokens)
        )
        return Table(
            [
                ("time to first chunk", _seconds(self.time_to_first_chunk)),
                ("time to first token (TTFT)", _seconds(self.ttft)),
                ("end-to-end latency (E2E)", _seconds(self.e2e)),
                ("inter-chunk latency (ITL) mean", _millis(self.itl_mean)),
                ("ITL median", _millis(self.itl_median)),
                ("ITL p95", _millis(self.itl_p95)),
                ("ITL p99", _millis(self.itl_p99)),
                ("time per output token (TPOT)", _millis(self.tpot)),
                ("output tokens", tokens),
                ("output tokens/s", _rate(self.output_tokens_per_second)),
                ("chunks", str(self.chunks)),
                ("chunks/s", _rate(self.chunks_per_second)),
            ]
        )


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def _millis(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f} ms"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
