"""What the lessons' prose says about time holds in a fresh run.

nbval cannot see these: notebooks/sanitize.cfg masks every duration, so a swapped or broken
figure would replay clean. Each test reads the figures a cell printed in a fresh run on the
simulation and checks the relation the prose around it teaches.
"""

from __future__ import annotations

import re

import pytest
from nbformat import NotebookNode

from tests.notebooks.conftest import FreshLesson

pytestmark = [pytest.mark.notebook, pytest.mark.slow, pytest.mark.timeout(600)]


def printed(nb: NotebookNode) -> str:
    """Every text a code cell showed: printed lines, plain and Markdown results."""
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            data = output.get("data", {})
            texts += [data.get("text/plain", ""), data.get("text/markdown", "")]
    return "\n".join(texts)


def seconds(pattern: str, text: str) -> list[float]:
    match = re.search(pattern, text)
    assert match is not None, f"no output matches {pattern!r}"
    return [float(group) for group in match.groups()]


def test_03_streaming_shows_text_long_before_the_blocking_answer(
    fresh_lesson: FreshLesson,
) -> None:
    text = printed(fresh_lesson("03_time_saved.ipynb"))
    [blocking] = seconds(r"Nothing, then the whole answer after (\d+\.\d+) s\.", text)
    first_text, whole = seconds(r"\| streaming \| (\d+\.\d+) s \| (\d+\.\d+) s \|", text)
    [ttft] = seconds(r"time to first token \(TTFT\)\s+(\d+\.\d+) s", text)
    [e2e] = seconds(r"end-to-end latency \(E2E\)\s+(\d+\.\d+) s", text)
    assert first_text < whole
    assert ttft < e2e
    # "The reader sees text after about a second instead of after the whole answer."
    assert first_text < blocking / 2
    # The arrivals listing: the first chunk with text comes after the role chunk, not before.
    arrivals = [float(s) for s in re.findall(r"^(\d+\.\d{3}) s  '", text, re.MULTILINE)]
    assert arrivals == sorted(arrivals) and len(arrivals) == 10


def test_05_a_read_timeout_fires_at_about_the_time_set(fresh_lesson: FreshLesson) -> None:
    text = printed(fresh_lesson("05_when_streams_fail.ipynb"))
    # Timeout(3.0) against a first byte held back 5 s: about three seconds, not five.
    [timed_out] = seconds(r"APITimeoutError after (\d+\.\d+) s", text)
    assert 3.0 <= timed_out < 3.5
    # Two retries, each after the 0.5 s that retry-after-ms asks for, and no server to wait on.
    [gave_up] = seconds(r"RateLimitError 429 after (\d+\.\d+) s", text)
    assert 1.0 <= gave_up < 1.5


def test_06_all_at_once_is_faster_than_one_after_another(fresh_lesson: FreshLesson) -> None:
    text = printed(fresh_lesson("06_async_and_many_streams.ipynb"))
    [one_by_one] = seconds(r"One after another: (\d+\.\d+) s", text)
    [at_once] = seconds(r"All at once:\s+(\d+\.\d+) s", text)
    # Four streams at once take about as long as the longest one, not the sum of all four.
    assert at_once < one_by_one / 2
