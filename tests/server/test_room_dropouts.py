"""Learners dropping streams by the dozen: half close them, half reset the connection, and the
server frees every one. The server is this test's own, so its counters count only these
learners (its realistic pace makes sure no stream ends before its learner leaves)."""

from __future__ import annotations

import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL, generate_reply
from tests.support import health

pytestmark = pytest.mark.timeout(120)

DROPPERS = 50
LONG = [{"role": "user", "content": "Count to 300."}]
SHORT = [{"role": "user", "content": "Count to 20."}]
SHORT_TOKENS = generate_reply(SHORT).tokens
# A client that gives up long before a deadline, so a stuck stream fails instead of hanging.
CLIENT_TIMEOUT = openai.Timeout(10.0, connect=2.0)




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


def test_fifty_learners_dropping_mid_stream_free_every_stream() -> None:
    """Half close their streams after a few chunks, half reset the connection: afterwards no
    stream is open, no task is left behind, and the server answers the next learner whole.

    Each learner is a thread with a sync client: async ones left mid-stream leave async
    generators behind, whose finalisation by a later garbage collection, on any thread, fails.
    """
    with EmbeddedServer(profile="realistic") as server:
        room_after_dropouts(server)


def room_after_dropouts(server: EmbeddedServer) -> None:
    before = server.stats()
    tasks_before = health(server.base_url)["tasks"]
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
    assert wait_for(lambda: health(server.base_url)["tasks"] == tasks_before)
    with openai.OpenAI(
        base_url=server.base_url, api_key="k", max_retries=0, timeout=CLIENT_TIMEOUT
    ) as client:
        answer = client.chat.completions.create(model=SIMULATED_MODEL, messages=SHORT)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "".join(SHORT_TOKENS)
