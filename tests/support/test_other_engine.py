"""The second engine really has the habits it claims, seen by raw HTTP and by the real client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import openai
import pytest

from tests.support.other_engine import MODEL, REASONING, Habits, run_engine, tokens

pytestmark = pytest.mark.timeout(60)

COUNT = "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ..."
COUNT_TEXT = ", ".join(str(n) for n in range(1, 101))
TIMEOUT = httpx.Timeout(10.0, connect=2.0)
Engine = Callable[..., str]


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """`engine(**habits)`: the base URL of an engine with those habits, started once a module."""
    running: dict[Habits, str] = {}
    with ExitStack() as stack:

        def start(**changes: Any) -> str:
            habits = Habits(**changes)
            if habits not in running:
                running[habits] = stack.enter_context(run_engine(habits))
            return running[habits]

        yield start


@pytest.fixture
def client(engine: Engine) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=engine(), api_key="k", timeout=10, max_retries=0) as made:
        yield made


def ask(content: str = COUNT, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], **extra}


def raw_stream(base_url: str, **extra: Any) -> bytes:
    """The bytes of a streamed answer, exactly as they came."""
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as http:
        answer = http.post("/chat/completions", json=ask(stream=True, **extra))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    return answer.content


def payloads(body: bytes) -> list[Any]:
    """The JSON of every `data:` event but `[DONE]`."""
    lines = body.decode().split("\r\n")
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {")]


def deltas(chunks: list[Any]) -> list[dict[str, Any]]:
    return [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]


# --- the wire ------------------------------------------------------------------------------------


def test_events_are_framed_with_crlf_and_end_with_done(engine: Engine) -> None:
    body = raw_stream(engine())
    assert body.count(b"\n") == body.count(b"\r\n") > 0
    assert body.endswith(b"data: [DONE]\r\n\r\n")
    assert b"\n\n" not in body.replace(b"\r\n\r\n", b"")


def test_keep_alive_comments_come_between_events(engine: Engine) -> None:
    blocks = raw_stream(engine()).split(b"\r\n\r\n")
    pings = [number for number, block in enumerate(blocks) if block == b": ping"]
    assert len(pings) >= 10
    assert pings[0] > 0 and pings[-1] < len(blocks) - 2


def test_several_words_come_in_one_delta(engine: Engine) -> None:
    pieces = [d["content"] for d in deltas(payloads(raw_stream(engine()))) if d.get("content")]
    sizes = [len(tokens(piece)) for piece in pieces]
    assert "".join(pieces) == COUNT_TEXT
    assert min(sizes[:-1]) >= 2 and max(sizes) <= 4


def test_the_pace_is_a_few_milliseconds_a_chunk(client: openai.OpenAI) -> None:
    arrivals, start = [], time.perf_counter()
    with client.chat.completions.create(model=MODEL, messages=ask()["messages"], stream=True) as s:
        for _ in s:
            arrivals.append(time.perf_counter() - start)
    assert len(arrivals) > 50
    assert (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1) >= 0.002
    assert arrivals[-1] < 2.0


# --- the chunks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["first", "every", "null_first"])
def test_no_chunk_carries_the_role_alone(engine: Engine, role: str) -> None:
    found = deltas(payloads(raw_stream(engine(role=role))))[:-1]
    assert {"role": "assistant"} not in found
    with_role = [number for number, delta in enumerate(found) if "role" in delta]
    expected = {"first": [0], "every": list(range(len(found))), "null_first": [0]}[role]
    assert with_role == expected
    assert (found[0] == {"role": "assistant", "content": None}) == (role == "null_first")


def test_reasoning_deltas_come_before_the_answer_when_switched_on(engine: Engine) -> None:
    on = deltas(payloads(raw_stream(engine())))
    kinds = [kind for delta in on for kind in ("reasoning_content", "content") if kind in delta]
    first_content = kinds.index("content")
    assert set(kinds[:first_content]) == {"reasoning_content"}
    assert set(kinds[first_content:]) == {"content"}
    assert "".join(d.get("reasoning_content", "") for d in on) == REASONING
    off = deltas(payloads(raw_stream(engine(reasoning=False))))
    assert not [delta for delta in off if "reasoning_content" in delta]


@pytest.mark.parametrize("on_finish_chunk", [True, False])
def test_usage_comes_only_when_asked(engine: Engine, on_finish_chunk: bool) -> None:
    base_url = engine(usage_on_finish_chunk=on_finish_chunk)
    unasked = payloads(raw_stream(base_url))
    assert not [chunk for chunk in unasked if "usage" in chunk]
    asked = payloads(raw_stream(base_url, stream_options={"include_usage": True}))
    with_usage = [chunk for chunk in asked if chunk.get("usage")]
    assert len(with_usage) == 1 and with_usage[0] is asked[-1]
    finish = asked[-1] if on_finish_chunk else asked[-2]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert bool(asked[-1]["choices"]) == on_finish_chunk


def test_usage_counts_what_the_client_read(client: openai.OpenAI) -> None:
    with client.chat.completions.create(
        model=MODEL, messages=ask()["messages"], stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        chunks = list(stream)
    last = chunks[-1]
    assert last.choices and last.choices[0].finish_reason == "stop" and last.usage is not None
    assert last.usage.completion_tokens == len(tokens(REASONING)) + len(tokens(COUNT_TEXT))


def test_a_blocking_answer_always_has_its_usage(client: openai.OpenAI) -> None:
    messages = ask("Say: Hello, room.")["messages"]
    response = client.chat.completions.create(model=MODEL, messages=messages)
    assert response.choices[0].message.content == "Hello, room."
    assert response.usage is not None and response.usage.completion_tokens > 0


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
def test_the_token_limit_cuts_the_answer(client: openai.OpenAI, limit: str) -> None:
    budget = len(tokens(REASONING)) + 10
    options: dict[str, Any] = {"model": MODEL, "messages": ask()["messages"], limit: budget}
    whole = client.chat.completions.create(**options)
    with client.chat.completions.create(stream=True, **options) as stream:
        chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert whole.choices[0].finish_reason == chunks[-1].choices[0].finish_reason == "length"
    assert whole.choices[0].message.content == streamed == "1, 2, 3, 4, 5,"
    assert whole.usage is not None and whole.usage.completion_tokens == budget


def test_a_stop_string_ends_the_answer(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL, messages=ask()["messages"], stop=[", 4"]
    )
    assert (response.choices[0].message.content, response.choices[0].finish_reason) == (
        "1, 2, 3", "stop"
    )


def test_unknown_request_fields_are_ignored(engine: Engine) -> None:
    extra = {
        "simulation": {"fault": "disconnect", "after_chunks": 2},
        "stream_options": {"include_obfuscation": True},
    }
    chunks = payloads(raw_stream(engine(), **extra))
    assert "".join(d.get("content") or "" for d in deltas(chunks)) == COUNT_TEXT
    assert not [chunk for chunk in chunks if "obfuscation" in chunk]


# --- the routes ----------------------------------------------------------------------------------


def test_one_model_is_listed_and_no_other_is_served(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == [MODEL]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o-mini-sim", messages=ask()["messages"])


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/health"), ("POST", "/v1/responses"), ("GET", "/v1/nothing")]
)
def test_other_paths_are_not_found(engine: Engine, method: str, path: str) -> None:
    root = engine().removesuffix("/v1")
    answer = httpx.request(method, root + path, json={}, timeout=TIMEOUT)
    assert answer.status_code == 404
    assert answer.json() == {
        "error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}
    }


def test_the_client_sees_no_responses_api(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="File Not Found"):
        client.responses.create(model=MODEL, input="What's 1+1?")
