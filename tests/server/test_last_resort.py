"""An exception nobody expected still gets OpenAI's JSON 500 and one log line; a stream it
breaks is closed quietly; and the server answers the next request."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from helpers.server.faults import SimulatedDisconnect
from helpers.server.last_resort import ERROR_LOGGER, LastResort

SECRET = "Bearer room-" + "token-never-logged"


async def failing_before_the_answer(scope: Scope, receive: Receive, send: Send) -> None:
    raise ValueError("a bug")


async def failing_mid_stream(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
    raise KeyError("a bug")


def call(app: Any, path: str = "/v1/chat/completions?key=secret") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b'{"secret": 1}', "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http", "method": "POST", "path": raw_path, "raw_path": raw_path.encode(),
        "query_string": query.encode(), "headers": [(b"authorization", SECRET.encode())],
    }
    asyncio.run(LastResort(app)(scope, receive, send))
    return sent


def test_an_unexpected_error_is_a_json_500_and_one_line_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger=ERROR_LOGGER):
        sent = call(failing_before_the_answer)
    start, body = sent
    assert start["status"] == 500
    assert (b"content-type", b"application/json") in start["headers"]
    assert json.loads(body["body"]) == {"error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error", "param": None, "code": None,
    }}
    [record] = caplog.records
    assert record.getMessage() == (
        "ValueError while answering POST /v1/chat/completions: answered 500"
    )
    assert record.exc_info is None
    assert "secret" not in caplog.text and "never-logged" not in caplog.text


def test_a_stream_broken_by_an_error_is_dropped_quietly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger=ERROR_LOGGER), pytest.raises(SimulatedDisconnect):
        call(failing_mid_stream)
    assert [r.getMessage() for r in caplog.records] == [
        "KeyError while answering POST /v1/chat/completions: answered 500"
    ]


def test_the_real_app_answers_a_failure_deep_inside_in_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A planner that raises (a bug) gives the client OpenAI's 500, and the server goes on."""
    from helpers.server import app as app_module
    from helpers.server.app import ServerConfig, create_app

    calls = {"n": 0}
    real = app_module.plan_chat_answer

    def sometimes_broken(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OverflowError("a bug")
        return real(*args)

    monkeypatch.setattr(app_module, "plan_chat_answer", sometimes_broken)
    app = create_app(ServerConfig(profile="instant"))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}]}

    async def twice() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            return [await client.post("/v1/chat/completions", json=body) for _ in range(2)]

    broken, fine = asyncio.run(twice())
    assert broken.status_code == 500
    assert broken.json()["error"]["type"] == "server_error"
    assert fine.status_code == 200 and fine.json()["choices"][0]["message"]["content"] == "hi"
