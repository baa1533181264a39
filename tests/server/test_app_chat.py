"""The simulated API's happy path over real HTTP: wire format, schemas, the openai client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from helpers.server.chat_request import validate_chat_request
from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL
from helpers.server.planning import plan_completion, request_key

pytestmark = pytest.mark.timeout(30)

SchemaCheck = Callable[[str, Any], None]

COUNT_PROMPT = "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ..."
ONE_WORD_PROMPT = "What's 1+1? Answer in one word."
COUNT_TEXT = ", ".join(str(n) for n in range(1, 101))

# (request extras, what the case shows): every one is checked streamed and not streamed.
CASES: list[tuple[dict[str, Any], str]] = [
    ({}, "plain"),
    ({"stream_options": {"include_usage": True}}, "usage"),
    ({"stream_options": {"include_obfuscation": False}}, "no obfuscation"),
    ({"stream_options": {"include_usage": True, "include_obfuscation": False}}, "usage, bare"),
    ({"n": 2, "stream_options": {"include_usage": True}}, "n=2"),
    ({"max_tokens": 7}, "max_tokens cut"),
    ({"max_completion_tokens": 7, "n": 2}, "max_completion_tokens, n=2"),
    ({"stop": [", 4"]}, "stop hit"),
    ({"stop": "never there", "temperature": 0, "seed": 3, "user": "u1",
      "metadata": {"lesson": "1"}}, "other parameters"),
]


def chat_body(prompt: str = COUNT_PROMPT, **extra: Any) -> dict[str, Any]:
    return {"model": SIMULATED_MODEL, "messages": [{"role": "user", "content": prompt}], **extra}


def sse_payloads(body: bytes) -> list[str]:
    """The data of each event, checking the framing OpenAI uses on the way."""
    assert b"\r" not in body
    assert body.endswith(b"\n\n")
    events = body[:-2].split(b"\n\n")
    assert all(event.startswith(b"data: ") and b"\n" not in event for event in events)
    return [event[len(b"data: ") :].decode() for event in events]


def post_raw(base_url: str, body: dict[str, Any]) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        return client.post("/chat/completions", json=body, headers={"Accept": "application/json"})


def client_for(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=10)


def test_count_to_100_streams_one_token_per_chunk_with_the_reference_usage(
    embedded_base_url: str,
) -> None:
    with client_for(embedded_base_url) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": COUNT_PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    choices = [c.choices[0] for c in chunks if c.choices]
    role = [c for c in choices if c.delta.role == "assistant"]
    content = [c.delta.content for c in choices if c.delta.content]
    finish = [c.finish_reason for c in choices if c.finish_reason]
    assert len(role) == 1
    assert content[:4] == ["1", ",", " ", "2"]
    assert "".join(content) == COUNT_TEXT
    assert len(content) == 298
    assert finish == ["stop"]
    assert len(chunks) == 1 + 298 + 1 + 1
    usage = chunks[-1].usage
    assert chunks[-1].choices == []
    assert usage is not None
    assert (usage.completion_tokens, usage.prompt_tokens, usage.total_tokens) == (298, 36, 334)
    assert all(c.model == SIMULATED_MODEL and c.id == chunks[0].id for c in chunks)


def test_one_word_answer_streams_two_tokens_with_the_reference_usage(
    embedded_base_url: str,
) -> None:
    async def run() -> list[Any]:
        async with openai.AsyncOpenAI(
            base_url=embedded_base_url, api_key="sk-test", max_retries=0, timeout=10
        ) as client:
            stream = await client.chat.completions.create(
                model=SIMULATED_MODEL,
                messages=[{"role": "user", "content": ONE_WORD_PROMPT}],
                stream=True,
                stream_options={"include_usage": True},
            )
            return [chunk async for chunk in stream]

    chunks = asyncio.run(run())
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert [d.role for d in deltas] == ["assistant", None, None, None]
    assert [d.content for d in deltas] == ["", "Two", ".", None]
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.completion_tokens, chunks[-1].usage.prompt_tokens) == (2, 18)


def test_non_streamed_lesson_answers(embedded_base_url: str) -> None:
    with client_for(embedded_base_url) as client:
        count = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": COUNT_PROMPT}]
        )
        word = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": ONE_WORD_PROMPT}]
        )
    assert count.choices[0].message.content == COUNT_TEXT
    assert count.usage is not None and word.usage is not None
    assert (count.usage.completion_tokens, count.usage.prompt_tokens) == (298, 36)
    assert word.choices[0].message.content == "Two."
    assert (word.usage.completion_tokens, word.usage.prompt_tokens) == (2, 18)


def test_stream_response_headers_and_framing(embedded_base_url: str) -> None:
    response = post_raw(embedded_base_url, chat_body(ONE_WORD_PROMPT, stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert "content-encoding" not in response.headers
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["x-request-id"].startswith("req_")
    payloads = sse_payloads(response.content)
    assert payloads[-1] == "[DONE]"
    first = json.loads(payloads[0])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert list(first) == [
        "id", "object", "created", "model", "service_tier", "system_fingerprint", "choices",
        "obfuscation",
    ]
    assert first["id"].startswith("chatcmpl-")
    assert first["system_fingerprint"].startswith("fp_")


@pytest.mark.parametrize(("extra", "case"), CASES, ids=[case for _, case in CASES])
def test_every_stream_chunk_matches_the_strict_schema(
    embedded_base_url: str, openai_schema: SchemaCheck, extra: dict[str, Any], case: str
) -> None:
    response = post_raw(embedded_base_url, chat_body(stream=True, **extra))
    payloads = sse_payloads(response.content)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        openai_schema("CreateChatCompletionStreamResponse", chunk)
    options = extra.get("stream_options", {})
    n = extra.get("n", 1)
    assert all(("usage" in c) == bool(options.get("include_usage")) for c in chunks)
    assert all(("obfuscation" in c) == options.get("include_obfuscation", True) for c in chunks)
    choice_chunks = [c for c in chunks if c["choices"]]
    assert all(len(c["choices"]) == 1 for c in choice_chunks)
    for index in range(n):
        mine = [c["choices"][0] for c in choice_chunks if c["choices"][0]["index"] == index]
        assert mine[0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
        assert [c["finish_reason"] for c in mine[:-1]] == [None] * (len(mine) - 1)
        assert mine[-1]["delta"] == {}
        assert all(set(c["delta"]) == {"content"} for c in mine[1:-1])
    if options.get("include_usage"):
        assert chunks[-1]["choices"] == []
        assert [c["usage"] is None for c in chunks] == [True] * (len(chunks) - 1) + [False]
        content = sum(1 for c in choice_chunks if c["choices"][0]["delta"].get("content"))
        assert chunks[-1]["usage"]["completion_tokens"] == content


@pytest.mark.parametrize(("extra", "case"), CASES, ids=[case for _, case in CASES])
def test_every_non_streamed_answer_matches_the_strict_schema(
    embedded_base_url: str, openai_schema: SchemaCheck, extra: dict[str, Any], case: str
) -> None:
    extra = {k: v for k, v in extra.items() if k != "stream_options"}
    response = post_raw(embedded_base_url, chat_body(**extra))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    openai_schema("CreateChatCompletionResponse", body)
    assert [c["index"] for c in body["choices"]] == list(range(extra.get("n", 1)))


@pytest.mark.parametrize(("extra", "case"), CASES, ids=[case for _, case in CASES])
def test_the_openai_client_parses_every_case_sync_and_async(
    embedded_base_url: str, extra: dict[str, Any], case: str
) -> None:
    """Streamed text per choice, as the client assembles it, equals the non-streamed answer."""
    kwargs = {"model": SIMULATED_MODEL, "messages": [{"role": "user", "content": COUNT_PROMPT}]}
    kwargs |= extra
    with client_for(embedded_base_url) as client:
        whole = client.chat.completions.create(**{k: v for k, v in kwargs.items()
                                                 if k != "stream_options"})
        sync_chunks = list(client.chat.completions.create(stream=True, **kwargs))

    async def run() -> list[Any]:
        async with openai.AsyncOpenAI(
            base_url=embedded_base_url, api_key="sk-test", max_retries=0, timeout=10
        ) as client:
            return [c async for c in await client.chat.completions.create(stream=True, **kwargs)]

    async_chunks = asyncio.run(run())
    expected = {c.index: (c.message.content, c.finish_reason) for c in whole.choices}
    for chunks in (sync_chunks, async_chunks):
        texts: dict[int, str] = {}
        finishes: dict[int, str] = {}
        for chunk in chunks:
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
                if choice.finish_reason:
                    finishes[choice.index] = choice.finish_reason
        assert {i: (texts[i], finishes[i]) for i in texts} == expected


def test_n_choices_count_every_token_in_usage(embedded_base_url: str) -> None:
    with client_for(embedded_base_url) as client:
        answer = client.chat.completions.create(
            model=SIMULATED_MODEL,
            messages=[{"role": "user", "content": "Tell me about rivers."}],
            n=3,
            max_tokens=12,
        )
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 3 * 12
    assert [c.finish_reason for c in answer.choices] == ["length"] * 3
    texts = [c.message.content for c in answer.choices]
    assert len(set(texts)) > 1  # temperature 1 by default: choices differ


def test_temperature_zero_makes_choices_identical(embedded_base_url: str) -> None:
    with client_for(embedded_base_url) as client:
        answer = client.chat.completions.create(
            model=SIMULATED_MODEL,
            messages=[{"role": "user", "content": "Tell me about rivers."}],
            n=2,
            temperature=0,
        )
    assert answer.choices[0].message.content == answer.choices[1].message.content


def test_same_request_same_bytes(embedded_base_url: str) -> None:
    body = chat_body(stream=True, n=2, stream_options={"include_usage": True})
    first = post_raw(embedded_base_url, body).content
    assert post_raw(embedded_base_url, body).content == first
    other = post_raw(embedded_base_url, chat_body(stream=True, seed=1)).content
    assert other != first


def test_per_request_profile_sets_the_pace() -> None:
    """A server on `instant` still honours a request asking for `fast` or `realistic`."""
    with EmbeddedServer(profile="instant") as server:
        def timed(profile: str, prompt: str) -> tuple[float, float]:
            started = time.perf_counter()
            first = 0.0
            with httpx.Client(timeout=10) as client, client.stream(
                "POST", f"{server.base_url}/chat/completions",
                json=chat_body(prompt, stream=True, simulation={"profile": profile}),
            ) as response:
                for _ in response.iter_bytes():
                    first = first or time.perf_counter() - started
            return first, time.perf_counter() - started

        fast_first, fast_total = timed("fast", COUNT_PROMPT)
        real_first, real_total = timed("realistic", ONE_WORD_PROMPT)
    assert 0.02 <= fast_first < 0.5
    assert 298 * 0.001 <= fast_total < 2.0
    assert 1.14 * 0.85 <= real_first < 1.14 * 1.15 + 0.6
    assert real_total - real_first < 0.3  # "Two." arrives in one burst


def test_non_streamed_answer_takes_as_long_as_the_stream() -> None:
    ask = {"model": SIMULATED_MODEL, "messages": [{"role": "user", "content": "Hi"}],
           "max_tokens": 600}

    def planned(body: dict[str, Any]) -> float:
        request = validate_chat_request(body)
        return plan_completion(request, "fast", request_key(body)).offsets[-1]

    with EmbeddedServer(profile="fast") as server, client_for(server.base_url) as client:
        started = time.perf_counter()
        for _ in client.chat.completions.create(stream=True, **ask):
            streamed = time.perf_counter() - started
        started = time.perf_counter()
        client.chat.completions.create(**ask)
        whole = time.perf_counter() - started
    stream_plan, whole_plan = planned({**ask, "stream": True}), planned(ask)
    assert whole_plan == pytest.approx(stream_plan, rel=0.05)  # about 0.9 s either way
    assert stream_plan <= streamed < stream_plan + 0.6
    assert whole_plan <= whole < whole_plan + 0.6
