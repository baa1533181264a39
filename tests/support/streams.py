"""Test streams: recorded OpenAI cassettes and synthetic engine-style SSE, fed to the real client.

Two ways in: an `httpx.MockTransport` (no socket; parts can be delayed or end in an error), and
`ScriptedServer`, a loopback HTTP server that plays timed parts over a real socket and notices
when the client hangs up.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import yaml

from tests.support import DATA

RECORDED = DATA / "recorded"
# Every client here gives up quickly, so a stuck stream fails the test instead of hanging it.
TIMEOUT = httpx.Timeout(10.0, connect=2.0)
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}
MESSAGES = [{"role": "user", "content": "Count to three."}]


@dataclass(frozen=True)
class Cassette:
    """One recorded interaction: what was asked and the raw answer."""

    request: dict[str, Any]
    status: int
    content_type: str
    body: bytes


def load_cassette(name: str) -> Cassette:
    """The first interaction of `recorded/<name>.yaml` (go-vcr format)."""
    data = yaml.safe_load((RECORDED / f"{name}.yaml").read_text())
    interaction = data["interactions"][0]
    response = interaction["response"]
    headers = {key.lower(): values[0] for key, values in response["headers"].items()}
    return Cassette(
        request=json.loads(interaction["request"]["body"]),
        status=response["code"],
        content_type=headers.get("content-type", ""),
        body=response["body"].encode(),
    )


def sse(*payloads: dict[str, Any] | str, done: bool = True) -> bytes:
    """SSE bytes: one `data:` event per payload (dicts as JSON), then `[DONE]` unless told not."""
    events = [p if isinstance(p, str) else json.dumps(p) for p in payloads]
    if done:
        events.append("[DONE]")
    return b"".join(f"data: {event}\n\n".encode() for event in events)


def chunk(
    content: str | None = None,
    *,
    index: int = 0,
    role: str | None = None,
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
    delta_extra: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A `chat.completion.chunk` dict with one choice; `extra` adds top-level vendor fields."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None or role is not None:
        delta["content"] = content
    delta.update(delta_extra or {})
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "test-model",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage
    body.update(extra)
    return body


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def without_choices(**fields: Any) -> dict[str, Any]:
    """A chunk whose `choices` is replaced by `fields` (e.g. choices=None), or dropped if absent."""
    body = chunk()
    del body["choices"]
    body.update(fields)
    return body


# -- engine styles ---------------------------------------------------------------------------


def vllm_style(pieces: Sequence[str], *, with_usage: bool = True) -> bytes:
    """vLLM: role chunk with "", text chunks, a finish chunk with `stop_reason`, usage chunk."""
    events: list[dict[str, Any]] = [chunk("", role="assistant")]
    events += [chunk(piece) for piece in pieces]
    events.append(chunk("", finish_reason="stop", stop_reason=None))
    if with_usage:
        events.append(without_choices(choices=[], usage=usage(9, len(pieces))))
    return sse(*events)


def llamacpp_style(pieces: Sequence[str]) -> bytes:
    """llama.cpp: `content: null` first, usage and `timings` on the finish chunk."""
    timings = {"prompt_n": 9, "prompt_ms": 12.5, "predicted_n": len(pieces), "predicted_ms": 80.0}
    events: list[dict[str, Any]] = [chunk(None, role="assistant")]
    events += [chunk(piece) for piece in pieces]
    events.append(
        chunk(finish_reason="stop", usage=usage(9, len(pieces)), timings=timings)
    )
    return sse(*events)


def ollama_style(pieces: Sequence[str]) -> bytes:
    """Ollama: `role` on every chunk, the finish chunk carries the last text, no usage."""
    events = [chunk(piece, role="assistant") for piece in pieces[:-1]]
    events.append(chunk(pieces[-1], role="assistant", finish_reason="stop"))
    return sse(*events)


# -- clients over a mock transport ----------------------------------------------------------


@dataclass
class Reply:
    """What the mock transport answers: parts sent in order, a pause before each (seconds), and
    optionally an error raised after the last part, as a dropped connection would."""

    parts: Sequence[bytes]
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: dict(SSE_HEADERS))
    delays: Sequence[float] = ()
    fail: Exception | None = None


def reply_of(cassette: Cassette, split: int = 0) -> Reply:
    """The cassette's answer, cut into `split`-byte parts to stress the decoder (0: one part)."""
    body = cassette.body
    parts = [body[i : i + split] for i in range(0, len(body), split)] if split else [body]
    return Reply(parts, cassette.status, {"content-type": cassette.content_type})


