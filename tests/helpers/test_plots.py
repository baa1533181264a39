"""The figures: their data, labels and reprs, headless, and shown once in a real kernel."""

from __future__ import annotations

import os
import re
import textwrap

import nbformat
import pytest
from matplotlib import _pylab_helpers
from matplotlib.figure import Figure
from nbclient import NotebookClient

from helpers.plots import plot_arrivals, plot_blocking_vs_streaming, plot_inter_arrival
from helpers.recorder import Recorder
from tests.support.streams import Reply, chunk, mock_client, open_stream, sse

pytestmark = pytest.mark.timeout(60)

ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
PIECES = ["One", ",", " two", ",", " three", "."]


def recorded(delays: list[float]) -> Recorder:
    """A recording of PIECES (after a role chunk) with `delays` before each chunk."""
    events = [chunk("", role="assistant"), *(chunk(p) for p in PIECES), chunk(finish_reason="stop")]
    reply = Reply([sse(e, done=False) for e in events] + [sse()], delays=delays)
    rec = Recorder()
    rec.start()
    with open_stream(mock_client(reply)) as stream:
        for _ in rec.record(stream):
            pass
    return rec


@pytest.fixture(scope="module")
def rec() -> Recorder:
    return recorded([0.05, 0.1, 0.01, 0.03, 0.01, 0.05, 0.01, 0.0])


def test_arrivals_plot_counts_every_token(rec: Recorder) -> None:
    figures = _pylab_helpers.Gcf.get_num_fig_managers()
    figure = plot_arrivals(rec)
    assert isinstance(figure, Figure)
    assert _pylab_helpers.Gcf.get_num_fig_managers() == figures  # no pyplot state
    ax = figure.axes[0]
    assert ax.get_xlabel() == "seconds since the request"
    assert ax.get_ylabel() == "tokens received"
    steps = ax.lines[0]
    assert list(steps.get_ydata()) == [0, 1, 2, 3, 4, 5, 6]
    assert steps.get_xdata()[1] == pytest.approx(rec.ttft)
    first_token = ax.lines[1]
    assert list(first_token.get_xdata()) == [rec.ttft, rec.ttft]
    assert any(text.get_text().startswith("first token 0.") for text in ax.texts)
    assert tuple(figure.get_size_inches()) == (8, 3.5)
    assert repr(figure) == "<Figure size 800x350 with 1 Axes>"


def test_blocking_vs_streaming_bars(rec: Recorder) -> None:
    figure = plot_blocking_vs_streaming(1.2, rec)
    ax = figure.axes[0]
    bars = [(p.get_x(), p.get_y() + p.get_height() / 2, p.get_width()) for p in ax.patches]
    metrics = rec.metrics
    assert metrics.ttft is not None and metrics.e2e is not None
    assert bars[0] == pytest.approx((0, 1, 1.2))
    assert bars[1] == pytest.approx((0, 0, metrics.ttft))
    assert bars[2] == pytest.approx((metrics.ttft, 0, metrics.e2e - metrics.ttft))
    assert [label.get_text() for label in ax.get_yticklabels()] == ["streaming", "blocking"]
    assert ax.get_xlabel() == "seconds since the request"
    assert any(text.get_text() == "all at once: 1.20 s" for text in ax.texts)
    assert not ADDRESS.search(repr(figure))


def test_inter_arrival_histogram_holds_every_gap(rec: Recorder) -> None:
    figure = plot_inter_arrival(rec)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "time between chunks (ms)"
    assert sum(patch.get_height() for patch in ax.patches) == len(rec.metrics.itl) == 6
    assert ax.get_legend() is not None
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0].startswith("median ") and labels[0].endswith(" ms")


def test_empty_recording_still_gives_labelled_figures() -> None:
    empty = Recorder()
    for _ in empty.record([]):
        pass
    for figure in (
        plot_arrivals(empty),
        plot_blocking_vs_streaming(0.5, empty),
        plot_inter_arrival(empty),
    ):
        ax = figure.axes[0]
        assert ax.get_xlabel()
        assert any(text.get_text() for text in ax.texts)
        figure.savefig(os.devnull, format="png")


def test_figures_render_headless(rec: Recorder) -> None:
    figures = plot_arrivals(rec), plot_blocking_vs_streaming(1.0, rec), plot_inter_arrival(rec)
    for figure in figures:
        assert figure.canvas.__class__.__name__ == "FigureCanvasBase"
        figure.savefig(os.devnull, format="png")


_SETUP = """
    from openai.types.chat import ChatCompletionChunk
    from helpers.plots import plot_arrivals, plot_blocking_vs_streaming, plot_inter_arrival
    from helpers.recorder import Recorder
    rec = Recorder()
    chunks = [
        ChatCompletionChunk.model_validate({
            "id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
        })
        for word in ["a", " b", " c", " d"]
    ]
    for _ in rec.record(chunks):
        pass
"""
_PLOTS = [
    "plot_arrivals(rec)",
    "plot_blocking_vs_streaming(1.5, rec)",
    "plot_inter_arrival(rec)",
    "import matplotlib.pyplot as plt\nplot_arrivals(rec)",
]


@pytest.mark.slow
@pytest.mark.parametrize("backend", [None, "Agg"])
def test_a_returned_figure_shows_once_in_a_kernel(backend: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    if backend is not None:
        env["MPLBACKEND"] = backend
    nb = nbformat.v4.new_notebook()
    cells = [textwrap.dedent(_SETUP).strip(), *_PLOTS]
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(nb, kernel_name="python3", timeout=90).execute(env=env)
    assert nb.cells[0].outputs == []
    for cell in nb.cells[1:]:
        assert len(cell.outputs) == 1, cell.source
        data = cell.outputs[0].data
        assert set(data) == {"text/plain", "image/png"}
        assert data["text/plain"].startswith("<Figure size 800x")
        assert not ADDRESS.search(data["text/plain"])


@pytest.mark.parametrize(
    ("model", "totals"),
    [("gpt-4o-mini-sim", [0, 3, 6]), ("tiny-engine", [0, 1, 2])],
)
def test_arrivals_count_tokens_as_the_metrics_do(model: str, totals: list[int]) -> None:
    # Three words a chunk: the pre-tokenizer counts three tokens for OpenAI's models and the
    # simulation; for another model only the chunks are known.
    events = [chunk("One two three", model=model), chunk(" four five six", model=model)]
    reply = Reply([sse(e, done=False) for e in events] + [sse()], delays=[0.0, 0.0, 0.0])
    rec = Recorder()
    rec.start()
    with open_stream(mock_client(reply)) as stream:
        for _ in rec.record(stream):
            pass
    assert list(plot_arrivals(rec).axes[0].lines[0].get_ydata()) == totals
