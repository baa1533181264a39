"""The access log: one line per request, never a header, the token or the query string."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from helpers.server.access_log import ACCESS_LOGGER, AccessLog
from helpers.server.model import SIMULATED_MODEL
from helpers.server.testing.process import run_server_process

pytestmark = pytest.mark.timeout(60)

TOKEN = "room-7f3a9c2e51"
TIMEOUT = httpx.Timeout(10.0, connect=2.0)
# Key-shaped strings put together at run time, so that none is tracked in the repository.
QUERY_KEY = "sk-" + "proj-QUERYSECRET0123456789"
WRONG_KEY = "sk-" + "wrong-KEY-0123456789"


def ask(stream: bool = True) -> dict[str, Any]:
    content = "Count to 30."
    return {"model": SIMULATED_MODEL, "messages": [{"role": "user", "content": content}],
            "stream": stream}


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"hello", "more_body": True})
    await send({"type": "http.response.body", "body": b" world"})


async def dropping(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise ConnectionResetError("dropped")


def get(app: AccessLog, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app, client=("10.1.2.3", 4567))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.get(path, headers=headers)

    return asyncio.run(run())


def test_a_line_names_client_method_path_status_and_bytes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        answer = get(AccessLog(hello), f"/v1/some%20where?api_key={QUERY_KEY}",
                     {"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 201
    [record] = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    line = record.getMessage()
    assert line.startswith('10.1.2.3:4567 "GET /v1/some%20where" 201 11 bytes ')
    assert line.endswith(" s")
    for secret in (TOKEN, QUERY_KEY, "api_key", "?"):
        assert secret not in line


def test_a_dropped_connection_is_logged_as_such(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER), pytest.raises(
        ConnectionResetError
    ):
        get(AccessLog(dropping), "/health")
    [record] = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert '"GET /health" 200 0 bytes' in record.getMessage()
    assert record.getMessage().endswith(" s (connection dropped)")


def test_the_access_log_names_each_request_and_no_secret() -> None:
    """One line per request on stdout: method, path, status; never the token, a header or the
    query string (where some clients put keys)."""
    secret_query = f"api_key={QUERY_KEY}"
    with run_server_process("--profile", "instant", "--token", TOKEN) as server, httpx.Client(
        base_url=server.base_url, timeout=TIMEOUT
    ) as http:
        guarded = {"Authorization": f"Bearer {TOKEN}"}
        statuses = [
            http.post("/chat/completions", json=ask(False), headers=guarded).status_code,
            http.post("/chat/completions", json=ask(True), headers=guarded).status_code,
            http.post("/chat/completions", json=ask(False),
                      headers={"Authorization": f"Bearer {WRONG_KEY}"}).status_code,
            http.get(f"/models?{secret_query}", headers=guarded).status_code,
            http.get(http.base_url.join("/health")).status_code,
        ]
        out, err = server.stop()
    assert statuses == [200, 200, 401, 200, 200]
    lines = [line for line in out.splitlines() if '"' in line]
    assert [line.split('"')[1] for line in lines] == [
        "POST /v1/chat/completions", "POST /v1/chat/completions", "POST /v1/chat/completions",
        "GET /v1/models", "GET /health",
    ]
    assert [int(line.split('"')[2].split()[0]) for line in lines] == statuses
    for secret in (TOKEN, "QUERYSECRET", "sk-wrong", "Bearer", "api_key", "?"):
        assert secret not in out + err


def test_the_access_log_can_be_turned_off() -> None:
    with run_server_process("--profile", "instant", "--no-access-log") as server:
        assert httpx.get(server.base_url + "/models", timeout=TIMEOUT).status_code == 200
        out, _ = server.stop()
    assert "GET /v1/models" not in out
    assert out.strip().endswith("Stopped.")
