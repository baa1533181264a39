"""Failures a room will meet: learners dropping streams by the dozen, and every injected fault
seen through the helpers as a learner sees it, in one sentence beside the text that arrived."""

from __future__ import annotations

import html
import re
import socket
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from helpers.live import LiveView
from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL, generate_reply

pytestmark = pytest.mark.timeout(120)

DROPPERS = 50
LONG = [{"role": "user", "content": "Count to 300."}]
SHORT = [{"role": "user", "content": "Count to 20."}]
SHORT_TOKENS = generate_reply(SHORT).tokens
# A client that gives up long before a deadline, so a stuck stream fails instead of hanging.
CLIENT_TIMEOUT = openai.Timeout(10.0, connect=2.0)


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    """A server of this module's own, so that its counters count only these tests. Its
    realistic pace makes sure no stream ends before its learner leaves."""
    with EmbeddedServer(profile="realistic") as running:
        yield running


def health(server: EmbeddedServer) -> dict[str, Any]:
    response = httpx.get(server.base_url.removesuffix("/v1") + "/health", timeout=5)
    assert response.status_code == 200
    report: dict[str, Any] = response.json()
    return report


def wait_for(condition: Any, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def read_then_leave(base_url: str, chunks: int) -> int:
    """A learner who reads `chunks` chunks and closes the stream (a notebook cell stopped)."""
    with openai.OpenAI(
        base_url=base_url, api_key="k", max_retries=0, timeout=CLIENT_TIMEOUT
    ) as client, client.chat.completions.create(
        model=SIMULATED_MODEL, messages=LONG, stream=True  # type: ignore[arg-type]
    ) as stream:
        return len([chunk for _, chunk in zip(range(chunks), stream, strict=False)])


def reset_after_first_chunk(base_url: str) -> None:
    """A laptop that vanishes: the connection is reset (RST), not closed politely."""
    url = httpx.URL(base_url)
    assert url.port is not None
    body = (
        b'{"model": "%s", "stream": true, "messages": [{"role": "user", "content": '
        b'"Count to 300."}]}' % SIMULATED_MODEL.encode()
    )
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(
            f"POST {url.path}/chat/completions HTTP/1.1\r\nHost: {url.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while b"data: " not in received:
            received += sock.recv(1 << 16)
        # Linger 0: closing sends a reset at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_fifty_learners_dropping_mid_stream_free_every_stream(server: EmbeddedServer) -> None:
    """Half close their streams after a few chunks, half reset the connection: afterwards no
    stream is open, no task is left behind, and the server answers the next learner whole.

    Each learner is a thread with a sync client: async ones left mid-stream leave async
    generators behind, whose finalisation by a later garbage collection, on any thread, fails.
    """
    before = server.stats()
    tasks_before = health(server)["tasks"]
    with ThreadPoolExecutor(max_workers=DROPPERS) as room:
        polite = [
            room.submit(read_then_leave, server.base_url, 5 + n % 10)
            for n in range(DROPPERS // 2)
        ]
        rude = [
            room.submit(reset_after_first_chunk, server.base_url)
            for _ in range(DROPPERS - DROPPERS // 2)
        ]
        read = [future.result(timeout=60) for future in polite]
        for future in rude:
            future.result(timeout=60)
    assert read == [5 + n % 10 for n in range(DROPPERS // 2)]
    assert wait_for(lambda: server.stats().client_closed - before.client_closed == DROPPERS)
    after = server.stats()
    assert after.active == 0
    assert after.completed == before.completed
    # The health request's own task is there both times; the droppers' tasks are all gone.
    assert wait_for(lambda: health(server)["tasks"] == tasks_before)
    with openai.OpenAI(
        base_url=server.base_url, api_key="k", max_retries=0, timeout=CLIENT_TIMEOUT
    ) as client:
        answer = client.chat.completions.create(model=SIMULATED_MODEL, messages=SHORT)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "".join(SHORT_TOKENS)


def follow(
    server: EmbeddedServer, simulation: dict[str, Any], timeout: float = 10.0
) -> LiveView:
    """Stream the short count through a LiveView that shows errors, as a notebook cell does."""
    view = LiveView(errors="show", backend_label="test")
    with openai.OpenAI(
        base_url=server.base_url, api_key="k", max_retries=0,
        timeout=openai.Timeout(timeout, connect=2.0),
    ) as client, view:
        stream = client.chat.completions.create(
            model=SIMULATED_MODEL, messages=SHORT, stream=True,  # type: ignore[arg-type]
            extra_body={"simulation": {"profile": "fast", **simulation}},
        )
        with stream:
            for _ in view.follow(stream):
                pass
    return view


def message(view: LiveView) -> str:
    """The sentence the view shows under the text (in its message line)."""
    assert view.recorder.finished
    found = re.search(r"<div class='streaming-lab-live-message'[^>]*>(.*?)</div>", view.value)
    assert found is not None, "the view shows no message"
    return html.unescape(found.group(1))


@pytest.mark.parametrize(
    ("fault", "sentence"),
    [
        ("rate_limit", "Too many requests (429 rate limit): wait 1 s"),
        ("server_error", "The server failed (HTTP 500)"),
    ],
)
def test_refused_requests_are_one_sentence(
    server: EmbeddedServer, fault: str, sentence: str, capsys: pytest.CaptureFixture[str]
) -> None:
    view = follow(server, {"fault": fault})
    assert message(view).startswith(sentence)
    assert view.recorder.text == ""
    assert sentence in capsys.readouterr().out


@pytest.mark.parametrize(
    ("simulation", "sentence"),
    [
        (
            {"fault": "error_event", "after_chunks": 8},
            "The server sent an error in the middle of the stream after 8 chunks",
        ),
        ({"fault": "disconnect", "after_chunks": 8}, "The connection broke after 8 chunks"),
    ],
)
def test_a_stream_failing_midway_keeps_its_partial_text(
    server: EmbeddedServer, simulation: dict[str, Any], sentence: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    view = follow(server, simulation)
    # Chunk 0 is the role; the seven after it carried the first seven tokens.
    partial = "".join(SHORT_TOKENS[:7])
    assert message(view).startswith(sentence)
    assert view.recorder.text == partial
    assert view.recorder.chunk_count == 8
    shown = capsys.readouterr().out
    assert shown.startswith(partial + "\n\n") and sentence in shown


def test_a_stall_becomes_a_timeout_with_the_partial_text(
    server: EmbeddedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    view = follow(server, {"fault": "stall", "after_chunks": 6, "seconds": 30}, timeout=0.5)
    assert time.perf_counter() - started < 5
    assert message(view).startswith("The request timed out after 6 chunks")
    assert view.recorder.text == "".join(SHORT_TOKENS[:5])
    assert "timed out" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("fault", "sentence"),
    [
        ("no_done", "The stream ended without its closing [DONE] event"),
        ("no_finish", "No finish_reason arrived for choice 0"),
    ],
)
def test_silent_endings_are_named_beside_the_whole_text(
    server: EmbeddedServer, fault: str, sentence: str, capsys: pytest.CaptureFixture[str]
) -> None:
    view = follow(server, {"fault": fault})
    assert view.recorder.error is None
    assert view.recorder.text == "".join(SHORT_TOKENS)
    assert sentence in message(view)
    assert sentence in capsys.readouterr().out
