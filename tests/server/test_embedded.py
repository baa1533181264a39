"""Starting, stopping and watching the embedded server; loopback only; quiet in a notebook."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from helpers.server import embedded as embedded_module
from helpers.server.bind import UnsafeBindError
from helpers.server.embedded import EmbeddedServer, ensure_embedded_server
from helpers.server.model import SIMULATED_MODEL
from helpers.server.timing import UnknownProfileError
from tests.support import health

pytestmark = pytest.mark.timeout(30)

ASK = {"model": SIMULATED_MODEL, "messages": [{"role": "user", "content": "Tell me a story."}]}




def test_start_serves_on_a_free_loopback_port_and_stop_frees_it() -> None:
    server = EmbeddedServer(profile="instant")
    started = time.perf_counter()
    url = server.start()
    elapsed = time.perf_counter() - started
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.path) == ("http", "127.0.0.1", "/v1")
    assert parts.port
    assert health(url)["status"] == "ok"
    server.stop()
    server.stop()  # a second stop is harmless
    with pytest.raises(httpx.ConnectError):
        httpx.get(url.removesuffix("/v1") + "/health", timeout=2)
    assert elapsed < 2


def test_health_reports_the_simulation_and_stream_counts() -> None:
    with EmbeddedServer(profile="fast") as server:
        with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
            list(client.chat.completions.create(stream=True, **ASK))  # type: ignore[call-overload]
        report = health(server.base_url)
        stats = server.stats()
    assert report["simulated"] is True
    assert report["model"] == SIMULATED_MODEL
    assert report["profile"] == "fast"
    assert report["requests"] == 1
    assert report["streams"] == {
        "active": 0, "completed": 1, "client_closed": 0, "faulted": 0,
        "chunks_sent": stats.chunks_sent,
    }
    assert stats.chunks_sent > 10


def test_the_server_stops_generating_when_the_client_closes() -> None:
    with EmbeddedServer(profile="fast") as server:
        with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
            stream = client.chat.completions.create(
                stream=True, max_tokens=3000, **ASK  # type: ignore[call-overload]
            )
            for index, _ in enumerate(stream):
                if index == 5:
                    break
            stream.close()
        deadline = time.perf_counter() + 5
        while server.stats().client_closed == 0 and time.perf_counter() < deadline:
            time.sleep(0.01)
        stats = server.stats()
        time.sleep(0.1)
        assert server.stats().chunks_sent == stats.chunks_sent  # nothing more was sent
    assert (stats.client_closed, stats.active, stats.completed) == (1, 0, 0)
    assert stats.chunks_sent < 1000  # 3000 tokens at 1-2 ms each would take seconds


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.2"])
def test_listening_beyond_loopback_needs_a_token(host: str) -> None:
    with pytest.raises(UnsafeBindError, match="without a token"):
        EmbeddedServer(host=host)
    EmbeddedServer(host=host, token="a-room-token")  # allowed once a token guards it; not started


def test_a_busy_port_fails_in_the_caller() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = EmbeddedServer(port=taken.getsockname()[1])
        with pytest.raises(OSError):
            server.start()


def test_ensure_embedded_server_starts_once_with_the_env_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embedded_module, "_shared", None)
    monkeypatch.setenv("TUTORIAL_PROFILE", "fast")
    url = ensure_embedded_server()
    shared = embedded_module._shared
    try:
        assert ensure_embedded_server() == url
        assert health(url)["profile"] == "fast"
    finally:
        assert shared is not None
        shared.stop()


def test_ensure_embedded_server_refuses_an_unknown_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embedded_module, "_shared", None)
    monkeypatch.setenv("TUTORIAL_PROFILE", "warp")
    with pytest.raises(UnknownProfileError, match="warp"):
        ensure_embedded_server()


def test_same_request_same_bytes_across_servers() -> None:
    body = {**ASK, "stream": True, "n": 2}
    contents = []
    for _ in range(2):
        with EmbeddedServer(profile="instant") as server, httpx.Client(timeout=10) as http:
            contents.append(http.post(f"{server.base_url}/chat/completions", json=body).content)
    assert contents[0] == contents[1]
    assert contents[0].count(b"data: ") > 10


def test_in_process_use_prints_nothing() -> None:
    """A notebook shows whatever the kernel writes: the server must stay silent, faults too."""
    script = textwrap.dedent(
        """
        import openai
        from helpers.server.embedded import ensure_embedded_server
        url = ensure_embedded_server()
        client = openai.OpenAI(base_url=url, api_key="k", max_retries=0, timeout=10)
        ask = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "count to 30"}])
        list(client.chat.completions.create(stream=True, **ask))
        client.chat.completions.create(**ask)
        for fault in ("disconnect", "error_event", "server_error"):
            try:
                list(client.chat.completions.create(
                    stream=True, extra_body={"simulation": {"fault": fault}}, **ask))
            except openai.OpenAIError:
                pass
        stream = client.chat.completions.create(
            stream=True, extra_body={"simulation": {"profile": "fast"}}, **ask)
        next(iter(stream))
        stream.close()
        client.close()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
        env={"TUTORIAL_PROFILE": "instant", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_stop_finishes_open_streams_at_once() -> None:
    server = EmbeddedServer(profile="realistic")
    server.start()
    try:
        with httpx.Client(timeout=10) as http, http.stream(
            "POST", f"{server.base_url}/chat/completions", json={**ASK, "stream": True}
        ) as response:
            started = time.perf_counter()
            server.stop()
            stopped = time.perf_counter() - started
            body = response.read()
    finally:
        server.stop()
    assert stopped < 1.0  # the realistic first token alone would take about 1.1 s
    assert body.endswith(b"data: [DONE]\n\n")
    assert server.stats().completed == 1


def test_an_empty_token_means_no_token() -> None:
    with EmbeddedServer(profile="instant", token="") as server, httpx.Client(timeout=10) as http:
        response = http.post(f"{server.base_url}/chat/completions", json=ASK)
    assert response.status_code == 200
