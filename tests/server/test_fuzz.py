"""Whatever arrives, the server answers 2xx or an OpenAI-format 4xx, never a 500, and lives on.

Hypothesis writes request bodies near the shape of a chat request (right and wrong types, unknown
keys, simulation controls) and far from it (any JSON); hand-made cases add truncated bodies, wrong
content types, bytes that are not UTF-8, deep nesting, huge and malformed headers. Only faults the
server injects on purpose as a 500, a dropped connection or a long wait are left out.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.server.embedded import EmbeddedServer
from helpers.server.faults import SIMULATION_HEADER
from helpers.server.model import SIMULATED_MODEL

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SchemaCheck = Callable[[str, Any], None]
# A reply can be long ("count to" a big number): reading stops after this much.
READ_LIMIT = 1 << 20
EXAMPLES = 600
VALID = {
    "model": SIMULATED_MODEL,
    "messages": [{"role": "user", "content": "Count to 5."}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


class ErrorLog(logging.Handler):
    """Keeps the errors uvicorn logs: each one is a request the app did not answer itself."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[EmbeddedServer, ErrorLog]]:
    errors = ErrorLog()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(errors)
    try:
        with EmbeddedServer(profile="instant") as running:
            yield running, errors
    finally:
        logger.removeHandler(errors)
    assert [record.getMessage() for record in errors.records] == []


@pytest.fixture(scope="module")
def client(server: tuple[EmbeddedServer, ErrorLog]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0].base_url, timeout=httpx.Timeout(10.0)) as http:
        yield http


def check_answer(response: httpx.Response, schema: SchemaCheck) -> None:
    """2xx, or 4xx with OpenAI's error body; the body is read up to READ_LIMIT."""
    body = b""
    for data in response.iter_bytes():
        body += data
        if len(body) > READ_LIMIT:
            break
    status = response.status_code
    assert 200 <= status < 300 or 400 <= status < 500, (status, body[:300])
    if status >= 400:
        assert response.headers["content-type"].startswith("application/json")
        schema("ErrorResponse", json.loads(body))


def post(
    client: httpx.Client, content: bytes, schema: SchemaCheck, headers: dict[str, str] | None = None
) -> None:
    request = client.build_request(
        "POST", "/chat/completions", content=content,
        headers={"content-type": "application/json", **(headers or {})},
    )
    response = client.send(request, stream=True)
    try:
        check_answer(response, schema)
    finally:
        response.close()


def alive(client: httpx.Client) -> bool:
    return client.get(client.base_url.join("/health")).status_code == 200


# -- strategies ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                               max_size=4),
    max_leaves=12,
)
content_parts = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "image_url", "input_audio", "refusal", "file", "?"])},
        optional={
            "text": st.text(max_size=60) | json_values,
            "image_url": st.fixed_dictionaries({"url": st.text(max_size=20)}) | json_values,
        },
    ),
    max_size=3,
)
messages = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "role": st.sampled_from(
                ["user", "system", "developer", "assistant", "tool", "function", "robot"]
            ) | json_values,
            "content": st.text(max_size=120) | content_parts | json_values,
            "name": st.text(max_size=10) | json_values,
            "tool_call_id": st.text(max_size=10),
            "refusal": st.none() | st.text(max_size=10),
        },
    ),
    max_size=4,
)


def brief(controls: dict[str, Any]) -> dict[str, Any]:
    """A stall or slow first byte lasts 2 s unless told otherwise: keep every wait short."""
    if controls.get("fault") in ("stall", "slow_first_byte") and "seconds" not in controls:
        return {**controls, "seconds": 0.01}
    return controls


