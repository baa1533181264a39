"""Every private part of uvicorn the server relies on is still there and still works: these
fail when an upgrade moves one (see helpers/server/uvicorn_internals.py)."""

from __future__ import annotations

import inspect
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from helpers.server.app import ARRIVAL_STATE
from helpers.server.capacity import StreamGate
from helpers.server.faults import SimulatedDisconnect
from helpers.server.uvicorn_internals import (
    ERROR_LOGGER,
    MAX_HEAD_BYTES,
    ArrivalStampingProtocol,
    GracefulServer,
    uvicorn_config,
)

pytestmark = pytest.mark.timeout(30)

# What the protocol instances of a live connection held, noted by RecordingProtocol.
seen: list[dict[str, Any]] = []


class RecordingProtocol(ArrivalStampingProtocol):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        seen.append({
            "cycle": getattr(self, "cycle", None),
            "loop": getattr(self, "loop", None),
            "transport": getattr(self, "transport", None),
            "logger": getattr(self, "logger", None),
        })


async def probe(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the arrival time the protocol noted; /disconnect and /crash raise."""
    if scope["path"] == "/disconnect":
        raise SimulatedDisconnect()
    if scope["path"] == "/crash":
        raise RuntimeError("a real bug")
    body = json.dumps({"arrived": scope["state"].get(ARRIVAL_STATE)}).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RecordingGate(StreamGate):
    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


@contextmanager
def running(max_connections: int = 1_000) -> Iterator[tuple[int, RecordingGate]]:
    config = uvicorn_config(probe, max_connections=max_connections)
    assert issubclass(config.http, ArrivalStampingProtocol)  # type: ignore[arg-type]
    assert config.http.max_connections == max_connections  # type: ignore[union-attr]
    config.http = type("Recording", (RecordingProtocol,), {"max_connections": max_connections})
    gate = RecordingGate()
    server = GracefulServer(config, gate)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.001)
    try:
        yield listener.getsockname()[1], gate
    finally:
        server.should_exit = True
        thread.join(5)


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(request)
        answer = b""
        while data := client.recv(65536):
            answer += data
    return answer


def get(port: int, path: str) -> bytes:
    return exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())


def test_the_overridden_methods_are_still_uvicorns() -> None:
    assert list(inspect.signature(H11Protocol.connection_made).parameters) == ["self", "transport"]
    assert list(inspect.signature(H11Protocol.connection_lost).parameters) == ["self", "exc"]
    assert list(inspect.signature(H11Protocol.handle_events).parameters) == ["self"]
    assert list(inspect.signature(H11Protocol.on_response_complete).parameters) == ["self"]
    assert list(inspect.signature(H11Protocol.data_received).parameters) == ["self", "data"]
    assert list(inspect.signature(H11Protocol.send_400_response).parameters) == ["self", "msg"]
    assert list(inspect.signature(uvicorn.Server.shutdown).parameters) == ["self", "sockets"]
    assert "h11_max_incomplete_event_size" in inspect.signature(uvicorn.Config).parameters


def test_a_live_connection_has_cycle_loop_transport_and_the_error_logger() -> None:
    seen.clear()
    with running() as (port, _):
        answer = get(port, "/")
    assert answer.startswith(b"HTTP/1.1 200 ")
    state = seen[-1]
    assert state["cycle"] is not None and isinstance(state["cycle"].scope["state"], dict)
    assert state["loop"] is not None and isinstance(state["loop"].time(), float)
    assert state["transport"] is not None and hasattr(state["transport"], "write_eof")
    assert state["logger"].name == ERROR_LOGGER


def test_each_request_is_stamped_with_its_arrival() -> None:
    with running() as (port, _):
        answer = get(port, "/")
    arrived = json.loads(answer.split(b"\r\n\r\n", 1)[1])["arrived"]
    assert isinstance(arrived, float)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NOT HTTP\r\n\r\n",
        # A head still incomplete beyond the limit (h11_max_incomplete_event_size).
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2 * MAX_HEAD_BYTES,
    ],
)
def test_an_unreadable_request_gets_a_json_400(request_bytes: bytes) -> None:
    with running() as (port, _):
        answer = exchange(port, request_bytes)
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head
    assert json.loads(body)["error"]["type"] == "invalid_request_error"


def test_stopping_closes_the_gate() -> None:
    with running() as (_, gate):
        assert not gate.closed
    assert gate.closed


def test_only_a_simulated_disconnect_is_kept_out_of_the_error_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger=ERROR_LOGGER), running() as (port, _):
        get(port, "/disconnect")
        get(port, "/crash")
    logged = [r for r in caplog.records if r.name == ERROR_LOGGER and r.exc_info]
    assert [type(r.exc_info[1]) for r in logged if r.exc_info] == [RuntimeError]


def test_a_head_that_does_not_arrive_in_time_is_answered_408_and_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client trickling its head a byte at a time keeps uvicorn's keep-alive timer from
    ever firing; the head deadline still ends it."""
    monkeypatch.setattr("helpers.server.uvicorn_internals.HEAD_SECONDS", 0.3)
    with running() as (port, _), socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        started = time.monotonic()
        answer = b""
        for byte in b"GET / HTTP/1.1\r\nHost:":
            client.sendall(bytes([byte]))
            time.sleep(0.05)
            readable = client.recv(65536) if _readable(client) else b""
            answer += readable
            if answer:
                break
        while data := client.recv(65536):
            answer += data
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["message"].startswith(
        "The request line and headers did not arrive within 0.3 seconds"
    )
    assert took < 2.0


def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_head(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("helpers.server.uvicorn_internals.HEAD_SECONDS", 0.3)
    with running() as (port, _), socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = client.recv(65536)
        while not first.endswith(b"}"):  # the probe's JSON body, which may come separately
            first += client.recv(65536)
        client.sendall(b"GET / HTT")  # and then nothing more
        rest = b""
        while data := client.recv(65536):
            rest += data
    assert first.startswith(b"HTTP/1.1 200 ")
    assert rest.startswith(b"HTTP/1.1 408 ")


def test_connections_beyond_the_cap_get_a_json_503_and_are_closed() -> None:
    with running(max_connections=2) as (port, _):
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        try:
            time.sleep(0.1)
            answer = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            # Once one is closed, there is room again.
            held.pop().close()
            time.sleep(0.1)
            again = get(port, "/")
        finally:
            for sock in held:
                sock.close()
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 503 ")
    assert json.loads(body)["error"]["type"] == "server_error"
    assert "2 connections open" in json.loads(body)["error"]["message"]
    assert again.startswith(b"HTTP/1.1 200 ")


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])
