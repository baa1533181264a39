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
3. Without usage, output tokens are estimated, and `token_source` says how, instead of counted
   with the model's tokenizer, which this project does not have: for a model that tokenizes as
   o200k does (`uses_o200k`) with the o200k-style pre-tokenizer, for any other one token per
   choice's chunk with text, as OpenAI, vLLM, llama.cpp and Ollama stream them. The
   pre-tokenizer would undercount another model's tokens: a 64-token llama.cpp answer read as
   about 30, so its TPOT came out twice the real gap between chunks.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from helpers.server.model import SIMULATED_MODEL
from helpers.server.tokens import pretokenize
from helpers.table import Table

if TYPE_CHECKING:
    from openai.types import CompletionUsage

    from helpers.chunk_event import ChunkEvent

__all__ = ["StreamMetrics", "TokenCount", "TokenTally", "percentile", "uses_o200k"]

TokenSource = Literal["usage", "chunks", "o200k"]
"""Where an output token count comes from: the stream's usage, or an estimate (module docstring)."""

_ESTIMATES: dict[TokenSource, str] = {
    "chunks": "one per text chunk",
    "o200k": "estimated with the o200k pre-tokenizer",
}
# OpenAI's families whose tokenizer is o200k_base (gpt-oss's o200k_harmony has the same pattern
# and merges); what comes after them is a size, a variant or a date: gpt-4o-mini-2024-07-18.
_O200K_FAMILIES = re.compile(
    r"(?:chatgpt-4o|gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5(?:\.\d+)?|gpt-oss|o\d+)(?:-.*)?", re.IGNORECASE
)
# Tokens at the end of the text counted so far that more text may still change: a word or a run
# of spaces can grow, and a long word is split into more pieces.
_UNSETTLED = 2


def uses_o200k(model: str | None) -> bool:
    """Whether `model` (as the stream names it) tokenizes as o200k does: OpenAI's gpt-4o,
    gpt-4.1, gpt-5 and o-series families, and the simulated model. A provider's prefix
    (`openai/gpt-4o`) is ignored."""
    if model is None:
        return False
    name = model.rsplit("/", 1)[-1]
    return name == SIMULATED_MODEL or _O200K_FAMILIES.fullmatch(name) is not None


@dataclass(frozen=True)
class TokenCount:
    """A count of output tokens and where it comes from."""

    count: int
    source: TokenSource

    @property
    def estimated(self) -> bool:
        return self.source != "usage"

    def label(self) -> str:
        """How the live view shows it: "64 tokens", "≈64 tokens, one per text chunk"."""
        tokens = f"{self.count} token{'' if self.count == 1 else 's'}"
        if not self.estimated:
            return tokens
        return f"≈{tokens}, {_ESTIMATES[self.source]}"

    def value(self) -> str:
        """How a table's "output tokens" row shows it: "64", "≈64, one per text chunk"."""
        if not self.estimated:
            return str(self.count)
        return f"≈{self.count}, {_ESTIMATES[self.source]}"


class TokenTally:
    """Output tokens of a stream without usage, estimated as its events arrive (the module
    docstring says how), so that a count shown while streaming equals the one at the end.

    Each `count()` reads only the events added since the last, and with the pre-tokenizer
    only the text since the last settled token, so that counting every frame stays cheap.
    """

    def __init__(self, model: str | None) -> None:
        self.model = model
        self.source: TokenSource = "o200k" if uses_o200k(model) else "chunks"
        self._read = 0
        self._settled = 0
        self._tails: dict[int, str] = {}
        """Per choice, the text after its last settled token."""
        self._unsettled: dict[int, int] = {}

    def count(self, events: Sequence[ChunkEvent]) -> int:
        """The estimate for `events`, a list that has only grown since the last call."""
        new = events[self._read :]
        self._read = len(events)
        if self.source == "chunks":
            self._settled += sum(1 for e in new if e.index is not None and (e.text or e.reasoning))
            return self._settled
        added: dict[int, list[str]] = {}
        for event in new:
            if event.index is not None and (event.text or event.reasoning):
                added.setdefault(event.index, []).append(event.reasoning + event.text)
        for index, parts in added.items():
            tokens = pretokenize(self._tails.get(index, "") + "".join(parts))
            settle = _settle_point(tokens)
            self._settled += settle
            self._tails[index] = "".join(tokens[settle:])
            self._unsettled[index] = len(tokens) - settle
        return self._settled + sum(self._unsettled.values())


def _settle_point(tokens: list[str]) -> int:
    """How many leading tokens later text cannot change: those before the last token that
    starts with a space or a digit and is not among the last `_UNSETTLED`. Such a token starts
    a match of the pattern, never a later part of a long word split up."""
    for position in range(len(tokens) - _UNSETTLED, 0, -1):
        first = tokens[position][0]
        if first.isspace() or first.isdigit():
            return position
    return 0


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
    token_source: TokenSource
    """Where `output_tokens` comes from: "usage", or an estimate ("chunks", "o200k")."""
    chunks: int
    """Chunks that carried at least one choice."""

    @classmethod
    def from_events(
        cls,
        events: Sequence[ChunkEvent],
        usage: CompletionUsage | None = None,
        model: str | None = None,
    ) -> StreamMetrics:
        """Metrics of `events` (all choices together); `usage` gives the exact token count,
        and without it `model`, as the stream names it, decides how tokens are estimated."""
        arrivals: list[float] = []
        last_chunk = -1
        first_text: int | None = None  # position in `arrivals`
        for event in events:
            if event.index is None:
                continue
            # Several choices of one chunk share one arrival.
            if event.chunk != last_chunk:
                arrivals.append(event.seconds)
                last_chunk = event.chunk
            if event.text and first_text is None:
                first_text = len(arrivals) - 1
        if usage is not None:
            tokens = TokenCount(usage.completion_tokens, "usage")
        else:
            tally = TokenTally(model)
            tokens = TokenCount(tally.count(events), tally.source)
        after = arrivals[first_text:] if first_text is not None else []
        return cls(
            time_to_first_chunk=arrivals[0] if arrivals else None,
            ttft=after[0] if after else None,
            e2e=arrivals[-1] if arrivals else None,
            itl=tuple(later - earlier for earlier, later in itertools.pairwise(after)),
            output_tokens=tokens.count,
            token_source=tokens.source,
            chunks=len(arrivals),
        )

    @property
    def tokens(self) -> TokenCount:
        return TokenCount(self.output_tokens, self.token_source)

    @property
    def tokens_estimated(self) -> bool:
        """True when `output_tokens` is an estimate because no usage arrived."""
        return self.tokens.estimated

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
                ("output tokens", self.tokens.value()),
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
