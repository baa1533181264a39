"""Each injected fault, and what the real openai client makes of it."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import httpx
import openai
import pytest

from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL

pytestmark = pytest.mark.timeout(30)

SchemaCheck = Callable[[str, Any], None]

COUNT = [{"role": "user", "content": "count to 50"}]


def client_for(base_url: str, *, retries: int = 0, timeout: float = 10) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="k", max_retries=retries, timeout=timeout)


def simulate(**controls: Any) -> dict[str, Any]:
    return {"simulation": controls}


def test_rate_limit_answers_429_with_retry_after(
    embedded_base_url: str, openai_schema: SchemaCheck
) -> None:
    with client_for(embedded_base_url) as client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT, stream=True,
            extra_body=simulate(fault="rate_limit", retry_after=2.5),
        )
    error = caught.value
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "3"
    assert error.response.headers["retry-after-ms"] == "2500"
    assert error.code == "rate_limit_exceeded"
    assert "try again in 2.5s" in error.message
    openai_schema("ErrorResponse", error.response.json())


def test_the_client_retries_a_429_after_the_advised_delay() -> None:
    with EmbeddedServer(profile="instant") as server, client_for(server.base_url, retries=2) as c:
        started = time.perf_counter()
        with pytest.raises(openai.RateLimitError):
            c.chat.completions.create(
                model=SIMULATED_MODEL, messages=COUNT,
                extra_headers={"X-Simulation": "fault=rate_limit; retry_after=0.2"},
            )
        elapsed = time.perf_counter() - started
        assert server.stats().requests == 3
    assert 0.4 <= elapsed < 3


@pytest.mark.parametrize(
    ("fault", "exception", "status"),
    [
        ("server_error", openai.InternalServerError, 500),
        ("unauthorized", openai.AuthenticationError, 401),
    ],
)
def test_http_status_faults(
    embedded_base_url: str, openai_schema: SchemaCheck, fault: str,
    exception: type[openai.APIStatusError], status: int,
) -> None:
    with client_for(embedded_base_url) as client, pytest.raises(exception) as caught:
        client.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT, stream=True, extra_body=simulate(fault=fault)
        )
    assert caught.value.status_code == status
    openai_schema("ErrorResponse", caught.value.response.json())


def test_error_event_arrives_in_band_after_n_chunks(embedded_base_url: str) -> None:
    received: list[Any] = []
    with client_for(embedded_base_url) as client, pytest.raises(openai.APIError) as caught:
        stream = client.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT, stream=True,
            extra_body=simulate(fault="error_event", after_chunks=5),
        )
        received.extend(stream)
    assert not isinstance(caught.value, openai.APIStatusError)  # no status, so no retry
    assert "Simulated fault after 5 chunks" in caught.value.message
    assert len(received) == 5
    assert "".join(c.choices[0].delta.content or "" for c in received) == "1, 2"


def test_error_event_bytes(embedded_base_url: str, openai_schema: SchemaCheck) -> None:
    body = {"model": SIMULATED_MODEL, "messages": COUNT, "stream": True}
    with httpx.Client(timeout=10) as client:
        response = client.post(
            f"{embedded_base_url}/chat/completions", json=body,
            headers={"X-Simulation": "fault=error_event; after_chunks=2"},
        )
    assert response.status_code == 200
    events = response.content.split(b"\n\n")
    assert events[-1] == b""
    assert len(events) == 2 + 1 + 1
    last = json.loads(events[2].removeprefix(b"data: "))
    openai_schema("ErrorResponse", last)
    assert last["error"]["type"] == "server_error"
    assert b"[DONE]" not in response.content


def test_disconnect_mid_stream_is_a_connection_error_and_prints_nothing(
    embedded_server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    before = embedded_server.stats()
    received: list[Any] = []
    with caplog.at_level(logging.DEBUG), client_for(embedded_server.base_url) as client:
        with pytest.raises(openai.APIConnectionError):
            stream = client.chat.completions.create(
                model=SIMULATED_MODEL, messages=COUNT, stream=True,
                extra_body=simulate(fault="disconnect", after_chunks=4),
            )
            received.extend(stream)
        # The server is still there for the next request.
        assert client.chat.completions.create(model=SIMULATED_MODEL, messages=COUNT).choices
    assert len(received) == 4
    assert not [r for r in caplog.records if r.name.startswith("uvicorn")]
    assert embedded_server.stats().faulted == before.faulted + 1


def test_disconnect_async_client(embedded_base_url: str) -> None:
    async def run() -> int:
        received = 0
        async with openai.AsyncOpenAI(
            base_url=embedded_base_url, api_key="k", max_retries=0, timeout=10
        ) as client:
            stream = await client.chat.completions.create(
                model=SIMULATED_MODEL, messages=COUNT, stream=True,
                extra_body=simulate(fault="disconnect", after_chunks=3),
            )
            with pytest.raises(openai.APIConnectionError):
                async for _ in stream:
                    received += 1
        return received

    assert asyncio.run(run()) == 3


def test_disconnect_without_streaming(embedded_base_url: str) -> None:
    with client_for(embedded_base_url) as client, pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT, extra_body=simulate(fault="disconnect")
        )


def test_stall_pauses_then_resumes(embedded_base_url: str) -> None:
    arrivals: list[float] = []
    with client_for(embedded_base_url) as client:
        started = time.perf_counter()
        stream = client.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT, stream=True,
            extra_body=simulate(fault="stall", after_chunks=3, seconds=0.5),
        )
        for _ in stream:
            arrivals.append(time.perf_counter() - started)
    gaps = [b - a for a, b in pairwise(arrivals)]
    assert len(arrivals) == 1 + 148 + 1
    assert gaps.index(max(gaps)) == 2  # between the third and the fourth chunk
    assert 0.45 <= max(gaps) < 1.5


def test_stall_longer_than_the_read_timeout_is_a_timeout(embedded_base_url: str) -> None:
    received: list[Any] = []
    with client_for(embedded_base_url, timeout=0.3) as client:
        stream = client.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT, stream=True,
            extra_body=simulate(fault="stall", after_chunks=3, seconds=2),
        )
        with pytest.raises(openai.APITimeoutError):
            received.extend(stream)
    assert len(received) == 3


def test_slow_first_byte_delays_the_response_headers(embedded_base_url: str) -> None:
    with client_for(embedded_base_url) as client:
        started = time.perf_counter()
        stream = client.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT, stream=True,
            extra_body=simulate(fault="slow_first_byte", seconds=0.5),
        )
        waited = time.perf_counter() - started
        assert len(list(stream)) == 1 + 148 + 1
    assert 0.45 <= waited < 1.5
    with client_for(embedded_base_url, timeout=0.2) as client, pytest.raises(
        openai.APITimeoutError
    ):
        client.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT, stream=True,
            extra_body=simulate(fault="slow_first_byte", seconds=1),
        )


def test_no_done_ends_the_stream_quietly(embedded_base_url: str) -> None:
    with client_for(embedded_base_url) as client:
        chunks = list(client.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT, stream=True, extra_body=simulate(fault="no_done")
        ))
    assert chunks[-1].choices[0].finish_reason == "stop"
    with httpx.Client(timeout=10) as http:
        raw = http.post(
            f"{embedded_base_url}/chat/completions",
            json={"model": SIMULATED_MODEL, "messages": COUNT, "stream": True,
                  "simulation": {"fault": "no_done"}},
        ).content
    assert raw.endswith(b"}\n\n")
    assert b"[DONE]" not in raw


def test_no_finish_sends_no_finish_reason(embedded_base_url: str) -> None:
    with client_for(embedded_base_url) as client:
        chunks = list(client.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT, stream=True,
            stream_options={"include_usage": True}, extra_body=simulate(fault="no_finish"),
        ))
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).endswith("50")
    assert chunks[-1].usage is not None


def test_the_body_overrides_the_header(embedded_base_url: str) -> None:
    with client_for(embedded_base_url) as client, pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT,
            extra_headers={"X-Simulation": "fault=rate_limit"},
            extra_body=simulate(fault="server_error"),
        )


@pytest.mark.parametrize(
    ("controls", "header", "param", "fragment"),
    [
        ({"colour": "red"}, None, "simulation.colour", "unknown control"),
        ({"fault": "explode"}, None, "simulation.fault", "'explode' is not one of"),
        ({"profile": "slow"}, None, "simulation.profile", "'slow' is not one of"),
        ({"after_chunks": "x"}, None, "simulation.after_chunks", "expected int"),
        ({"after_chunks": 1.5}, None, "simulation.after_chunks", "expected int"),
        ({"seconds": -1}, None, "simulation.seconds", "from 0 to 600"),
        ({"retry_after": True}, None, "simulation.retry_after", "expected float"),
        ({}, "fault=stall; seconds=9999", "simulation.seconds", "from 0 to 600"),
        ({}, "fault", None, "X-Simulation header"),
        ({"fault": "no_done"}, None, "simulation.fault", "only happens in a stream"),
    ],
)
def test_bad_simulation_controls_are_refused(
    embedded_base_url: str, openai_schema: SchemaCheck, controls: dict[str, Any],
    header: str | None, param: str | None, fragment: str,
) -> None:
    headers = {"X-Simulation": header} if header else {}
    body = {"model": SIMULATED_MODEL, "messages": COUNT, "simulation": controls}
    with httpx.Client(timeout=10) as http:
        response = http.post(f"{embedded_base_url}/chat/completions", json=body, headers=headers)
    assert response.status_code == 400
    openai_schema("ErrorResponse", response.json())
    assert response.json()["error"]["param"] == param
    assert fragment in response.json()["error"]["message"]
