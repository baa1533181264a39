"""A shared room server survives its learners: what a curious or careless one sends, against a
real `python -m helpers serve --host 0.0.0.0 --token T` in a process of its own.

Each case checks what it answers (status and OpenAI's JSON shape), how long it takes, and that
it gives back what it held: its slot (`/health`), its connection, the server's memory.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psutil
import pytest

from helpers.server.model import SIMULATED_MODEL
from helpers.server.testing.process import ServerProcess, run_server_process
from tests.support import health

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TOKEN = "room-abuse-7c1d"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TIMEOUT = httpx.Timeout(20.0, connect=2.0)
WORDS = " ".join(f"word{n}" for n in range(100))


@pytest.fixture(scope="module")
def room() -> Iterator[ServerProcess]:
    # Unpaced, so that the long streams below take a second, not eight: the pace has its own test.
    with run_server_process(
        "--host", "0.0.0.0", "--token", TOKEN, "--profile", "instant", "--no-access-log",
        "--max-chunk-rate", "0",
    ) as server:
        yield server


@pytest.fixture
def http(room: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=room.base_url, headers=AUTH, timeout=TIMEOUT) as client:
        yield client




def eventually(condition: Callable[[], bool], within: float) -> float:
    """Seconds until `condition()` held; fails when it did not within `within` seconds."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, "the condition never held"
        time.sleep(0.02)
    return time.monotonic() - started


def chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": SIMULATED_MODEL, "messages": [{"role": "user", "content": content}], **extra}


