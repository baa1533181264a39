"""Metric formulas on synthetic timestamps whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from openai.types import CompletionUsage

from helpers.chunk_event import ChunkEvent
from helpers.metrics import StreamMetrics, percentile
from helpers.table import Table


def event(
    seconds: float,
    chunk: int,
    text: str = "",
    index: int | None = 0,
    finish: str | None = None,
    usage: CompletionUsage | None = None,
) -> ChunkEvent:
    return ChunkEvent(seconds, chunk, index, text, None, finish, usage)


USAGE = CompletionUsage(prompt_tokens=10, completion_tokens=4, total_tokens=14)
# A role chunk, three text chunks, a finish chunk with no text, and OpenAI's usage-only chunk.
EVENTS = [
    event(0.5, 0),
    event(1.0, 1, "Hello"),
    event(1.1, 2, " wide"),
    event(1.3, 3, " world!"),
    event(1.6, 4, finish="stop"),
    event(1.7, 5, index=None, usage=USAGE),
]


def test_timings_worked_out_by_hand() -> None:
    m = StreamMetrics.from_events(EVENTS, USAGE)
    assert m.time_to_first_chunk == 0.5
    assert m.ttft == 1.0
    # The usage-only chunk carries no token: E2E ends at the finish chunk, as in vLLM.
    assert m.e2e == 1.6
    assert m.itl == pytest.approx((0.1, 0.2, 0.3))
    assert m.itl_mean == pytest.approx(0.2)
    assert m.itl_median == pytest.approx(0.2)
    # Rank (3 - 1) * 0.95 = 1.9: 0.2 + 0.9 * (0.3 - 0.2).
    assert m.itl_p95 == pytest.approx(0.29)
    assert m.itl_p99 == pytest.approx(0.298)
    # (1.6 - 1.0) / (4 - 1)
    assert m.tpot == pytest.approx(0.2)
    assert m.output_tokens == 4
    assert not m.tokens_estimated
    assert m.output_tokens_per_second == pytest.approx(4 / 1.6)
    assert m.chunks == 5
    assert m.chunks_per_second == pytest.approx(5 / 1.6)


def test_ttft_plus_itl_is_e2e() -> None:
    m = StreamMetrics.from_events(EVENTS, USAGE)
    assert m.ttft is not None and m.e2e is not None
    assert m.ttft + sum(m.itl) == pytest.approx(m.e2e)


def test_without_usage_tokens_are_estimated_and_flagged() -> None:
    m = StreamMetrics.from_events(EVENTS[:-1])
    # "Hello wide world!" pre-tokenizes to Hello, " wide", " world", "!".
    assert m.output_tokens == 4
    assert m.tokens_estimated
    assert "≈4 (estimated" in repr(m.table())


def test_reasoning_text_counts_toward_the_estimate() -> None:
    thinking = ChunkEvent(0.2, 0, 0, "", "assistant", None, None, reasoning="Let me see")
    m = StreamMetrics.from_events([thinking, event(0.4, 1, "Yes")])
    assert m.output_tokens == 4
    assert m.time_to_first_chunk == 0.2
    assert m.ttft == 0.4


def test_choices_of_one_chunk_share_an_arrival() -> None:
    events = [
        event(1.0, 0, "a", index=0),
        event(1.0, 0, "b", index=1),
        event(1.5, 1, "c", index=0),
        event(1.5, 1, "d", index=1),
    ]
    m = StreamMetrics.from_events(events)
    assert m.chunks == 2
    assert m.itl == (0.5,)


def test_empty_and_single_token_streams() -> None:
    empty = StreamMetrics.from_events([])
    assert (empty.ttft, empty.e2e, empty.tpot, empty.itl_mean) == (None, None, None, None)
    assert empty.output_tokens == 0
    assert empty.output_tokens_per_second is None
    assert "n/a" in repr(empty.table())

    single = CompletionUsage(prompt_tokens=1, completion_tokens=1, total_tokens=2)
    one = StreamMetrics.from_events([event(0.3, 0, "Yes")], single)
    assert one.tpot is None
    assert one.itl == ()
    assert one.output_tokens_per_second == pytest.approx(1 / 0.3)


def test_no_text_at_all_has_no_ttft() -> None:
    m = StreamMetrics.from_events([event(0.2, 0), event(0.4, 1, finish="stop")])
    assert m.time_to_first_chunk == 0.2
    assert m.ttft is None
    assert m.itl == ()
    assert m.e2e == 0.4


@pytest.mark.parametrize(
    "values", [[5.0], [3.0, 1.0], [0.1, 0.5, 0.2, 0.9, 0.4], list(np.linspace(0, 1, 37) ** 2)]
)
@pytest.mark.parametrize("q", [0, 25, 50, 95, 99, 100])
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_nothing_and_out_of_range() -> None:
    assert percentile([], 50) is None
    with pytest.raises(AssertionError):
        percentile([1.0], 101)


def test_table_reads_as_text_and_html() -> None:
    table = StreamMetrics.from_events(EVENTS, USAGE).table()
    text = repr(table)
    assert "0x" not in text
    lines = text.splitlines()
    assert lines[1] == "time to first token (TTFT)      1.000 s"
    assert "time per output token (TPOT)    200.0 ms" in lines
    assert "<th style='text-align:left'>ITL p95</th><td style='text-align:right'>290.0 ms</td>" in (
        table._repr_html_()
    )


def test_metrics_display_as_their_table() -> None:
    metrics = StreamMetrics.from_events(EVENTS, USAGE)
    assert repr(metrics) == repr(metrics.table())
    assert metrics._repr_html_() == metrics.table()._repr_html_()
    assert "itl=(" not in repr(metrics)


def test_table_escapes_html() -> None:
    table = Table([("<b>", "&")], title="<i>t</i>")
    assert "<b>" not in table._repr_html_()
    assert "&lt;i&gt;t&lt;/i&gt;" in table._repr_html_()
    assert repr(table) == "<i>t</i>\n<b>  &"


def test_every_row_of_the_table_worked_out_by_hand() -> None:
    """Each row's name and figure as a learner reads them (mutation testing, docs/mutation.md:
    only three rows were checked, so a renamed row or a dropped figure went unnoticed)."""
    assert repr(StreamMetrics.from_events(EVENTS, USAGE).table()).splitlines() == [
        "time to first chunk             0.500 s",
        "time to first token (TTFT)      1.000 s",
        "end-to-end latency (E2E)        1.600 s",
        "inter-chunk latency (ITL) mean  200.0 ms",
        "ITL median                      200.0 ms",
        "ITL p95                         290.0 ms",
        "ITL p99                         298.0 ms",
        "time per output token (TPOT)    200.0 ms",
        "output tokens                   4",
        # 4 / 1.6 and 5 / 1.6 = 3.125.
        "output tokens/s                 2.5",
        "chunks                          5",
        "chunks/s                        3.1",
    ]


def test_an_empty_stream_reads_n_a_in_every_row() -> None:
    """No figure is made up for a stream without chunks: n/a, and an estimate of zero tokens."""
    lines = repr(StreamMetrics.from_events([]).table()).splitlines()
    assert [line[32:] for line in lines] == [
        "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a",
        "≈0 (estimated: no usage)", "n/a", "0", "n/a",
    ]


def test_a_first_chunk_without_choices_does_not_hide_the_next() -> None:
    """A keep-alive chunk (no choices) at position 0 leaves chunk 1 the first arrival."""
    m = StreamMetrics.from_events(
        [event(0.1, 0, index=None), event(0.5, 1, "Hi"), event(0.9, 2, finish="stop")]
    )
    assert (m.time_to_first_chunk, m.ttft, m.e2e, m.chunks) == (0.5, 0.5, 0.9, 2)
