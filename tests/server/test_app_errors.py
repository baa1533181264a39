"""Bad input gets OpenAI's error envelope and status, never a 500, and the server keeps going."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL

pytestmark = pytest.mark.timeout(30)

SchemaCheck = Callable[[str, Any], None]

HELLO = [{"role": "user", "content": "Say hello"}]


def body(**fields: Any) -> dict[str, Any]:
    return {"model": SIMULATED_MODEL, "messages": HELLO} | fields


# (request body, status, code, param, part of the message)
BAD_BODIES: list[tuple[Any, int, str | None, str | None, str]] = [
    ([1, 2], 400, "invalid_type", "body", "expected an object"),
    ({"messages": HELLO}, 400, None, None, "you must provide a model parameter"),
    (body(model=4), 400, "invalid_type", "model", "expected a string, but got an integer"),
    (body(model="gpt-5"), 404, "model_not_found", None, "The model `gpt-5` does not exist"),
    ({"model": SIMULATED_MODEL}, 400, "missing_required_parameter", "messages", "'messages'"),
    (body(messages=[]), 400, "empty_array", "messages", "empty array"),
    (body(messages="hi"), 400, "invalid_type", "messages", "expected an array"),
    (body(messages=["hi"]), 400, "invalid_type", "messages[0]", "expected an object"),
    (body(messages=[{"content": "hi"}]), 400, "missing_required_parameter",
     "messages[0].role", "Missing required parameter"),
    (body(messages=[{"role": "bot", "content": "hi"}]), 400, "invalid_value",
     "messages[0].role", "Invalid value: 'bot'"),
    (body(messages=[{"role": "user"}]), 400, "missing_required_parameter",
     "messages[0].content", "'messages[0].content'"),
    (body(messages=[{"role": "user", "content": 3}]), 400, "invalid_type",
     "messages[0].content", "expected a string or an array"),
    (body(messages=[{"role": "user", "content": []}]), 400, "empty_array",
     "messages[0].content", "empty array"),
    (body(messages=[{"role": "user", "content": [{"type": "video"}]}]), 400, "invalid_value",
     "messages[0].content[0].type", "Invalid value: 'video'"),
    (body(messages=[{"role": "user", "content": [{"type": "text", "text": 1}]}]), 400,
     "invalid_type", "messages[0].content[0].text", "expected a string"),
    (body(messages=[{"role": "tool", "content": "42"}]), 400, "missing_required_parameter",
     "messages[0].tool_call_id", "tool_call_id"),
    (body(messages=[{"role": "user", "content": "hi", "name": 7}]), 400, "invalid_type",
     "messages[0].name", "expected a string"),
    (body(foo=1), 400, None, None, "Unrecognized request argument supplied: foo"),
    (body(n="2"), 400, "invalid_type", "n", "expected an integer, but got a string"),
    (body(n=1.5), 400, "invalid_type", "n", "expected an integer, but got a decimal"),
    (body(stream="yes"), 400, "invalid_type", "stream", "expected a boolean"),
    (body(temperature="hot"), 400, "invalid_type", "temperature", "expected a decimal"),
    (body(stop=5), 400, "invalid_type", "stop", "expected a string or an array"),
    (body(stop=["a", 1]), 400, "invalid_type", "stop[1]", "expected a string"),
    (body(stop=list("abcde")), 400, "array_above_max_length", "stop", "maximum length 4"),
    (body(max_tokens=True), 400, "invalid_type", "max_tokens", "got a boolean"),
    (body(n=0), 400, "integer_below_min_value", "n", "Expected a value >= 1, but got 0"),
    (body(n=129), 400, "integer_above_max_value", "n", "Expected a value <= 128"),
    (body(max_tokens=0), 400, "integer_below_min_value", "max_tokens", ">= 1"),
    (body(max_completion_tokens=20000), 400, "invalid_value", "max_completion_tokens",
     "at most 16384"),
    (body(temperature=-0.5), 400, "decimal_below_min_value", "temperature", ">= 0"),
    (body(temperature=2.5), 400, "decimal_above_max_value", "temperature", "<= 2"),
    (body(top_p=1.5), 400, "decimal_above_max_value", "top_p", "<= 1"),
    (body(stream_options={"include_usage": True}), 400, "invalid_value", "stream_options",
     "only allowed when 'stream' is enabled"),
    (body(stream=True, stream_options={"usage": True}), 400, None, "stream_options.usage",
     "Unrecognized request argument"),
    (body(stream=True, stream_options={"include_usage": 1}), 400, "invalid_type",
     "stream_options.include_usage", "expected a boolean"),
    (body(metadata={"k": 1}), 400, "invalid_type", "metadata.k", "expected a string"),
    (body(metadata={str(i): "v" for i in range(17)}), 400, "object_above_max_properties",
     "metadata", "at most 16"),
    (body(simulation="fast"), 400, "invalid_type", "simulation", "expected an object"),
]


@pytest.fixture(scope="module")
def http(embedded_base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=embedded_base_url, timeout=10) as client:
        yield client


def check_error(
    response: httpx.Response, schema: SchemaCheck, status: int, code: str | None,
    param: str | None, fragment: str,
) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    schema("ErrorResponse", payload)
    error = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["code"], error["param"]) == (code, param)
    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("payload", "status", "code", "param", "fragment"),
    BAD_BODIES,
    ids=[f"{i}-{case[4][:30]}" for i, case in enumerate(BAD_BODIES)],
)
def test_bad_bodies_get_openai_errors(
    http: httpx.Client, openai_schema: SchemaCheck, payload: Any, status: int,
    code: str | None, param: str | None, fragment: str,
) -> None:
    response = http.post("/chat/completions", json=payload)
    check_error(response, openai_schema, status, code, param, fragment)
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b'{"model": "x", "temperature": NaN}', b"\xff\xfe", b"[" * 100_000]
)
def test_bodies_that_are_not_json(
    http: httpx.Client, openai_schema: SchemaCheck, raw: bytes
) -> None:
    response = http.post(
        "/chat/completions", content=raw, headers={"content-type": "application/json"}
    )
    check_error(response, openai_schema, 400, None, None, "could not parse the JSON body")


def test_oversized_body_gets_413(http: httpx.Client, openai_schema: SchemaCheck) -> None:
    filler = "x" * (1 << 20)
    payload = body(messages=[{"role": "user", "content": filler}])
    response = http.post("/chat/completions", json=payload)
    check_error(response, openai_schema, 413, "request_too_large", None, "too large")


def test_unknown_routes_and_methods(http: httpx.Client, openai_schema: SchemaCheck) -> None:
    check_error(http.post("/completions", json={}), openai_schema, 404, None, None,
                "Invalid URL (POST /v1/completions)")
    check_error(http.get("/chat/completions"), openai_schema, 405, None, None,
                "(GET /v1/chat/completions)")
    check_error(http.get("/models/gpt-4"), openai_schema, 404, "model_not_found", "model",
                "gpt-4")


def test_the_server_keeps_serving_after_bad_input(http: httpx.Client) -> None:
    for payload in (b"{", b"[]", json.dumps(body(n=0)).encode()):
        http.post("/chat/completions", content=payload)
    response = http.post("/chat/completions", json=body())
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hello"


def test_the_client_raises_the_matching_exceptions(embedded_base_url: str) -> None:
    with openai.OpenAI(base_url=embedded_base_url, api_key="k", max_retries=0, timeout=10) as c:
        with pytest.raises(openai.BadRequestError) as bad:
            c.chat.completions.create(model=SIMULATED_MODEL, messages=[])
        with pytest.raises(openai.NotFoundError) as missing:
            c.chat.completions.create(model="gpt-5", messages=HELLO, stream=True)
    assert bad.value.code == "empty_array"
    assert bad.value.param == "messages"
    assert missing.value.code == "model_not_found"


def test_models_are_listed_in_openai_format(embedded_base_url: str) -> None:
    with openai.OpenAI(base_url=embedded_base_url, api_key="k", max_retries=0, timeout=10) as c:
        models = list(c.models.list())
        one = c.models.retrieve(SIMULATED_MODEL)
    assert [m.id for m in models] == [SIMULATED_MODEL]
    assert one.object == "model"


# Mixed case, so that a comparison that ignores case is caught.
TOKEN = "S3cret-Token"


@pytest.fixture(scope="module")
def guarded() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(profile="instant", token=TOKEN) as server:
        yield server


@pytest.mark.parametrize(
    ("headers", "code", "fragment"),
    [
        ({}, None, "You didn't provide an API key"),
        ({"Authorization": "Basic S3cret-Token"}, None, "You didn't provide an API key"),
        ({"Authorization": "Bearer wrong"}, "invalid_api_key", "Incorrect API key provided"),
        ({"Authorization": "Bearer S3cret-Token-and-more"}, "invalid_api_key", "Incorrect"),
        ({"Authorization": "Bearer s3cret-token"}, "invalid_api_key", "Incorrect"),
        ({"Authorization": "Bearer S3CRET-TOKEN"}, "invalid_api_key", "Incorrect"),
    ],
)
def test_a_configured_token_is_enforced_on_every_api_route(
    guarded: EmbeddedServer, openai_schema: SchemaCheck, headers: dict[str, str],
    code: str | None, fragment: str,
) -> None:
    with httpx.Client(base_url=guarded.base_url, timeout=10) as client:
        for response in (
            client.post("/chat/completions", json=body(), headers=headers),
            client.post("/responses", json={"model": SIMULATED_MODEL, "input": "hi"},
                        headers=headers),
            client.get("/models", headers=headers),
            client.get(f"/models/{SIMULATED_MODEL}", headers=headers),
        ):
            check_error(response, openai_schema, 401, code, None, fragment)
            assert "3cret" not in response.text.lower()


def test_the_right_token_is_accepted(guarded: EmbeddedServer) -> None:
    with openai.OpenAI(base_url=guarded.base_url, api_key=TOKEN, max_retries=0,
                       timeout=10) as client:
        answer = client.chat.completions.create(model=SIMULATED_MODEL, messages=HELLO)
        response = client.responses.create(model=SIMULATED_MODEL, input="Say hello")
    with openai.OpenAI(base_url=guarded.base_url, api_key="nope", max_retries=0,
                       timeout=10) as client, pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=SIMULATED_MODEL, messages=HELLO)
    assert answer.choices[0].message.content == "hello"
    assert response.output_text == "hello"
    health = httpx.get(guarded.base_url.removesuffix("/v1") + "/health", timeout=10)
    assert health.status_code == 200
