"""helpers.fault_injection: the real `openai` client, through the injector, against a real server,
raises what it would raise for real, keeps what arrived, and the traffic record says what it saw."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from helpers.fault_injection import (
    FAULTS,
    Traffic,
    _Injector,
    _SyncTransport,
    inject_fault,
)
from helpers.server.model import SIMULATED_MODEL

pytestmark = pytest.mark.timeout(30)

COUNT = "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ..."
COUNT_TO_100 = [{"role": "user", "content": COUNT}]
WHOLE = ", ".join(str(n) for n in range(1, 101))
READ = 0.5


@pytest.fixture
def client(embedded_base_url: str) -> Iterator[openai.OpenAI]:
    timeout = openai.Timeout(READ, connect=3.0)
    with openai.OpenAI(
        base_url=embedded_base_url, api_key="k", timeout=timeout, max_retries=0
    ) as made:
        yield made


def text(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


def read_all(client: openai.OpenAI, chunks: list[ChatCompletionChunk]) -> None:
    """Stream the count into `chunks` inside `with`, as the lessons do."""
    with client.chat.completions.create(
        model=SIMULATED_MODEL, messages=COUNT_TO_100, stream=True
    ) as stream:
        for chunk in stream:
            chunks.append(chunk)


# --- 429 ----------------------------------------------------------------------------------------


def test_a_429_on_every_attempt_is_retried_as_asked_and_never_reaches_the_server(
    client: openai.OpenAI,
) -> None:
    patient = client.with_options(max_retries=2)
    faulty, traffic = inject_fault(patient, "rate_limit", retry_after=0.2)
    start = time.perf_counter()
    with faulty, pytest.raises(openai.RateLimitError) as caught:
        faulty.chat.completions.create(model=SIMULATED_MODEL, messages=COUNT_TO_100, stream=True)
    elapsed = time.perf_counter() - start
    # Two waits of retry-after-ms (0.2 s), not the default back-off of 0.5 s and more.
    assert 0.4 <= elapsed < 0.9
    assert [(a.status, a.sent) for a in traffic.attempts] == [(429, False)] * 3
    assert traffic.sent == 0
    error = caught.value
    assert (error.status_code, error.code, error.type) == (429, "rate_limit_exceeded", "requests")
    headers = error.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "200")
    assert SIMULATED_MODEL in error.message


def test_the_attempt_after_the_last_429_goes_through(client: openai.OpenAI) -> None:
    faulty, traffic = inject_fault(
        client.with_options(max_retries=2), "rate_limit", retry_after=0.1, times=2
    )
    chunks: list[ChatCompletionChunk] = []
    with faulty:
        read_all(faulty, chunks)
    assert text(chunks) == WHOLE
    assert [a.status for a in traffic.attempts] == [429, 429, 200]
    assert traffic.sent == 1 and traffic.attempts[2].done


def test_without_retries_the_first_429_is_raised_at_once(client: openai.OpenAI) -> None:
    faulty, traffic = inject_fault(client, "rate_limit", retry_after=5)
    start = time.perf_counter()
    with faulty, pytest.raises(openai.RateLimitError):
        faulty.chat.completions.create(model=SIMULATED_MODEL, messages=COUNT_TO_100, stream=True)
    assert time.perf_counter() - start < 0.3
    assert len(traffic.attempts) == 1


# --- timeouts -----------------------------------------------------------------------------------


def test_a_slow_first_byte_ends_at_the_read_timeout_in_create(client: openai.OpenAI) -> None:
    faulty, traffic = inject_fault(client, "slow_first_byte", seconds=5)
    start = time.perf_counter()
    with faulty, pytest.raises(openai.APITimeoutError) as caught:
        faulty.chat.completions.create(model=SIMULATED_MODEL, messages=COUNT_TO_100, stream=True)
    assert READ <= time.perf_counter() - start < READ + 0.5
    assert isinstance(caught.value.__cause__, httpx2.ReadTimeout)
    (attempt,) = traffic.attempts
    assert attempt.sent and attempt.status is None and attempt.closed_by_client


def test_a_timeout_before_the_answer_is_retried(client: openai.OpenAI) -> None:
    patient = client.with_options(max_retries=1)
    faulty, traffic = inject_fault(patient, "slow_first_byte", seconds=5)
    with faulty, pytest.raises(openai.APITimeoutError):
        faulty.chat.completions.create(model=SIMULATED_MODEL, messages=COUNT_TO_100, stream=True)
    assert [a.status for a in traffic.attempts] == [None, None]


def test_a_first_byte_slower_than_usual_but_in_time_is_only_late(client: openai.OpenAI) -> None:
    faulty, traffic = inject_fault(client, "slow_first_byte", seconds=0.2)
    chunks: list[ChatCompletionChunk] = []
    start = time.perf_counter()
    with faulty:
        read_all(faulty, chunks)
    assert time.perf_counter() - start >= 0.2
    assert text(chunks) == WHOLE
    assert str(traffic.attempts[0]) == "200 after a slow first byte, 300 events, [DONE]"


def test_a_stall_times_out_inside_the_loop_and_keeps_the_pieces(client: openai.OpenAI) -> None:
    faulty, traffic = inject_fault(client.with_options(max_retries=2), "stall", after_events=20)
    chunks: list[ChatCompletionChunk] = []
    start = time.perf_counter()
    with faulty, pytest.raises(openai.APITimeoutError) as caught:
        read_all(faulty, chunks)
    assert READ <= time.perf_counter() - start < READ + 0.5
    assert isinstance(caught.value.__cause__, httpx2.ReadTimeout)
    assert len(chunks) == 20 and text(chunks) == "1, 2, 3, 4, 5, 6, 7"
    # A timeout inside the stream comes after create() returned: it is never retried.
    assert str(traffic) == (
        "1 attempt, 1 reached the server\n  1. 200, 20 events, then a stall; closed by the client"
    )


def test_a_stall_shorter_than_the_read_timeout_only_delays(client: openai.OpenAI) -> None:
    faulty, traffic = inject_fault(client, "stall", after_events=5, seconds=READ / 2)
    pieces: list[str] = []
    arrivals: list[float] = []
    with faulty, faulty.chat.completions.create(
        model=SIMULATED_MODEL, messages=COUNT_TO_100, stream=True
    ) as stream:
        for chunk in stream:
            arrivals.append(time.perf_counter())
            pieces.append(chunk.choices[0].delta.content or "")
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert gaps.index(max(gaps)) == 4 and max(gaps) >= READ / 2
    assert "".join(pieces) == WHOLE
    assert traffic.attempts[0].fault == "stall" and traffic.attempts[0].done


# --- the stream breaks off ----------------------------------------------------------------------


def test_an_error_event_is_a_plain_api_error_raised_in_the_loop(client: openai.OpenAI) -> None:
    patient = client.with_options(max_retries=2)
    faulty, traffic = inject_fault(patient, "error_event", after_events=12)
    chunks: list[ChatCompletionChunk] = []
    with faulty, pytest.raises(openai.APIError) as caught:
        read_all(faulty, chunks)
    error = caught.value
    assert type(error) is openai.APIError and not hasattr(error, "status_code")
    assert isinstance(error.body, dict) and error.body["type"] == "server_error"
    assert error.message.endswith("(Injected after 12 events.)")
    assert text(chunks) == "1, 2, 3, 4,"
    (attempt,) = traffic.attempts
    assert (attempt.events, attempt.fault, attempt.closed_by_client) == (12, "error_event", False)


def test_a_dropped_connection_is_what_httpx2_raises_for_a_cut_body(client: openai.OpenAI) -> None:
    faulty, traffic = inject_fault(client, "disconnect", after_events=12)
    chunks: list[ChatCompletionChunk] = []
    with faulty, pytest.raises(openai.APIConnectionError) as caught:
        read_all(faulty, chunks)
    assert not isinstance(caught.value, openai.APITimeoutError)
    cause = caught.value.__cause__
    assert isinstance(cause, httpx2.RemoteProtocolError) and "incomplete chunked read" in str(cause)
    assert text(chunks) == "1, 2, 3, 4,"
    assert not traffic.attempts[0].closed_by_client


def test_a_quiet_end_raises_nothing_and_leaves_out_the_finish(client: openai.OpenAI) -> None:
    faulty, traffic = inject_fault(client, "quiet_end", after_events=40)
    chunks: list[ChatCompletionChunk] = []
    with faulty:
        read_all(faulty, chunks)
    assert len(chunks) == 40
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks)
    assert str(traffic.attempts[0]) == "200, 40 events, then a quiet end"


def test_the_fault_strikes_only_the_first_times_attempts(client: openai.OpenAI) -> None:
    faulty, traffic = inject_fault(client, "disconnect", after_events=3, times=1)
    with faulty:
        with pytest.raises(openai.APIConnectionError):
            read_all(faulty, [])
        chunks: list[ChatCompletionChunk] = []
        read_all(faulty, chunks)
    assert text(chunks) == WHOLE
    assert [a.fault for a in traffic.attempts] == ["disconnect", None]


def test_a_whole_answer_passes_a_stream_fault_untouched(client: openai.OpenAI) -> None:
    faulty, traffic = inject_fault(client, "stall", after_events=0)
    with faulty:
        answer = faulty.chat.completions.create(model=SIMULATED_MODEL, messages=COUNT_TO_100)
    assert answer.choices[0].message.content == WHOLE
    assert traffic.attempts[0].fault is None and traffic.attempts[0].ended


# --- closing ------------------------------------------------------------------------------------


def test_break_inside_with_closes_and_break_without_leaves_it_open(client: openai.OpenAI) -> None:
    faulty, traffic = inject_fault(client, "quiet_end", after_events=1000)
    with faulty:
        with faulty.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT_TO_100, stream=True
        ) as stream:
            for count, _ in enumerate(stream, start=1):
                if count == 20:
                    break
        unclosed = faulty.chat.completions.create(
            model=SIMULATED_MODEL, messages=COUNT_TO_100, stream=True
        )
        next(iter(unclosed))
        shown_open = str(traffic.attempts[1])
        unclosed.close()
    assert str(traffic.attempts[0]) == "200, 20 events; closed by the client"
    assert shown_open == "200, 1 event; still open"
    assert traffic.attempts[1].closed_by_client


# --- the async client ---------------------------------------------------------------------------


def run_async(base_url: str, scenario: Callable[[openai.AsyncOpenAI], Awaitable[None]]) -> None:
    """`scenario` given an async client with the same settings as `client`, in a loop of its own."""

    async def main() -> None:
        timeout = openai.Timeout(READ, connect=3.0)
        async with openai.AsyncOpenAI(
            base_url=base_url, api_key="k", timeout=timeout, max_retries=0
        ) as aclient:
            await scenario(aclient)

    asyncio.run(main())


async def follow(client: openai.AsyncOpenAI, pieces: list[str]) -> None:
    async with await client.chat.completions.create(
        model=SIMULATED_MODEL, messages=COUNT_TO_100, stream=True
    ) as stream:
        async for chunk in stream:
            pieces.append(chunk.choices[0].delta.content or "")


def test_async_stall_times_out_and_keeps_the_pieces(embedded_base_url: str) -> None:
    pieces: list[str] = []

    async def scenario(aclient: openai.AsyncOpenAI) -> None:
        faulty, traffic = inject_fault(aclient, "stall", after_events=10)
        start = time.perf_counter()
        async with faulty:
            with pytest.raises(openai.APITimeoutError):
                await follow(faulty, pieces)
        assert READ <= time.perf_counter() - start < READ + 0.5
        assert traffic.attempts[0].closed_by_client

    run_async(embedded_base_url, scenario)
    assert "".join(pieces) == "1, 2, 3, "


def test_async_stall_is_cancelled_at_once(embedded_base_url: str) -> None:
    pieces: list[str] = []

    async def scenario(aclient: openai.AsyncOpenAI) -> None:
        faulty, traffic = inject_fault(aclient.with_options(timeout=60), "stall", after_events=10)
        async with faulty:
            task = asyncio.create_task(follow(faulty, pieces))
            await asyncio.sleep(0.3)
            start = time.perf_counter()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.perf_counter() - start < 0.2
        assert str(traffic.attempts[0]) == "200, 10 events, then a stall; closed by the client"

    run_async(embedded_base_url, scenario)
    assert "".join(pieces) == "1, 2, 3, "


def test_async_error_event_and_429(embedded_base_url: str) -> None:
    async def scenario(aclient: openai.AsyncOpenAI) -> None:
        faulty, _ = inject_fault(aclient, "error_event", after_events=3)
        async with faulty:
            with pytest.raises(openai.APIError) as caught:
                await follow(faulty, [])
        assert type(caught.value) is openai.APIError
        limited, traffic = inject_fault(aclient, "rate_limit")
        async with limited:
            with pytest.raises(openai.RateLimitError):
                await follow(limited, [])
        assert traffic.sent == 0

    run_async(embedded_base_url, scenario)


# --- events cut at any byte ---------------------------------------------------------------------


def _body(parts: list[bytes]) -> httpx2.MockTransport:
    def answer(request: httpx2.Request) -> httpx2.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx2.Response(200, headers=headers, stream=httpx2.ByteStream(b"".join(parts)))

    return httpx2.MockTransport(answer)


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_events_are_counted_whole_however_the_bytes_arrive(size: int) -> None:
    """Comments are not events, CRLF ends an event too, and the fault strikes before the third
    data event wherever the network cut the bytes."""
    chunk = b'data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"m",' \
        b'"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}'
    body = b": keep-alive\n\n" + chunk + b"\r\n\r\n" + (chunk + b"\n\n") * 4 + b"data: [DONE]\n\n"
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    injector = _Injector("quiet_end", 3, 0.0, 0.0, None)
    transport = _SyncTransport(injector, _body(parts))
    client = openai.OpenAI(
        base_url="http://test/v1", api_key="k", max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )
    with client:
        chunks = list(client.chat.completions.create(model="m", messages=[], stream=True))
    assert len(chunks) == 3
    assert injector.traffic.attempts[0].events == 3


def test_every_fault_is_named_and_a_record_reads_in_lines() -> None:
    assert FAULTS == (
        "rate_limit", "slow_first_byte", "stall", "error_event", "disconnect", "quiet_end"
    )
    assert repr(Traffic()) == "0 attempts, 0 reached the server"