# Instant only (the others wait seconds), and no fault whose point is a 500, a dropped connection
# or a wait; an unknown name or a wrong type must be refused with a 400.
simulation = st.fixed_dictionaries(
    {},
    optional={
        "profile": st.sampled_from(["instant", "warp", ""]) | json_values,
        "fault": st.sampled_from(
            ["rate_limit", "unauthorized", "error_event", "no_done", "no_finish", "stall",
             "slow_first_byte", "meteor"]
        ) | json_values,
        "after_chunks": st.integers(-5, 30) | json_values,
        "seconds": st.floats(0, 0.05) | st.sampled_from([-1, 1e9, "soon"]),
        "retry_after": st.floats(-1, 100) | json_values,
        "colour": json_values,
    },
).map(brief) | json_values
small_ints = st.integers(-3, 40) | st.sampled_from([0, 2**31, 2**63, -(2**63)]) | json_values
numbers = st.floats(-5, 5) | st.sampled_from([float("inf"), 1e308]) | json_values
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from([SIMULATED_MODEL, "gpt-4o-mini", "gpt-5", ""]) | json_values,
        "messages": messages | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries(
            {},
            optional={
                "include_usage": st.booleans() | json_values,
                "include_obfuscation": st.booleans() | json_values,
            },
        ) | json_values,
        "max_tokens": small_ints,
        "max_completion_tokens": small_ints,
        "n": st.integers(-1, 5) | json_values,
        "temperature": numbers,
        "top_p": numbers,
        "presence_penalty": numbers,
        "frequency_penalty": numbers,
        "seed": small_ints,
        "stop": st.text(max_size=5) | st.lists(st.text(max_size=5), max_size=5) | json_values,
        "user": st.text(max_size=20) | json_values,
        "metadata": st.dictionaries(st.text(max_size=8), st.text(max_size=8)) | json_values,
        "logprobs": st.booleans() | json_values,
        "tools": json_values,
        "response_format": json_values,
        "simulation": simulation,
        "unknown_parameter": json_values,
    },
)
# Printable ASCII; a header value cannot begin or end with a space.
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60
).map(str.strip)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=bodies | json_values, header=st.none() | header_values)
def test_generated_bodies_get_2xx_or_an_openai_4xx(
    client: httpx.Client, openai_schema: SchemaCheck, body: Any, header: str | None
) -> None:
    # Python's json writes NaN and Infinity, which are not JSON: one more way to be wrong.
    content = json.dumps(body).encode()
    post(client, content, openai_schema, {SIMULATION_HEADER: header} if header else None)


# What a curious learner types: any Unicode, lone surrogates included (valid JSON escapes, not
# valid text), long runs of digits or spaces, huge numbers and repeat counts around the rules.
any_text = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
    max_size=200,
)
runs = st.builds(
    lambda char, size: char * size,
    st.sampled_from(["1", " ", "9", "\t", "x", "-", ".", "1."]),
    st.integers(1_000, 40_000),
)
huge = st.integers(1, 5_000).map(lambda size: "9" * size)
prompts = st.one_of(
    any_text,
    runs,
    st.builds("say {} {} times".format, any_text, huge),
    st.builds("count to {}".format, huge),
    st.builds("count from {} to {}".format, huge, huge),
    st.builds("What is {} * {}?".format, huge, huge),
    st.builds("{} / 0.{}".format, huge, huge),
    st.builds("say x{}".format, runs),
    st.builds("Say {}".format, any_text),
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    prompt=prompts,
    responses=st.booleans(),
    stream=st.booleans(),
    user=st.none() | any_text,
)
def test_any_message_content_gets_an_answer_in_bounded_time(
    client: httpx.Client,
    openai_schema: SchemaCheck,
    prompt: str,
    responses: bool,
    stream: bool,
    user: str | None,
) -> None:
    body: dict[str, Any] = {"model": SIMULATED_MODEL, "stream": stream}
    if responses:
        body["input"] = prompt
    else:
        body["messages"] = [{"role": "user", "content": prompt}]
    if user is not None:
        body["user"] = user
    request = client.build_request(
        "POST", "/responses" if responses else "/chat/completions",
        content=json.dumps(body).encode(),  # ASCII, with lone surrogates escaped
        headers={"content-type": "application/json"},
    )
    started = time.perf_counter()
    response = client.send(request, stream=True)
    try:
        check_answer(response, openai_schema)
    finally:
        response.close()
    # Every rule decides in linear time on a bounded start of the prompt, and no reply is
    # longer than 16,384 tokens: on the instant profile the answer comes at once.
    assert time.perf_counter() - started < 3.0


