"""Figures of when a stream's text arrived.

Each function returns a `matplotlib.figure.Figure` made without pyplot, so no global figure state
is left behind and a notebook cell that ends on the call shows the figure exactly once. In
IPython a PNG formatter is registered for figures if none is (as when MPLBACKEND=Agg).
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from helpers.display import in_ipython
from helpers.metrics import uses_o200k
from helpers.server.tokens import count_tokens

if TYPE_CHECKING:
    from helpers.recorder import Recorder

__all__ = [
    "REAL_BLOCKING_SECONDS",
    "plot_arrivals",
    "plot_blocking_vs_streaming",
    "plot_inter_arrival",
    "plot_real_trace",
    "real_trace",
]

_WAIT_COLOR = "#c8c8c8"
_TEXT_COLOR = "#1f77b4"
_MARK_COLOR = "#d62728"
_X_LABEL = "seconds since the request"
_BAR = 0.5
_SIM_COLOR = "#ff7f0e"
# The source lesson's real gpt-4o-mini stream of the count to 100 (OpenAI Cookbook, "How to stream
# completions"): one row per chunk, seconds after the request to 0.01 s, its kind and its text.
_REAL_TRACE = "data/gpt-4o-mini-count-to-100.csv"
# The same prompt sent without streaming in that lesson's run.
REAL_BLOCKING_SECONDS = 1.88


def plot_arrivals(recorder: Recorder) -> Figure:
    """Cumulative tokens received over time, with the first token marked."""
    figure, ax = _figure((8, 3.5))
    # The same rule as the metrics: the pre-tokenizer only where it matches the model's tokens.
    pretokenized = uses_o200k(recorder.model)
    times, totals = [0.0], [0]
    for event in recorder.events:
        if event.text:
            times.append(event.seconds)
            totals.append(totals[-1] + (count_tokens(event.text) if pretokenized else 1))
    ax.step(times, totals, where="post", color=_TEXT_COLOR)
    ax.set_xlabel(_X_LABEL)
    ax.set_ylabel("tokens received")
    ax.set_title("When the tokens arrived")
    ttft = recorder.ttft
    if ttft is None:
        _note(ax, "no text arrived")
    else:
        ax.axvline(ttft, color=_MARK_COLOR, linestyle="--")
        ax.annotate(
            f"first token {ttft:.2f} s",
            (ttft, totals[-1]),
            xytext=(6, -12),
            textcoords="offset points",
            color=_MARK_COLOR,
        )
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    return figure


def plot_blocking_vs_streaming(blocking_seconds: float, recorder: Recorder) -> Figure:
    """When a reader could start reading, and when everything was there, with and without
    streaming; `blocking_seconds` is how long the same request took without `stream=True`."""
    assert blocking_seconds >= 0, f"a duration cannot be negative: {blocking_seconds}"
    metrics = recorder.metrics
    figure, ax = _figure((8, 3))
    ax.barh(1, blocking_seconds, height=_BAR, color=_WAIT_COLOR, label="waiting, nothing to read")
    ax.plot([blocking_seconds], [1], "o", color=_MARK_COLOR)
    ax.annotate(
        f"all at once: {blocking_seconds:.2f} s",
        (blocking_seconds, 1),
        xytext=(8, -4),
        textcoords="offset points",
    )
    if metrics.ttft is not None and metrics.e2e is not None:
        ax.barh(0, metrics.ttft, height=_BAR, color=_WAIT_COLOR)
        ax.barh(
            0,
            metrics.e2e - metrics.ttft,
            height=_BAR,
            left=metrics.ttft,
            color=_TEXT_COLOR,
            label="text arriving, readable",
        )
        ax.plot([metrics.ttft, metrics.e2e], [0, 0], "o", color=_MARK_COLOR)
        ax.annotate(
            f"first words {metrics.ttft:.2f} s",
            (metrics.ttft, -_BAR / 2),
            xytext=(0, -4),
            textcoords="offset points",
            ha="center",
            va="top",
        )
        ax.annotate(
            f"all there {metrics.e2e:.2f} s",
            (metrics.e2e, 0),
            xytext=(8, -4),
            textcoords="offset points",
        )
    else:
        _note(ax, "the stream brought no text")
    end = max(blocking_seconds, metrics.e2e or 0.0)
    ax.set_xlim(0, end * 1.3 or 1.0)
    ax.set_ylim(-0.8, 1.9)
    ax.set_yticks([0, 1], ["streaming", "blocking"])
    ax.set_xlabel(_X_LABEL)
    ax.set_title("When could the reader start?")
    ax.legend(loc="upper left", ncols=2, fontsize="small", frameon=False)
    return figure


def plot_inter_arrival(recorder: Recorder) -> Figure:
    """Histogram of the gaps between chunks (ITL), with the median and p95 marked."""
    metrics = recorder.metrics
    gaps = [gap * 1000 for gap in metrics.itl]
    figure, ax = _figure((8, 3.5))
    ax.set_xlabel("time between chunks (ms)")
    ax.set_ylabel("chunks")
    ax.set_title("Gaps between chunks")
    if not gaps:
        _note(ax, "fewer than two chunks with text")
        return figure
    ax.hist(gaps, bins=min(50, max(10, len(gaps) // 5)), color=_TEXT_COLOR)
    for name, value, style in (
        ("median", metrics.itl_median, "--"),
        ("p95", metrics.itl_p95, ":"),
    ):
        assert value is not None
        label = f"{name} {value * 1000:.1f} ms"
        ax.axvline(value * 1000, color=_MARK_COLOR, linestyle=style, label=label)
    ax.legend(fontsize="small")
    return figure


def real_trace() -> list[tuple[float, str, str]]:
    """The real stream's chunks as (seconds after the request, kind, text)."""
    text = resources.files("helpers").joinpath(_REAL_TRACE).read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return [(float(row["seconds_after_request"]), row["kind"], row["content"]) for row in rows]


