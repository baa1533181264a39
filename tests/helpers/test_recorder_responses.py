"""Recorder, live view and usage panel on Responses API streams (typed events)."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

import openai
import pytest
from openai.types.responses import ResponseUsage

from helpers.live import LiveView
from helpers.recorder import Recorder
from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL
from helpers.usage import show_usage

pytestmark = pytest.mark.timeout(60)

COUNT_PROMPT = "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ..."
COUNT_TEXT = ", ".join(str(n) for n in range(1, 101))
_STATUS = re.compile(r"<div class='streaming-lab-live-status'[^>]*>(.*?)</div>", re.S)


def client_for(server: EmbeddedServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=10)


def record(server: EmbeddedServer, **extra: Any) -> tuple[Recorder, list[Any]]:
    rec = Recorder()
    seen = []
    rec.start()
    with client_for(server) as client, client.responses.create(
        model=SIMULATED_MODEL, input=COUNT_PROMPT, stream=True, **extra
    ) as stream:
        for event in rec.record(stream):
            seen.append(event)
    return rec, seen


def rows(table: Any) -> dict[str, str]:
    return {name.strip(): value for name, value in table.rows}


def test_a_responses_stream_records_text_usage_and_metrics(
    embedded_server: EmbeddedServer,
) -> None:
    rec, events = record(embedded_server)
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert rec.text == COUNT_TEXT and rec.texts == {0: COUNT_TEXT}
    assert rec.chunk_count == len(events) and rec.text_chunks == len(deltas)
    assert isinstance(rec.usage, ResponseUsage) and rec.usage.output_tokens == len(deltas)
    metrics = rec.metrics
    assert metrics.output_tokens == len(deltas) and not metrics.tokens_estimated
    first_delta = next(e.seconds for e in rec.events if e.text)
    assert rec.ttft == metrics.ttft == first_delta
    assert metrics.e2e is not None and metrics.ttft <= metrics.e2e
    assert rec.finish_reasons == {0: "stop"}
    assert rec.problems == []


def test_the_async_recorder_gives_the_same_record(embedded_server: EmbeddedServer) -> None:
    async def arecord() -> Recorder:
        rec = Recorder()
        client = openai.AsyncOpenAI(
            base_url=embedded_server.base_url, api_key="sk-test", max_retries=0, timeout=10
        )
        async with client:
            stream = await client.responses.create(
                model=SIMULATED_MODEL, input=COUNT_PROMPT, stream=True
            )
            async for _ in rec.arecord(stream):
                pass
        return rec

    rec = asyncio.run(asyncio.wait_for(arecord(), timeout=20))
    synced, _ = record(embedded_server)
    assert rec.text == synced.text == COUNT_TEXT
    assert rec.usage == synced.usage
    assert rec.problems == []


def test_max_output_tokens_is_reported_as_a_problem_with_usage(
    embedded_server: EmbeddedServer,
) -> None:
    rec, _ = record(embedded_server, max_output_tokens=16)
    assert rec.usage is not None and rec.usage.output_tokens == 16
    assert rec.finish_reasons == {0: "length"}
    assert any("max_output_tokens" in problem for problem in rec.problems)


def test_a_stream_without_its_final_event_is_flagged(embedded_server: EmbeddedServer) -> None:
    rec, _ = record(embedded_server, extra_body={"simulation": {"fault": "no_done"}})
    assert rec.text == COUNT_TEXT and rec.usage is None
    assert any("response.completed" in problem for problem in rec.problems)
    assert not any("[DONE]" in problem for problem in rec.problems)


def test_an_error_event_keeps_the_partial_text_and_says_why(
    embedded_server: EmbeddedServer,
) -> None:
    simulation = {"fault": "error_event", "after_chunks": 8}
    rec, _ = record(embedded_server, extra_body={"simulation": simulation})
    assert rec.text == "1, 2"
    assert any("Simulated fault after 8 chunks" in problem for problem in rec.problems)


def test_the_usage_panel_shows_input_and_output_tokens(embedded_server: EmbeddedServer) -> None:
    rec, events = record(embedded_server)
    final = events[-1].response
    for source in (rec, final.usage, final):
        shown = rows(show_usage(source))
        assert shown["input tokens"] == str(final.usage.input_tokens)
        assert shown["output tokens"] == str(final.usage.output_tokens)
        assert shown["total tokens"] == str(final.usage.total_tokens)
        assert shown["reasoning tokens"] == "0"


def test_the_live_view_follows_a_responses_stream(
    embedded_server: EmbeddedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    view = LiveView(backend_label="embedded simulation")
    with client_for(embedded_server) as client, client.responses.create(
        model=SIMULATED_MODEL, input=COUNT_PROMPT, stream=True
    ) as stream:
        events = list(view.follow(stream))
    assert events[-1].type == "response.completed"
    status = _STATUS.search(view.value)
    assert status is not None
    assert html.unescape(status.group(1)).startswith("embedded simulation · done · ")
    assert f"· {events[-1].response.usage.output_tokens} tokens ·" in html.unescape(view.value)
    # Whether the view's one-line repr is printed first depends on whether an IPython shell
    # exists in this process (an earlier test may have made one); the final text comes last.
    *before, last = capsys.readouterr().out.splitlines()
    assert last == COUNT_TEXT
    assert all(line.startswith("Live view:") for line in before), before