def stream_size(http: httpx.Client, body: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """Bytes of a streamed answer, and its chunks."""
    size, data = 0, bytearray()
    with http.stream("POST", "/chat/completions", json=body) as response:
        assert response.status_code == 200
        for part in response.iter_bytes():
            size += len(part)
            data += part
    chunks = [
        json.loads(line[6:])
        for line in data.decode().split("\n")
        if line.startswith("data: {")
    ]
    return size, chunks


def assert_openai_error(response: httpx.Response, status: int, param: str | None = None) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if param is not None:
        assert error["param"] == param


# -- bounded work --------------------------------------------------------------------------


def test_a_reply_with_no_limit_stops_at_16384_tokens(http: httpx.Client) -> None:
    started = time.perf_counter()
    size, chunks = stream_size(http, chat("Count to 10000", stream=True,
                                          stream_options={"include_usage": True}))
    assert chunks[-1]["usage"]["completion_tokens"] == 16_384
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
    assert size < 5_000_000
    assert time.perf_counter() - started < 10


def test_repeating_a_long_text_a_thousand_times_is_capped(http: httpx.Client) -> None:
    """289 bytes of request once produced 14 MB of stream: now at most 65,536 characters."""
    body = chat(f"Say {WORDS} 1000 times", stream=True)
    assert len(json.dumps(body)) < 1_000
    size, chunks = stream_size(http, body)
    texts = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert "".join(t or "" for t in texts).startswith(WORDS)
    # At most 16,384 tokens of about 300 bytes each: some 5 MB, where it was 14.
    assert sum(1 for t in texts if t) <= 16_384
    assert size < 6_000_000


def test_many_choices_of_a_long_limit_are_refused_at_once(http: httpx.Client) -> None:
    started = time.perf_counter()
    answer = http.post("/chat/completions", json=chat("Hi", n=8, max_tokens=16_384))
    assert_openai_error(answer, 400, param="n")
    assert "32768" in answer.json()["error"]["message"]
    assert time.perf_counter() - started < 1.0


def test_128_choices_with_no_limit_share_the_requests_tokens(
    http: httpx.Client, room: ServerProcess
) -> None:
    process = psutil.Process(room.process.pid)
    before = process.memory_info().rss
    started = time.perf_counter()
    first_byte = 0.0
    size = 0
    with http.stream("POST", "/chat/completions", json=chat(
        "Count to 10000", n=128, stream=True, stream_options={"include_usage": True}
    )) as response:
        for part in response.iter_bytes():
            first_byte = first_byte or time.perf_counter() - started
            size += len(part)
            last = part
    usage = json.loads(last.split(b"data: ")[-2])["usage"]
    assert usage["completion_tokens"] == 32_768
    assert first_byte < 1.0, "the first byte does not wait for the whole reply"
    assert process.memory_info().rss - before < 50 * 1024 * 1024


def test_a_room_server_paces_each_stream_at_2000_events_a_second() -> None:
    """A stream that would run flat out (instant profile) is held to the room's pace after a
    first burst of 64 events, so ten such learners take a small share of the server's CPU."""
    with run_server_process("--profile", "instant", "--no-access-log") as paced, httpx.Client(
        base_url=paced.base_url, timeout=TIMEOUT
    ) as client:
        started = time.perf_counter()
        _, chunks = stream_size(client, chat("Count to 1000", stream=True))
        took = time.perf_counter() - started
    events = len(chunks) + 1  # and [DONE]
    assert events == 3_002
    # (3,002 - 64) events at 2,000 a second: about 1.47 s; unpaced, some 0.1 s.
    assert 1.3 < took < 4.0


# -- inputs that once gave a 500 or took minutes ---------------------------------------------


ODD = [
    ("say x" + " " * 8_000, 200),
    ("1" * 40_000, 200),
    ("Count to " + "9" * 5_000, 200),
    ("say hi " + "9" * 5_000 + " times", 200),
    ("What is 1" + "0" * 400 + " * 3?", 200),
    ("What is " + "9" * 2_200 + " * " + "9" * 2_200 + "?", 200),
    ("\ud800 alone", 200),
]


@pytest.mark.parametrize(("content", "status"), ODD, ids=range(len(ODD)))
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_odd_prompts_get_an_answer_quickly_on_both_apis(
    http: httpx.Client, content: str, status: int, api: str
) -> None:
    if api == "chat":
        body = chat(content, user="\udfff")
    else:
        body = {"model": SIMULATED_MODEL, "input": content, "user": "\udfff"}
    started = time.perf_counter()
    answer = http.post(
        f"/{'chat/completions' if api == 'chat' else 'responses'}",
        content=json.dumps(body).encode(),  # lone surrogates as JSON escapes
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("application/json")
    assert time.perf_counter() - started < 1.0


# -- slots and connections held by nobody -----------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "fault"), [(False, "stall"), (True, "slow_first_byte"), (False, "slow_first_byte")]
)
def test_a_client_that_leaves_frees_its_slot_within_a_second(
    room: ServerProcess, stream: bool, fault: str
) -> None:
    body = chat("Count to 50", stream=stream,
                simulation={"fault": fault, "seconds": 600, "after_chunks": 3})
    leaving = threading.Thread(target=post_and_leave, args=(room, body, 0.5))
    leaving.start()
    eventually(lambda: health(room.base_url)["slots"]["held"] >= 1, within=5)
    leaving.join()
    assert eventually(lambda: health(room.base_url)["slots"]["held"] == 0, within=1.0) < 1.0


def post_and_leave(room: ServerProcess, body: dict[str, Any], after: float) -> None:
    with httpx.Client(base_url=room.base_url, headers=AUTH, timeout=after) as client:
        try:
            with client.stream("POST", "/chat/completions", json=body) as response:
                for _ in response.iter_bytes():
                    pass
        except httpx.TimeoutException:
            pass


def test_a_request_head_that_never_ends_does_not_hold_the_room(room: ServerProcess) -> None:
    """200 connections that never finish their head: /health still answers at once, and each
    is closed by the head deadline (10 s)."""
    held = []
    for _ in range(200):
        sock = socket.create_connection((room.host, room.port), timeout=15)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Le")
        held.append(sock)
    try:
        started = time.perf_counter()
        assert health(room.base_url)["status"] == "ok"
        assert time.perf_counter() - started < 1.0
        for sock in held:
            answer = b""
            while data := sock.recv(65536):
                answer += data
            assert answer.startswith(b"HTTP/1.1 408 ")
        assert time.perf_counter() - started < 13
    finally:
        for sock in held:
            sock.close()


def test_bytes_trickled_after_a_401_do_not_keep_the_connection(room: ServerProcess) -> None:
    with socket.create_connection((room.host, room.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
        )
        answer = sock.recv(65536)
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 3:
            try:
                sock.sendall(b" ")
                if sock.recv(65536) == b"":
                    closed = True
                    break
            except OSError:
                closed = True
                break
            time.sleep(0.1)
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert b"connection: close" in answer.lower()
    assert closed


# -- the whole room, and stopping ------------------------------------------------------------


def test_after_all_this_the_server_serves_and_has_not_grown(
    http: httpx.Client, room: ServerProcess
) -> None:
    process = psutil.Process(room.process.pid)
    before = process.memory_info().rss
    for _ in range(3):
        stream_size(http, chat("Count to 10000", stream=True))
        http.post("/chat/completions", json=chat("1" * 40_000))
    answer = http.post("/chat/completions", json=chat("Say hello"))
    assert answer.json()["choices"][0]["message"]["content"] == "hello"
    assert process.memory_info().rss - before < 30 * 1024 * 1024
    report = health(room.base_url)
    assert report["slots"]["held"] == 0 and report["streams"]["active"] == 0


def test_ctrl_c_or_sigterm_ends_the_server_within_2_s_whatever_runs() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        with run_server_process("--profile", "realistic", "--no-access-log") as server:
            busy = [
                chat("Count to 10000", stream=True),
                chat("Count to 50", simulation={"fault": "stall", "seconds": 600}),
                chat("Count to 50", stream=True,
                     simulation={"fault": "slow_first_byte", "seconds": 600}),
            ]
            threads = [
                threading.Thread(target=post_and_leave_after(server, body), daemon=True)
                for body in busy * 3
            ]
            for thread in threads:
                thread.start()
            eventually(lambda: health(server.base_url)["slots"]["held"] >= 9, within=10)
            started = time.perf_counter()
            server.stop(sig, timeout=10)
            took = time.perf_counter() - started
        assert server.returncode == 0
        assert took < 2.0, f"{sig.name}: stopped after {took:.2f} s"


def post_and_leave_after(server: ServerProcess, body: dict[str, Any]) -> Callable[[], None]:
    def run() -> None:
        with contextlib.suppress(httpx.HTTPError):
            post_and_leave(server, body, 30)

    return run


@pytest.mark.parametrize(
    ("token", "why"),
    [(" room-token-1", "spaces"), ("r\u00f6\u00f6m-token", "visible ASCII"), ("abc1234", "8")],
)
def test_a_token_nobody_can_send_stops_the_server_from_starting(token: str, why: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "serve", "--host", "0.0.0.0", "--port", "0",
         "--token", token],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: refusing to start") and why in line
    assert token.strip() not in line
