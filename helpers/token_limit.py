"""A length limit every engine reads: `max_completion_tokens` also sent as `max_tokens`.

OpenAI's chat API names the limit `max_completion_tokens` and refuses `max_tokens` on its
reasoning models. Several engines (llama-cpp-python's server, older vLLM and Ollama) read only
`max_tokens` and ignore the other name without a word. So the lessons write
`max_completion_tokens`, and a client for an engine that is not OpenAI sends both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx2

_CURRENT = "max_completion_tokens"
_LEGACY = "max_tokens"


def limit_fields(tokens: int, *, openai_api: bool) -> dict[str, int]:
    """The request fields that cap an answer at `tokens`, on OpenAI or on any other engine."""
    if openai_api:
        return {_CURRENT: tokens}
    return {_CURRENT: tokens, _LEGACY: tokens}


def with_legacy_limit(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """`body` with `max_tokens` added when it names only `max_completion_tokens`; else None."""
    if body.get(_CURRENT) is None or _LEGACY in body:
        return None
    return {**body, _LEGACY: body[_CURRENT]}


def _rewritten(request: httpx2.Request) -> httpx2.Request:
    if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
        return request
    try:
        body = json.loads(request.content)
    except ValueError:
        return request
    fuller = with_legacy_limit(body) if isinstance(body, dict) else None
    if fuller is None:
        return request
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return httpx2.Request(
        request.method, request.url, headers=headers, json=fuller, extensions=request.extensions
    )


class LegacyLimitTransport(httpx2.BaseTransport):
    """Sends each chat request through `inner`, with the limit under both names."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self.inner.handle_request(_rewritten(request))

    def close(self) -> None:
        self.inner.close()


class AsyncLegacyLimitTransport(httpx2.AsyncBaseTransport):
    """The async twin of `LegacyLimitTransport`."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self.inner.handle_async_request(_rewritten(request))

    async def aclose(self) -> None:
        await self.inner.aclose()