def _parts(reply: Reply) -> Iterator[bytes]:
    for position, part in enumerate(reply.parts):
        if position < len(reply.delays):
            time.sleep(reply.delays[position])
        yield part
    if reply.fail is not None:
        raise reply.fail


async def _aparts(reply: Reply) -> AsyncIterator[bytes]:
    for position, part in enumerate(reply.parts):
        if position < len(reply.delays):
            await asyncio.sleep(reply.delays[position])
        yield part
    if reply.fail is not None:
        raise reply.fail


def mock_client(reply: Reply | bytes) -> openai.OpenAI:
    """A real `openai.OpenAI` whose every request gets `reply`."""
    answer = reply if isinstance(reply, Reply) else Reply([reply])

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answer.status, headers=answer.headers, content=_parts(answer))

    transport = httpx.MockTransport(handle)
    return openai.OpenAI(
        api_key="test-key",
        base_url="http://mock.invalid/v1",
        max_retries=0,
        timeout=TIMEOUT,
        http_client=httpx.Client(transport=transport, timeout=TIMEOUT),
    )


def async_mock_client(reply: Reply | bytes) -> openai.AsyncOpenAI:
    """`mock_client` for `openai.AsyncOpenAI`."""
    answer = reply if isinstance(reply, Reply) else Reply([reply])

    async def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answer.status, headers=answer.headers, content=_aparts(answer))

    transport = httpx.MockTransport(handle)
    return openai.AsyncOpenAI(
        api_key="test-key",
        base_url="http://mock.invalid/v1",
        max_retries=0,
        timeout=TIMEOUT,
        http_client=httpx.AsyncClient(transport=transport, timeout=TIMEOUT),
    )


def loopback_client(base_url: str) -> openai.OpenAI:
    """A client for a server on 127.0.0.1 (the embedded one), with the test timeouts."""
    return openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0, timeout=TIMEOUT)


def open_stream(client: openai.OpenAI, **kwargs: Any) -> openai.Stream[Any]:
    """`client.chat.completions.create(..., stream=True)` with test defaults."""
    options: dict[str, Any] = {"model": "test-model", "messages": MESSAGES, "stream": True}
    return client.chat.completions.create(**(options | kwargs))


# -- a loopback server with scripted timing -------------------------------------------------


DROP = b""
"""A part that makes `ScriptedServer` close the socket mid-body, as a crashed server would."""


class ScriptedServer:
    """Serves `parts` after `delays` (chunked HTTP/1.1) on 127.0.0.1 to every POST.

    `client_closed` is set when the client hangs up before the body is complete; it is noticed
    while waiting too, not only on the next write.
    """

    def __init__(self, parts: Sequence[bytes], delays: Sequence[float] = ()) -> None:
        self.parts = list(parts)
        self.delays = list(delays)
        self.client_closed = threading.Event()
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                server.requests += 1
                self.send_response(200)
                self.send_header("content-type", SSE_HEADERS["content-type"])
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                server._play(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def _play(self, handler: BaseHTTPRequestHandler) -> None:
        sock = handler.connection
        for position, part in enumerate(self.parts):
            delay = self.delays[position] if position < len(self.delays) else 0.0
            if self._hung_up(sock, delay):
                self.client_closed.set()
                return
            if part == DROP:
                handler.close_connection = True
                sock.shutdown(socket.SHUT_RDWR)
                return
            try:
                handler.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                handler.wfile.flush()
            except OSError:
                self.client_closed.set()
                return
        handler.wfile.write(b"0\r\n\r\n")

    @staticmethod
    def _hung_up(sock: socket.socket, seconds: float) -> bool:
        """Wait `seconds`, returning early with True if the client closes the connection."""
        deadline = time.monotonic() + seconds
        while True:
            left = max(deadline - time.monotonic(), 0.0)
            readable, _, _ = select.select([sock], [], [], min(left, 0.01))
            if readable:
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:
                    return True
            if left == 0.0:
                return False

    def client(self, **kwargs: Any) -> openai.OpenAI:
        options: dict[str, Any] = {"api_key": "test-key", "max_retries": 0, "timeout": TIMEOUT}
        return openai.OpenAI(base_url=self.base_url, **(options | kwargs))

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def text_parts(pieces: Iterable[str], *, done: bool = True) -> list[bytes]:
    """One SSE part per text piece after a role chunk, with a finish chunk (and `[DONE]`)."""
    parts = [sse(chunk("", role="assistant"), done=False)]
    parts += [sse(chunk(piece), done=False) for piece in pieces]
    parts.append(sse(chunk(finish_reason="stop"), done=done))
    return parts
