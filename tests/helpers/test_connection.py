"""The real connection under a client with its own transport keeps the environment's proxy."""

from __future__ import annotations

import httpx2
import pytest

from helpers.connection import environment_proxy


@pytest.fixture
def behind_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for lower in ("https_proxy", "http_proxy", "no_proxy"):
        monkeypatch.delenv(lower, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")


@pytest.mark.usefixtures("behind_a_proxy")
def test_the_environments_proxy_is_kept_except_where_bypassed() -> None:
    """A client given its own transport ignores HTTPS_PROXY: these transports must not, or a
    learner behind a proxy could not reach OpenAI or an engine through it."""
    assert environment_proxy(httpx2.URL("https://api.openai.com/v1")) == (
        "http://proxy.invalid:3128"
    )
    assert environment_proxy(httpx2.URL("https://localhost/v1")) is None
    assert environment_proxy(httpx2.URL("http://engine.example/v1")) is None, "no HTTP_PROXY"
