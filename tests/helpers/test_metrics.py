"""Metric formulas on synthetic timestamps whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from openai.types import CompletionUsage

from helpers.chunk_event import ChunkEvent
from helpers.metrics import StreamMetrics, TokenCount, TokenTally, percentile, uses_o200k
from helpers.server.tokens import count_tokens
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


def test_without_usage_another_model_counts_one_token_per_text_chunk() -> None:
    m = StreamMetrics.from_events(EVENTS[:-1], model="llama3.2")
    # Three chunks carry text: "Hello", " wide", " world!".
    assert (m.output_tokens, m.token_source, m.tokens_estimated) == (3, "chunks", True)
    assert "output tokens                   ≈3, one per text chunk" in repr(m.table())
    # (1.6 - 1.0) / (3 - 1)
    assert m.tpot == pytest.approx(0.3)


def test_without_usage_an_o200k_model_is_counted_with_the_pre_tokenizer() -> None:
    m = StreamMetrics.from_events(EVENTS[:-1], model="gpt-4o-mini-2024-07-18")
    # "Hello wide world!" pre-tokenizes to Hello, " wide", " world", "!".
    assert (m.output_tokens, m.token_source, m.tokens_estimated) == (4, "o200k", True)
    assert "≈4, estimated with the o200k pre-tokenizer" in repr(m.table())


def test_usage_wins_over_any_estimate() -> None:
    for model in (None, "llama3.2", "gpt-4o"):
        m = StreamMetrics.from_events(EVENTS, USAGE, model=model)
        assert (m.output_tokens, m.token_source, m.tokens_estimated) == (4, "usage", False)


def test_a_llama_cpp_answer_is_not_undercounted() -> None:
    """The bug this guards: llama.cpp sent 64 chunks of one token each, 10 ms apart, with no
    usage. Counted with the o200k pre-tokenizer the answer was 32 tokens, so TPOT read about
    20 ms while a token came every 10 ms."""
    pieces = ["Sun", "light"] * 32  # each pair pre-tokenizes as one word: "Sunlight"
    events = [event(0.1 + 0.01 * i, i, piece) for i, piece in enumerate(pieces)]
    llama = StreamMetrics.from_events(events, model="Llama-3.2-1B-Instruct-Q4_K_M.gguf")
    assert llama.output_tokens == 64
    # (0.73 - 0.1) / (64 - 1)
    assert llama.tpot == pytest.approx(0.010)
    assert llama.itl_mean == pytest.approx(0.010)
    openai = StreamMetrics.from_events(events, model="gpt-4o-mini")
    assert openai.output_tokens == 32
    assert openai.tpot == pytest.approx(0.63 / 31)


def test_reasoning_text_counts_toward_the_estimate() -> None:
    thinking = ChunkEvent(0.2, 0, 0, "", "assistant", None, None, reasoning="Let me see")
    events = [thinking, event(0.4, 1, "Yes")]
    # "Let", " me", " see", "Yes"; or two chunks with text.
    assert StreamMetrics.from_events(events, model="o3-mini").output_tokens == 4
    m = StreamMetrics.from_events(events)
    assert m.output_tokens == 2
    assert m.time_to_first_chunk == 0.2
    assert m.ttft == 0.4


def test_each_choice_is_pre_tokenized_on_its_own() -> None:
    """Two choices' pieces interleave in the stream: "Sunset" and " bigger" are a token each,
    but joined in arrival order they would read "Sun bigsetger", three."""
    events = [
        event(1.0, 0, "Sun", index=0),
        event(1.0, 0, " big", index=1),
        event(1.5, 1, "set", index=0),
        event(1.5, 1, "ger", index=1),
    ]
    assert StreamMetrics.from_events(events, model="gpt-4o").output_tokens == 2
    assert StreamMetrics.from_events(events).output_tokens == 4


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4o-mini-2024-07-18",
        "GPT-4o-mini",
        "chatgpt-4o-latest",
        "gpt-4.1-nano",
        "gpt-4.5-preview",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5.1",
        "o1",
        "o3-mini",
        "o4-mini-2025-04-16",
        "openai/gpt-oss-20b",
        "openai/gpt-4o",
        "gpt-4o-mini-sim",
    ],
)
def test_models_that_tokenize_as_o200k_does(model: str) -> None:
    assert uses_o200k(model)


@pytest.mark.parametrize(
    "model",
    [
        None,
        "",
        "gpt-4",
        "gpt-4-turbo",
        "gpt-3.5-turbo",
        "gpt-4oops",
        "o1x",
        "ollama",
        "llama3.2",
        "Qwen/Qwen2.5-1.5B-Instruct",
        "test-model",
    ],
)
def test_models_that_do_not(model: str | None) -> None:
    assert not uses_o200k(model)


def test_token_counts_say_how_they_were_made() -> None:
    assert TokenCount(64, "usage").label() == "64 tokens"
    assert TokenCount(1, "usage").label() == "1 token"
    assert TokenCount(64, "chunks").label() == "≈64 tokens, one per text chunk"
    assert TokenCount(30, "o200k").label() == "≈30 tokens, estimated with the o200k pre-tokenizer"
    assert TokenCount(64, "usage").value() == "64"
    assert TokenCount(64, "chunks").value() == "≈64, one per text chunk"
    assert TokenCount(30, "o200k").value() == "≈30, estimated with the o200k pre-tokenizer"


# Long words (split into pieces of 8), contractions, spaces, digits, a combining mark, CJK.
_PIECES = st.lists(
    st.sampled_from(
        ["a", "aa", "aaaaa", "B", "'s", " ", "  ", "\n", "7", ",", "/", "日本", "\u0301"]
    ),
    max_size=4,
).map("".join)


@given(pieces=st.lists(_PIECES, max_size=40))
# A word of 24 letters read in uneven chunks: counted again from inside its split pieces, it
# would come to 4 tokens instead of 3.
@example(pieces=["aaaaaaa", "aaa", "aa", "aa", "aaaaa", "aaaaa"])
# "\n " is two tokens, "\n \n" one: the last two tokens may still merge.
@example(pieces=["\n ", "\n"])
def test_a_tally_counted_chunk_by_chunk_ends_where_one_count_ends(pieces: list[str]) -> None:
    """Counting after every chunk ends on the count of the whole text, so the live view's
    number does not jump when the stream ends."""
    events = [event(0.0, i, piece) for i, piece in enumerate(pieces)]
    live = TokenTally("gpt-4o")
    for end in range(len(events)):
        live.count(events[:end])
    assert live.count(events) == count_tokens("".join(pieces))
    assert TokenTally("gpt-4o").count(events) == count_tokens("".join(pieces))


def test_a_tally_settles_text_so_each_frame_reads_only_the_new() -> None:
    events = [event(0.0, i, f" word{i}") for i in range(1_000)]
    tally = TokenTally("gpt-4o")
    for end in range(1, 1_001):
        tally.count(events[:end])
    assert tally.count(events) == 2_000  # " word" and the number, each time
    assert len(tally._tails[0]) < 20


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
        "≈0, one per text chunk", "n/a", "0", "n/a",
    ]


def test_a_first_chunk_without_choices_does_not_hide_the_next() -> None:
    """A keep-alive chunk (no choices) at position 0 leaves chunk 1 the first arrival."""
    m = StreamMetrics.from_events(
        [event(0.1, 0, index=None), event(0.5, 1, "Hi"), event(0.9, 2, finish="stop")]
    )
    assert (m.time_to_first_chunk, m.ttft, m.e2e, m.chunks) == (0.5, 0.5, 0.9, 2)
