"""One server for a room: `python -m helpers serve --host 0.0.0.0 --token T` and what makes it
safe to share. The token is compared in constant time, a full server answers 429 with
Retry-After, a slow body times out, Ctrl-C or SIGTERM let open streams end whole, and
learners need nothing but OPENAI_BASE_URL and OPENAI_API_KEY."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import openai
import pytest

from helpers import backend as backend_module
from helpers.server.app import ServerConfig, create_app
from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL
from helpers.server.testing.process import run_server_process

pytestmark = pytest.mark.timeout(120)

SchemaCheck = Callable[[str, Any], None]
TOKEN = "room-7f3a9c2e51"
COUNT = [{"role": "user", "content": "Count to 30."}]
COUNT_TEXT = ", ".join(str(n) for n in range(1, 31))
TIMEOUT = httpx.Timeout(10.0, connect=2.0)


def ask(stream: bool = True, **extra: Any) -> dict[str, Any]:
    return {"model": SIMULATED_MODEL, "messages": COUNT, "stream": stream, **extra}


def test_a_full_server_answers_429_with_retry_after(openai_schema: SchemaCheck) -> None:
    """Three streams open on a server that takes three: the fourth request, streamed or not, is
    refused the way OpenAI refuses a rate limit; once a stream ends there is room again."""
    with EmbeddedServer(profile="realistic", max_streams=3) as server, httpx.Client(
        base_url=server.base_url, timeout=TIMEOUT
    ) as http:
        open_streams = [
            http.send(http.build_request("POST", "/chat/completions", json=ask(user=str(n))),
                      stream=True)
            for n in range(3)
        ]
        try:
            assert [response.status_code for response in open_streams] == [200] * 3
            refused = [http.post("/chat/completions", json=ask(stream)) for stream in (True, False)]
            with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0,
                               timeout=TIMEOUT) as client, pytest.raises(openai.RateLimitError):
                client.chat.completions.create(model=SIMULATED_MODEL, messages=COUNT)  # type: ignore[arg-type]
        finally:
            for response in open_streams:
                response.close()
        assert wait_until(lambda: server.stats().active == 0)
        again = http.post("/chat/completions", json=ask(False, simulation={"profile": "instant"}))
        health = http.get(http.base_url.join("/health")).json()
    for response in refused:
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.headers["retry-after-ms"] == "1000"
        openai_schema("ErrorResponse", response.json())
        assert response.json()["error"]["code"] == "rate_limit_exceeded"
        assert "busy" in response.json()["error"]["message"]
    assert again.status_code == 200
    assert again.json()["choices"][0]["message"]["content"] == COUNT_TEXT
    assert health["rejected"] == 3


def wait_until(condition: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_the_openai_client_waits_for_a_free_slot_by_itself() -> None:
    """A learner's client keeps its default retries: refused while the room is full, it waits
    the second the server asked for and gets its answer, with no error shown."""
    with EmbeddedServer(profile="realistic", max_streams=1) as server, httpx.Client(
        base_url=server.base_url, timeout=TIMEOUT
    ) as http:
        holder = http.send(http.build_request("POST", "/chat/completions", json=ask()),
                           stream=True)
        release = threading.Timer(0.3, holder.close)
        release.start()
        try:
            with openai.OpenAI(base_url=server.base_url, api_key="k", timeout=TIMEOUT) as client:
                answer = client.chat.completions.create(
                    model=SIMULATED_MODEL, messages=COUNT,  # type: ignore[arg-type]
                    extra_body={"simulation": {"profile": "instant"}},
                )
        finally:
            release.join()
        stats = server.stats()
    assert answer.choices[0].message.content == COUNT_TEXT
    assert stats.rejected >= 1


def test_a_body_that_never_comes_times_out_with_408() -> None:
    """A client that sends headers and part of a body, then nothing, is answered after
    `body_seconds` instead of holding its task for ever."""
    app = create_app(ServerConfig(profile="instant", body_seconds=0.2))
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
        "query_string": b"", "root_path": "", "server": ("127.0.0.1", 80), "client": None,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"500")],
    }
    parts = [{"type": "http.request", "body": b'{"model": ', "more_body": True}]

    async def receive() -> dict[str, Any]:
        if parts:
            return parts.pop()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        with anyio.fail_after(5):
            await app(scope, receive, send)

    started = time.perf_counter()
    anyio.run(run)
    assert time.perf_counter() - started < 2
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["error"]["code"] == "request_timeout"


async def read_stream(base_url: str, learner: int) -> bytes:
    async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT) as http, http.stream(
        "POST", "/chat/completions", json=ask(user=f"learner-{learner}")
    ) as response:
        assert response.status_code == 200
        return await response.aread()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_stopping_lets_every_open_stream_end_whole(stop: signal.Signals) -> None:
    """20 realistic streams are open when the server is told to stop: each still gets all its
    tokens and [DONE] at once, then the server exits 0 and takes no new connection."""
    with run_server_process("--profile", "realistic", "--no-access-log") as server:
        url = server.base_url

        async def room() -> list[bytes]:
            reads = [asyncio.ensure_future(read_stream(url, n)) for n in range(20)]
            # Every stream is open (its request counted) before the signal.
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                while (await http.get(url.removesuffix("/v1") + "/health")).json()["streams"][
                    "active"
                ] < 20:
                    await asyncio.sleep(0.02)
            server.process.send_signal(stop)
            stopped = time.perf_counter()
            bodies = await asyncio.gather(*reads)
            assert time.perf_counter() - stopped < 3
            return bodies

        bodies = asyncio.run(room())
        out, err = server.stop(stop)
        with pytest.raises(httpx.ConnectError):
            httpx.get(url.removesuffix("/v1") + "/health", timeout=2)
    for body in bodies:
        events = [json.loads(line[6:]) for line in body.decode().split("\n\n")[:-2]]
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events)
        assert text == COUNT_TEXT
        assert body.endswith(b"data: [DONE]\n\n")
    assert server.returncode == 0
    assert "Stopped." in out
    assert "Traceback" not in err


def test_learners_need_only_the_base_url_and_the_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A learner's notebook, unedited, against the room's server: OPENAI_BASE_URL and
    OPENAI_API_KEY=token are all it takes, and the token is never printed."""
    with EmbeddedServer(profile="instant", token=TOKEN) as server:
        for name in ("TUTORIAL_BACKEND", "TUTORIAL_MODEL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", TOKEN)
        monkeypatch.setattr(backend_module, "_current", None)
        client = backend_module.get_client()
        chunks = list(client.chat.completions.create(
            model=backend_module.resolve_model(), messages=COUNT, stream=True,  # type: ignore[arg-type]
        ))
        client.close()
        backend = backend_module.current_backend()
    shown = capsys.readouterr().out
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == COUNT_TEXT
    assert (backend.kind, backend.model) == ("compatible", SIMULATED_MODEL)
    assert server.base_url in shown
    assert TOKEN not in shown + repr(backend)


def test_listening_on_every_interface_with_a_token() -> None:
    """The room mode itself: 0.0.0.0 with a token; requests here still go to loopback only."""
    room = ("--host", "0.0.0.0", "--token", TOKEN, "--profile", "instant")
    with run_server_process(*room) as server:
        assert "0.0.0.0" in server.announcement and "token" in server.announcement
        with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
            refused = http.post("/chat/completions", json=ask(False))
            answered = http.post("/chat/completions", json=ask(False),
                                 headers={"Authorization": f"Bearer {TOKEN}"})
        out, _ = server.stop()
    assert refused.status_code == 401
    assert answered.json()["choices"][0]["message"]["content"] == COUNT_TEXT
    assert TOKEN not in out
