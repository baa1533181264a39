"""The bare SSE client: it reads a whole stream and notes when each read came."""

from __future__ import annotations

import asyncio
import json
from itertools import pairwise

import pytest

from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL
from helpers.server.testing.sse_probe import Received, fetch

pytestmark = pytest.mark.timeout(60)

COUNT = {"model": SIMULATED_MODEL, "messages": [{"role": "user", "content": "Count to 5."}],
         "stream": True}


def test_fetch_reads_the_whole_stream_and_times_each_read() -> None:
    with EmbeddedServer(profile="fast") as server:
        received = asyncio.run(fetch(server.base_url, COUNT))
    assert received.head.startswith(b"HTTP/1.1 200 ")
    assert b"text/event-stream" in received.head
    times = [arrived for arrived, _ in received.reads]
    assert received.sent <= times[0]
    assert all(a <= b for a, b in pairwise(times))
    events = received.events()
    assert events[-1][1] == b"data: [DONE]"
    text = "".join(
        json.loads(event[len(b"data: "):])["choices"][0]["delta"].get("content") or ""
        for _, event in events[:-1]
    )
    assert text == "1, 2, 3, 4, 5"
    # "fast" waits tens of ms for the first token: the reads were not all at once.
    assert times[-1] - received.sent > 0.01


def test_fetch_refuses_an_answer_that_is_not_200() -> None:
    with EmbeddedServer(profile="instant") as server, pytest.raises(AssertionError, match="400"):
        asyncio.run(fetch(server.base_url, {"model": SIMULATED_MODEL}))


def test_events_are_split_across_reads_and_timed_by_the_read_that_completed_them() -> None:
    received = Received(1.0, b"", ((2.0, b"data: a\n\ndata: "), (3.0, b"b\n\n")))
    assert received.body == b"data: a\n\ndata: b\n\n"
    assert received.events() == [(2.0, b"data: a"), (3.0, b"data: b")]


def test_a_stream_ending_inside_an_event_is_an_error() -> None:
    with pytest.raises(AssertionError, match="inside an event"):
        Received(1.0, b"", ((2.0, b"data: a\n\ndata: b"),)).events()
