"""The length limit under both names: only on chat requests, only when the old name is absent."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import openai
import pytest

from helpers.token_limit import (
    AsyncLegacyLimitTransport,
    LegacyLimitTransport,
    limit_fields,
    with_legacy_limit,
)

ANSWER = {
    "id": "c",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}


def test_openai_gets_only_the_current_name_and_engines_get_both() -> None:
    assert limit_fields(12, openai_api=True) == {"max_completion_tokens": 12}
    assert limit_fields(12, openai_api=False) == {"max_completion_tokens": 12, "max_tokens": 12}


@pytest.mark.parametrize(
    ("body", "fuller"),
    [
        ({"max_completion_tokens": 5}, {"max_completion_tokens": 5, "max_tokens": 5}),
        ({"max_completion_tokens": 5, "max_tokens": 9}, None),
        ({"max_tokens": 9}, None),
        ({"max_completion_tokens": None}, None),
        ({}, None),
    ],
)
def test_the_old_name_is_added_only_when_missing(
    body: dict[str, Any], fuller: dict[str, Any] | None
) -> None:
    assert with_legacy_limit(body) == fuller


def _recording(seen: list[httpx2.Request]) -> httpx2.MockTransport:
    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=ANSWER)

    return httpx2.MockTransport(answer)


def test_the_real_client_sends_both_names_through_the_transport() -> None:
    seen: list[httpx2.Request] = []
    http_client = httpx2.Client(transport=LegacyLimitTransport(_recording(seen)))
    with openai.OpenAI(base_url="http://engine/v1", api_key="k", http_client=http_client) as c:
        reply = c.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hi"}], max_completion_tokens=3
        )
    assert reply.choices[0].message.content == "ok"
    body = json.loads(seen[0].content)
    assert (body["max_completion_tokens"], body["max_tokens"]) == (3, 3)
    assert seen[0].headers["content-length"] == str(len(seen[0].content))


def test_other_requests_pass_unchanged() -> None:
    seen: list[httpx2.Request] = []
    transport = LegacyLimitTransport(_recording(seen))
    original = httpx2.Request(
        "POST", "http://engine/v1/embeddings", json={"max_completion_tokens": 3}
    )
    transport.handle_request(original)
    models = httpx2.Request("GET", "http://engine/v1/models")
    transport.handle_request(models)
    assert seen == [original, models]


def test_the_async_transport_sends_both_names() -> None:
    seen: list[httpx2.Request] = []

    async def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=ANSWER)

    async def ask() -> None:
        http_client = httpx2.AsyncClient(
            transport=AsyncLegacyLimitTransport(httpx2.MockTransport(answer))
        )
        async with openai.AsyncOpenAI(
            base_url="http://engine/v1", api_key="k", http_client=http_client
        ) as client:
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Hi"}], max_completion_tokens=4
            )

    asyncio.run(ask())
    assert json.loads(seen[0].content)["max_tokens"] == 4