def plot_real_trace(recorder: Recorder | None = None) -> Figure:
    """A real gpt-4o-mini stream of the count to 100, chunks received over time, with the real
    blocking request marked; `recorder`'s stream drawn beside it when given."""
    figure, ax = _figure((8, 3.5))
    trace = real_trace()
    times = [0.0, *(seconds for seconds, _, _ in trace)]
    ax.step(times, range(len(times)), where="post", color=_TEXT_COLOR, label="real stream")
    ax.axvline(REAL_BLOCKING_SECONDS, color=_MARK_COLOR, linestyle="--")
    ax.annotate(
        f"real blocking answer {REAL_BLOCKING_SECONDS:.2f} s",
        (REAL_BLOCKING_SECONDS, 10),
        xytext=(6, 0),
        textcoords="offset points",
        color=_MARK_COLOR,
    )
    if recorder is not None:
        own = [0.0, *(event.seconds for event in recorder.events)]
        ax.step(own, range(len(own)), where="post", color=_SIM_COLOR, label="this run")
    ax.set_xlabel(_X_LABEL)
    ax.set_ylabel("chunks received")
    ax.set_title("A real gpt-4o-mini stream, as recorded for the source lesson")
    ax.legend(loc="upper left", fontsize="small", frameon=False)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    return figure


def _figure(size: tuple[float, float]) -> tuple[Figure, Any]:
    _register_png_formatter()
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.add_subplot()


def _note(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="gray")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _register_png_formatter() -> None:
    # matplotlib-inline registers its own formatter once pyplot is imported under the inline
    # backend; without it (MPLBACKEND=Agg, or no pyplot) a returned Figure would show as text.
    if not in_ipython():
        return
    from IPython.core.interactiveshell import InteractiveShell

    display = InteractiveShell.instance().display_formatter
    if display is None:
        return
    formatter = display.formatters["image/png"]
    if formatter.for_type(Figure) is None:
        formatter.for_type(Figure, _png)
