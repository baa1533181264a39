"""The simulated Responses API over real HTTP: typed events, schemas, the openai client, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from helpers.server.model import SIMULATED_MODEL
from tests.support import DATA

pytestmark = pytest.mark.timeout(60)

SchemaCheck = Callable[[str, Any], None]

_BUNDLE = DATA / "openai-responses-schemas.json"
COUNT_PROMPT = "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ..."
COUNT_TEXT = ", ".join(str(n) for n in range(1, 101))
# The schema root each event type must match, besides the union of every stream event.
ROOTS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
    "error": "ResponseErrorEvent",
}
OPENING = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
]
CLOSING = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


@pytest.fixture(scope="module")
def responses_schema() -> SchemaCheck:
    """`check(root, instance)` against the Responses bundle extracted from the OpenAPI spec."""
    defs = json.loads(_BUNDLE.read_text())["$defs"]
    validators: dict[str, jsonschema.Draft202012Validator] = {}

    def check(root: str, instance: Any) -> None:
        if root not in validators:
            schema = {"$defs": defs, "$ref": f"#/$defs/{root}"}
            validators[root] = jsonschema.Draft202012Validator(schema)
        validators[root].validate(instance)

    return check


def body(prompt: Any = COUNT_PROMPT, **extra: Any) -> dict[str, Any]:
    return {"model": SIMULATED_MODEL, "input": prompt, **extra}


def post(base_url: str, payload: Any, **headers: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        return client.post("/responses", json=payload, headers=headers)


def typed_events(raw: bytes) -> list[dict[str, Any]]:
    """The events of a raw stream, checking the `event:` + `data:` framing on the way."""
    assert b"\r" not in raw
    assert raw.endswith(b"\n\n")
    assert b"[DONE]" not in raw
    events = []
    for block in raw[:-2].split(b"\n\n"):
        name_line, data_line = block.split(b"\n")
        assert name_line.startswith(b"event: ") and data_line.startswith(b"data: ")
        event = json.loads(data_line[len(b"data: ") :])
        assert event["type"] == name_line[len(b"event: ") :].decode()
        events.append(event)
    return events


def stream_raw(base_url: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    response = post(base_url, {**payload, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return typed_events(response.content)


def client_for(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=10)


def check_events(events: list[dict[str, Any]], check: SchemaCheck) -> None:
    for event in events:
        check(ROOTS[event["type"]], event)
        check("ResponseStreamEvent", event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"instructions": "Answer briefly.", "temperature": 0, "metadata": {"lesson": "7"}},
        {"max_output_tokens": 16},
        {"stream_options": {"include_obfuscation": False}, "store": False, "user": "u1"},
    ],
    ids=["plain", "echoed parameters", "cut by max_output_tokens", "no obfuscation"],
)
def test_every_streamed_event_matches_the_spec_in_the_documented_order(
    embedded_base_url: str, responses_schema: SchemaCheck, extra: dict[str, Any]
) -> None:
    events = stream_raw(embedded_base_url, body(**extra))
    check_events(events, responses_schema)
    kinds = [e["type"] for e in events]
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    ending = "response.incomplete" if "max_output_tokens" in extra else "response.completed"
    assert kinds == [*OPENING, *(["response.output_text.delta"] * len(deltas)), *CLOSING, ending]
    text = "".join(e["delta"] for e in deltas)
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == events[-4]["text"] == text
    assert final["usage"]["output_tokens"] == len(deltas)
    assert all(("obfuscation" in e) == ("stream_options" not in extra) for e in deltas)
    responses_schema("Response", final)


def test_the_streamed_text_tokens_and_usage_equal_the_chat_answer(embedded_base_url: str) -> None:
    with client_for(embedded_base_url) as client:
        chat = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": COUNT_PROMPT}]
        )
        with client.responses.create(model="gpt-4o-mini", input=COUNT_PROMPT, stream=True) as s:
            events = list(s)
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    completed = events[-1]
    assert completed.type == "response.completed"
    assert "".join(deltas) == chat.choices[0].message.content == COUNT_TEXT
    assert chat.usage is not None and completed.response.usage is not None
    assert completed.response.usage.input_tokens == chat.usage.prompt_tokens
    assert completed.response.usage.output_tokens == chat.usage.completion_tokens == len(deltas)
    assert completed.response.usage.total_tokens == chat.usage.total_tokens
    assert completed.response.model == SIMULATED_MODEL
    assert completed.response.output_text == COUNT_TEXT


def test_the_async_client_iterates_the_same_events(embedded_base_url: str) -> None:
    async def collect() -> list[Any]:
        client = openai.AsyncOpenAI(
            base_url=embedded_base_url, api_key="sk-test", max_retries=0, timeout=10
        )
        async with client:
            stream = await client.responses.create(
                model=SIMULATED_MODEL, input=COUNT_PROMPT, stream=True
            )
            return [event async for event in stream]

    events = asyncio.run(asyncio.wait_for(collect(), timeout=20))
    with client_for(embedded_base_url) as client:
        sync_events = list(client.responses.create(model=SIMULATED_MODEL, input=COUNT_PROMPT,
                                                   stream=True))
    assert [e.model_dump() for e in events] == [e.model_dump() for e in sync_events]
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_a_non_streamed_response_is_the_last_streamed_state(
    embedded_base_url: str, responses_schema: SchemaCheck
) -> None:
    payload = body(instructions="Answer briefly.", metadata={"lesson": "7"})
    plain = post(embedded_base_url, payload)
    assert plain.status_code == 200
    answer = plain.json()
    responses_schema("Response", answer)
    final = stream_raw(embedded_base_url, payload)[-1]["response"]
    # Ids and times derive from the whole request, `stream` included (difference 2).
    for name in ("id", "created_at", "completed_at"):
        assert answer.pop(name) != final.pop(name)
    assert answer["output"][0].pop("id") != final["output"][0].pop("id")
    assert answer == final
    assert answer["status"] == "completed" and answer["instructions"] == "Answer briefly."
    assert answer["metadata"] == {"lesson": "7"}
    with client_for(embedded_base_url) as client:
        typed = client.responses.create(**payload)
    assert typed.output_text == COUNT_TEXT
    assert typed.id.startswith("resp_") and typed.output[0].id.startswith("msg_")


def test_max_output_tokens_ends_the_response_as_incomplete(embedded_base_url: str) -> None:
    with client_for(embedded_base_url) as client:
        answer = client.responses.create(model=SIMULATED_MODEL, input=COUNT_PROMPT,
                                         max_output_tokens=16)
    assert answer.status == "incomplete"
    assert answer.incomplete_details is not None
    assert answer.incomplete_details.reason == "max_output_tokens"
    assert answer.usage is not None and answer.usage.output_tokens == 16
    assert COUNT_TEXT.startswith(answer.output_text) and answer.output_text != COUNT_TEXT
    assert answer.completed_at is None


def test_input_messages_and_instructions_reach_the_model_as_chat_messages(
    embedded_base_url: str,
) -> None:
    messages = [
        {"role": "user", "content": "Say hello"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
        {"type": "message", "role": "user",
         "content": [{"type": "input_text", "text": "What's 6 times 7?"}]},
    ]
    with client_for(embedded_base_url) as client:
        answer = client.responses.create(model=SIMULATED_MODEL, input=messages,
                                         instructions="Answer in one word.")
        chat = client.chat.completions.create(
            model=SIMULATED_MODEL,
            messages=[
                {"role": "system", "content": "Answer in one word."},
                {"role": "user", "content": "Say hello"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "What's 6 times 7?"},
            ],
        )
    assert answer.output_text == chat.choices[0].message.content
    assert answer.usage is not None and chat.usage is not None
    assert answer.usage.input_tokens == chat.usage.prompt_tokens


def test_the_same_request_streams_the_same_bytes(embedded_base_url: str) -> None:
    payload = body("Count to 20", stream=True)
    first, second = (post(embedded_base_url, payload).content for _ in range(2))
    assert first == second
    other = post(embedded_base_url, body("Count to 21", stream=True)).content
    assert typed_events(other)[0]["response"]["id"] != typed_events(first)[0]["response"]["id"]


@pytest.mark.parametrize(
    ("payload", "status", "param", "code"),
    [
        ({"model": SIMULATED_MODEL}, 400, "input", "missing_required_parameter"),
        ({"input": "hi"}, 400, "model", "missing_required_parameter"),
        (body("hi", model="gpt-nope"), 404, "model", "model_not_found"),
        (body("hi", max_output_tokens=15), 400, "max_output_tokens", "integer_below_min_value"),
        (body("hi", max_output_tokens=100_000), 400, "max_output_tokens", "invalid_value"),
        (body("hi", temperature=2.5), 400, "temperature", "decimal_above_max_value"),
        (body("hi", colour="blue"), 400, "colour", "unknown_parameter"),
        (body(7), 400, "input", "invalid_type"),
        (body([]), 400, "input", "empty_array"),
        (body([{"role": "robot", "content": "hi"}]), 400, "input[0].role", "invalid_value"),
        (body([{"role": "user"}]), 400, "input[0].content", "missing_required_parameter"),
        (body([{"type": "function_call_output", "call_id": "c", "output": "x"}]), 400,
         "input[0].type", "invalid_value"),
        (body([{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]), 400,
         "input[0].content[0].type", "invalid_value"),
        (body("hi", stream_options={"include_obfuscation": False}), 400, "stream_options",
         "invalid_value"),
        (body("hi", metadata={"k": 1}), 400, "metadata.k", "invalid_type"),
        (body("hi", simulation={"fault": "no_finish"}, stream=True), 400, "simulation.fault",
         "invalid_value"),
        (body("hi", simulation={"fault": "error_event"}), 400, "simulation.fault",
         "invalid_value"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_requests_get_openai_format_errors(
    embedded_base_url: str,
    responses_schema: SchemaCheck,
    payload: dict[str, Any],
    status: int,
    param: str,
    code: str,
) -> None:
    response = post(embedded_base_url, payload)
    assert response.status_code == status
    error = response.json()
    responses_schema("ErrorResponse", error)
    assert (error["error"]["param"], error["error"]["code"]) == (param, code)


def test_an_http_fault_raises_the_clients_status_error(embedded_base_url: str) -> None:
    with client_for(embedded_base_url) as client, pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model=SIMULATED_MODEL, input="hi", stream=True,
                                extra_headers={"X-Simulation": "fault=rate_limit; retry_after=3"})
    assert caught.value.response.headers["retry-after"] == "3"


def test_an_error_event_ends_the_stream_with_error_then_response_failed(
    embedded_base_url: str, responses_schema: SchemaCheck
) -> None:
    simulation = {"fault": "error_event", "after_chunks": 6}
    events = stream_raw(embedded_base_url, body(simulation=simulation))
    check_events(events, responses_schema)
    assert [e["type"] for e in events[-3:]] == [
        "response.output_text.delta", "error", "response.failed"
    ]
    assert len(events) == 8
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    with client_for(embedded_base_url) as client:
        typed = list(client.responses.create(model=SIMULATED_MODEL, input=COUNT_PROMPT,
                                             stream=True, extra_body={"simulation": simulation}))
    # The client yields both as ordinary events: code that ignores them keeps a partial text.
    assert [e.type for e in typed[-2:]] == ["error", "response.failed"]


def test_no_done_ends_the_stream_without_a_final_event(
    embedded_base_url: str, responses_schema: SchemaCheck
) -> None:
    events = stream_raw(embedded_base_url, body("Count to 5", simulation={"fault": "no_done"}))
    check_events(events, responses_schema)
    assert [e["type"] for e in events[-3:]] == CLOSING


def test_a_disconnect_cuts_the_stream_and_the_client_raises(embedded_base_url: str) -> None:
    seen: list[str] = []
    with client_for(embedded_base_url) as client, pytest.raises(openai.APIConnectionError):
        stream = client.responses.create(
            model=SIMULATED_MODEL, input=COUNT_PROMPT, stream=True,
            extra_body={"simulation": {"fault": "disconnect", "after_chunks": 7}},
        )
        seen.extend(event.type for event in stream)
    assert seen == [*OPENING, *(["response.output_text.delta"] * 3)]
