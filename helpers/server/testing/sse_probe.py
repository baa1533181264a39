"""A bare HTTP/1.0 client for the server's SSE answers, for the load test and its benchmark.

It only notes when each read came and parses afterwards: on two cores httpx's async pool took
more CPU than the server it was measuring (sending 100 requests took it 1 to 5 s).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Received", "fetch", "post_request"]


@dataclass(frozen=True)
class Received:
    """An answer as the client saw it: when the request had been sent, the response head, and
    every read of the body with the time it came."""

    sent: float
    head: bytes
    reads: tuple[tuple[float, bytes], ...]

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.reads)

    def events(self) -> list[tuple[float, bytes]]:
        """The SSE events, each with the time of the read that completed it."""
        events: list[tuple[float, bytes]] = []
        pending = b""
        for arrived, data in self.reads:
            *complete, pending = (pending + data).split(b"\n\n")
            events.extend((arrived, event) for event in complete)
        assert pending == b"", "the stream ended inside an event"
        return events


def post_request(base_url: str, body: dict[str, Any]) -> bytes:
    """The bytes of an HTTP/1.0 POST of `body` to the chat completions endpoint under
    `base_url`."""
    url = urlsplit(base_url)
    payload = json.dumps(body).encode()
    return (
        f"POST {url.path}/chat/completions HTTP/1.0\r\nHost: {url.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


async def fetch(base_url: str, body: dict[str, Any], timeout: float = 30.0) -> Received:
    """POST `body` on a connection of its own and read the whole answer (HTTP/1.0, so the body
    comes unchunked and ends with the connection). Fails unless the status is 200."""
    url = urlsplit(base_url)
    request = post_request(base_url, body)
    reads: list[tuple[float, bytes]] = []
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            writer.write(request)
            sent = time.perf_counter()
            head = await reader.readuntil(b"\r\n\r\n")
            while data := await reader.read(1 << 16):
                reads.append((time.perf_counter(), data))
        finally:
            writer.close()
            await writer.wait_closed()
    assert head.split(b" ", 2)[1] == b"200", head
    return Received(sent, head, tuple(reads))