def test_every_truncation_of_a_body_is_a_400(
    client: httpx.Client, openai_schema: SchemaCheck
) -> None:
    whole = json.dumps(VALID).encode()
    for end in range(len(whole)):
        response = client.post("/chat/completions", content=whole[:end])
        assert response.status_code == 400, (end, response.text)
        openai_schema("ErrorResponse", response.json())
    assert alive(client)


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", json.dumps(VALID).encode()),
        ("application/x-www-form-urlencoded", b"model=gpt-4o-mini-sim&messages=hi"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\nhi"),
        ("application/json; charset=latin-1", json.dumps(VALID).encode()),
        ("application/xml", b"<request><model>gpt-4o-mini-sim</model></request>"),
        ("application/json", b"\xff\xfe\x00not utf-8"),
        ("application/json", b"[" * 100_000 + b"]" * 100_000),
        ("application/json", b'{"model": "a", "model": ' + b"9" * 5000 + b"}"),
        ("", b""),
    ],
)
def test_odd_content_types_and_bytes(
    client: httpx.Client, openai_schema: SchemaCheck, content_type: str, content: bytes
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    request = client.build_request("POST", "/chat/completions", content=content, headers=headers)
    response = client.send(request, stream=True)
    try:
        check_answer(response, openai_schema)
    finally:
        response.close()
    assert alive(client)


def raw_exchange(base_url: str, request: bytes) -> bytes:
    url = httpx.URL(base_url)
    assert url.port is not None
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while data := sock.recv(1 << 16):
            answer += data
    return answer


@pytest.mark.parametrize(
    "head",
    [
        b"X-Big: " + b"a" * 1_000_000,
        b"\r\n".join(b"X-Many-%d: %s" % (n, b"b" * 100) for n in range(2000)),
        b"Authorization: Bearer " + b"c" * 300_000,
        b"Bad Header Without Colon",
        b"X-Nul: a\x00b",
    ],
    ids=["one-megabyte-header", "2000-headers", "huge-authorization", "no-colon", "nul-byte"],
)
def test_huge_and_malformed_headers_get_an_openai_400(
    server: tuple[EmbeddedServer, ErrorLog], client: httpx.Client, openai_schema: SchemaCheck,
    head: bytes,
) -> None:
    body = json.dumps(VALID).encode()
    answer = raw_exchange(
        server[0].base_url,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + head
        + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
    )
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    openai_schema("ErrorResponse", json.loads(rest.partition(b"\r\n\r\n")[2]))
    assert alive(client)


@pytest.mark.parametrize(
    "request_line",
    [b"GARBAGE", b"POST /v1/chat/completions HTTP/9.9", b"POST  HTTP/1.1", b"\x16\x03\x01\x02"],
    ids=["garbage", "http-9", "no-target", "tls-hello"],
)
def test_unreadable_requests_get_an_openai_400(
    server: tuple[EmbeddedServer, ErrorLog], client: httpx.Client, openai_schema: SchemaCheck,
    request_line: bytes,
) -> None:
    answer = raw_exchange(
        server[0].base_url, request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    openai_schema("ErrorResponse", json.loads(answer.partition(b"\r\n\r\n")[2]))
    assert alive(client)


def test_a_body_cut_off_by_the_client_is_not_a_server_error(
    server: tuple[EmbeddedServer, ErrorLog], client: httpx.Client
) -> None:
    """The client promises 500 bytes, sends 9 and hangs up: no traceback in the log."""
    url = httpx.URL(server[0].base_url)
    assert url.port is not None
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 500\r\n\r\n{"model":'
        )
        sock.shutdown(socket.SHUT_WR)
        answer = sock.recv(1 << 16)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400 ")
    assert alive(client)
    assert server[1].records == []
