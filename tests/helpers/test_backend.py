"""Backend choice: the selection rules, the one printed line, masking, and failing fast."""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from openai.types.shared import chat_model

import helpers.server.embedded
from helpers import backend as backend_module
from helpers.backend import (
    PLACEHOLDER_KEY,
    Backend,
    BackendError,
    EngineUnreachableError,
    current_backend,
    get_async_client,
    get_client,
    resolve_model,
    select_backend,
    with_responses_api,
)
from helpers.fault_injection import inject_fault
from helpers.server.model import SIMULATED_MODEL

# Put together at run time, so that no key-shaped string is tracked in the repository.
SECRET = "sk-" + "test-DO-NOT-SHOW-0123456789"
VARIABLES = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "TUTORIAL_BACKEND", "TUTORIAL_MODEL")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no backend variables and no backend chosen yet."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(backend_module, "_current", None)


def no_server() -> str:
    raise AssertionError("the embedded server must not start here")


@dataclass
class FakeEngine:
    """A loopback stand-in for an engine's GET /v1/models."""

    url: str = ""
    status: int = 200
    models: list[str] = field(default_factory=lambda: ["engine-model-a", "engine-model-b"])
    authorizations: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    has_responses_api: bool = False


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    state = FakeEngine()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.authorizations.append(self.headers.get("Authorization", ""))
            if self.path != "/v1/models":
                status, payload = 404, {"error": {"message": "no such route", "type": "x"}}
            elif state.status != 200:
                status, payload = state.status, {"error": {"message": "no", "type": "x"}}
            else:
                status = 200
                models = [
                    {"id": m, "object": "model", "created": 0, "owned_by": "t"}
                    for m in state.models
                ]
                payload = {"object": "list", "data": models}
            self._send(status, payload)

        def do_POST(self) -> None:
            state.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            if self.path == "/v1/responses":
                if state.has_responses_api:
                    self._send(200, {"id": "r", "object": "response", "status": "completed"})
                else:
                    self._send(404, {"detail": "Not Found"})
                return
            message = {"role": "assistant", "content": "Two."}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            payload = {
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": "engine-model-a",
                "choices": [choice],
            }
            self._send(200, payload)

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest's output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/v1"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---- select_backend: the rules ----


def test_nothing_set_selects_the_embedded_simulation() -> None:
    backend = select_backend({})
    assert (backend.kind, backend.model, backend.base_url) == ("embedded", SIMULATED_MODEL, "")
    assert backend.api_key == PLACEHOLDER_KEY


def test_a_key_alone_selects_openai_with_gpt_5_4_mini() -> None:
    backend = select_backend({"OPENAI_API_KEY": SECRET})
    assert backend.kind == "openai"
    assert backend.base_url == "https://api.openai.com/v1"
    assert backend.model == "gpt-5.4-mini"
    assert backend.api_key == SECRET


def test_a_base_url_selects_the_compatible_engine_even_with_a_key() -> None:
    backend = select_backend(
        {"OPENAI_BASE_URL": "http://localhost:11434/v1/", "OPENAI_API_KEY": SECRET}
    )
    assert backend.kind == "compatible"
    assert backend.base_url == "http://localhost:11434/v1"
    assert backend.api_key == SECRET
    assert backend.model == "", "the engine names its model later"


def test_a_compatible_engine_without_a_key_gets_a_placeholder_that_is_not_key_shaped() -> None:
    backend = select_backend({"OPENAI_BASE_URL": "http://localhost:8000/v1"})
    assert backend.api_key == PLACEHOLDER_KEY
    assert not PLACEHOLDER_KEY.startswith("sk-")


def test_empty_variables_count_as_unset() -> None:
    environ = {
        "OPENAI_BASE_URL": "",
        "OPENAI_API_KEY": "  ",
        "TUTORIAL_BACKEND": "",
        "TUTORIAL_MODEL": "",
    }
    assert select_backend(environ) == select_backend({})


@pytest.mark.parametrize(
    ("forced", "kind"),
    [
        ("embedded", "embedded"),
        ("openai", "openai"),
        ("compatible", "compatible"),
        ("auto", "compatible"),
    ],
)
def test_tutorial_backend_forces_one(forced: str, kind: str) -> None:
    environ = {"OPENAI_BASE_URL": "http://localhost:1234/v1", "OPENAI_API_KEY": SECRET}
    assert select_backend({**environ, "TUTORIAL_BACKEND": forced}).kind == kind


def test_forcing_is_case_and_space_insensitive() -> None:
    assert (
        select_backend({"TUTORIAL_BACKEND": " Embedded ", "OPENAI_API_KEY": SECRET}).kind
        == "embedded"
    )


def test_forced_openai_ignores_the_base_url() -> None:
    environ = {
        "TUTORIAL_BACKEND": "openai",
        "OPENAI_BASE_URL": "http://localhost:1234/v1",
        "OPENAI_API_KEY": SECRET,
    }
    assert select_backend(environ).base_url == "https://api.openai.com/v1"


def test_the_simulation_never_receives_a_real_key() -> None:
    backend = select_backend({"TUTORIAL_BACKEND": "embedded", "OPENAI_API_KEY": SECRET})
    assert backend.api_key == PLACEHOLDER_KEY


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"TUTORIAL_BACKEND": "compatible"}, "OPENAI_BASE_URL"),
        ({"TUTORIAL_BACKEND": "openai"}, "OPENAI_API_KEY"),
        ({"TUTORIAL_BACKEND": "ollama"}, "auto, embedded, openai, compatible"),
    ],
)
def test_a_forced_backend_without_its_variables_says_what_is_missing(
    environ: dict[str, str], names: str
) -> None:
    with pytest.raises(BackendError, match=names):
        select_backend(environ)


@pytest.mark.parametrize(
    "environ",
    [{}, {"OPENAI_API_KEY": SECRET}, {"OPENAI_BASE_URL": "http://localhost:8000/v1"}],
)
def test_tutorial_model_overrides_every_backend(environ: dict[str, str]) -> None:
    assert select_backend({**environ, "TUTORIAL_MODEL": " my-model "}).model == "my-model"


def test_select_backend_starts_nothing_and_touches_no_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(helpers.server.embedded, "ensure_embedded_server", no_server)
    started = time.perf_counter()
    select_backend({})
    backend = select_backend({"OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1"})
    assert backend.kind == "compatible"
    assert time.perf_counter() - started < 0.5


# ---- masking ----


def test_the_key_is_masked_in_the_repr() -> None:
    backend = select_backend({"OPENAI_API_KEY": SECRET})
    for text in (repr(backend), str(backend), f"{backend}", repr([backend])):
        assert SECRET not in text
        assert "api_key=<hidden>" in text
    assert "api_key=<placeholder>" in repr(select_backend({}))


def test_credentials_in_the_url_are_never_shown() -> None:
    backend = select_backend({"OPENAI_BASE_URL": "http://user:hunter2@proxy.example:8443/v1"})
    assert "hunter2" not in repr(backend)
    assert "hunter2" not in backend.describe()
    assert "http://proxy.example:8443/v1" in backend.describe()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:hunter2@proxy.example:8443/v1", "http://proxy.example:8443/v1"),
        ("https://gw.example/v1?api-key=hunter2", "https://gw.example/v1"),
        ("https://gw.example/v1#hunter2", "https://gw.example/v1"),
        ("http://[::1]:8000/v1?key=hunter2", "http://[::1]:8000/v1"),
        ("http://localhost:11434/v1", "http://localhost:11434/v1"),
    ],
)
def test_a_url_is_shown_without_credentials_query_or_fragment(url: str, shown: str) -> None:
    backend = select_backend({"OPENAI_BASE_URL": url})
    assert "hunter2" not in repr(backend) + backend.describe()
    assert backend.describe().endswith(f"· {shown}")


# ---- get_client and get_async_client ----


def test_the_default_openai_model_is_listed_by_the_pinned_client_without_a_shutdown() -> None:
    # openai.types.shared.chat_model lists the models, then a docstring of deprecated ones
    # with their announced shutdown dates.
    source = inspect.getsource(chat_model)
    listed, deprecated = source.split('"""Deprecated values:')
    assert '"gpt-5.4-mini",' in listed
    assert "Announced shutdown date" in deprecated, "the deprecation list moved: look again"
    assert '"gpt-5.4-mini"' not in deprecated
    assert '"gpt-4o-mini"' in deprecated, "the model this replaced is scheduled for shutdown"


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_an_engine_gets_the_length_limit_under_both_names(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, asynchronous: bool
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", engine.url)
    messages: list[Any] = [{"role": "user", "content": "Hi"}]
    if asynchronous:

        async def ask() -> None:
            async with get_async_client(max_retries=0) as client:
                await client.chat.completions.create(
                    model="m", messages=messages, max_completion_tokens=7
                )

        asyncio.run(ask())
    else:
        with get_client(max_retries=0) as client:
            client.chat.completions.create(model="m", messages=messages, max_completion_tokens=7)
    assert engine.bodies[0]["max_completion_tokens"] == 7
    assert engine.bodies[0]["max_tokens"] == 7


def test_get_client_on_a_compatible_engine_prints_one_line_and_uses_its_first_model(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", engine.url)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with get_client() as client:
        assert str(client.base_url) == engine.url + "/"
        assert client.api_key == SECRET
    captured = capsys.readouterr()
    expected = (
        f"Backend: OpenAI-compatible engine (OPENAI_BASE_URL) · model engine-model-a · {engine.url}"
    )
    assert captured.out.splitlines() == [expected]
    assert SECRET not in captured.out + captured.err
    assert engine.authorizations == [f"Bearer {SECRET}"], "the engine's key goes to the engine"
    assert current_backend().model == "engine-model-a"
    assert resolve_model() == "engine-model-a"


def test_a_given_model_is_kept_even_when_the_engine_lists_others(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", engine.url)
    monkeypatch.setenv("TUTORIAL_MODEL", "llama3.2")
    with get_client():
        pass
    assert "· model llama3.2 ·" in capsys.readouterr().out
    assert engine.authorizations == [f"Bearer {PLACEHOLDER_KEY}"]


def test_an_engine_without_a_model_list_still_serves_a_given_model(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.status = 404
    monkeypatch.setenv("OPENAI_BASE_URL", engine.url)
    monkeypatch.setenv("TUTORIAL_MODEL", "served")
    with get_client():
        assert resolve_model() == "served"
    monkeypatch.delenv("TUTORIAL_MODEL")
    with pytest.raises(BackendError, match="set TUTORIAL_MODEL"):
        get_client()


def test_an_engine_with_no_model_asks_for_one(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.models = []
    monkeypatch.setenv("OPENAI_BASE_URL", engine.url)
    with pytest.raises(BackendError, match="serves no model yet"):
        get_client()


def test_a_refused_key_is_reported_without_showing_it(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.status = 401
    monkeypatch.setenv("OPENAI_BASE_URL", engine.url)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with pytest.raises(BackendError, match="refused the key") as raised:
        get_client()
    assert SECRET not in str(raised.value)
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err


@pytest.mark.timeout(20)
def test_an_unreachable_engine_fails_within_seconds_saying_what_to_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("TUTORIAL_MODEL", "given")  # a given model must not skip the check
    started = time.perf_counter()
    with pytest.raises(EngineUnreachableError) as raised:
        get_client()
    assert time.perf_counter() - started < 5
    message = str(raised.value)
    assert url in message
    assert "check that it is running" in message
    assert "/v1" in message


@pytest.mark.timeout(20)
def test_an_engine_that_accepts_but_never_answers_fails_within_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # the kernel completes connections that nobody ever reads
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{listener.getsockname()[1]}/v1")
        started = time.perf_counter()
        with pytest.raises(EngineUnreachableError):
            get_client()
        assert time.perf_counter() - started < backend_module.PROBE_TIMEOUT.read + 2  # type: ignore[operator]


def test_get_client_on_the_embedded_backend_prints_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("TUTORIAL_BACKEND", "embedded")
    with get_client() as client:
        url = str(client.base_url).rstrip("/")
        assert client.api_key == PLACEHOLDER_KEY
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/v1")
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"Backend: embedded simulation (offline, no key needed) · model {SIMULATED_MODEL} · {url}"
    ]
    assert SECRET not in out


def test_get_client_passes_keyword_arguments_to_the_client(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with get_client(max_retries=0, timeout=7.0) as client:
        assert client.max_retries == 0
        assert client.timeout == 7.0
    with get_client() as client:
        assert isinstance(client.timeout, openai.Timeout)
        assert client.timeout.connect is not None and client.timeout.connect <= 5
        assert client.timeout.read is not None and client.timeout.read >= 30
    assert len(capsys.readouterr().out.splitlines()) == 2, "one line per call"


def test_get_client_refuses_to_be_pointed_elsewhere_by_arguments() -> None:
    with pytest.raises(AssertionError, match="OPENAI_BASE_URL"):
        get_client(base_url="http://127.0.0.1:1/v1")


def test_get_async_client_returns_the_async_client_and_prints_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = get_async_client(max_retries=1)
    try:
        assert isinstance(client, openai.AsyncOpenAI)
        assert client.max_retries == 1
    finally:
        asyncio.run(client.close())
    assert capsys.readouterr().out.startswith("Backend: embedded simulation")


# ---- current_backend and resolve_model ----


def test_current_backend_reports_the_choice_get_client_made(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert current_backend() == select_backend({"OPENAI_API_KEY": SECRET})
    monkeypatch.delenv("OPENAI_API_KEY")
    with get_client():
        pass
    chosen = current_backend()
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert current_backend() == chosen
    assert chosen.kind == "embedded"
    assert chosen.base_url.startswith("http://127.0.0.1:")


def test_resolve_model_needs_no_server_when_the_model_is_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(helpers.server.embedded, "ensure_embedded_server", no_server)
    assert resolve_model() == SIMULATED_MODEL
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert resolve_model() == "gpt-5.4-mini"
    monkeypatch.setenv("TUTORIAL_MODEL", "chosen")
    assert resolve_model() == "chosen"


def test_resolve_model_asks_an_engine_that_was_given_none(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.models = ["only-one"]
    monkeypatch.setenv("OPENAI_BASE_URL", engine.url)
    assert resolve_model() == "only-one"


def test_backend_is_a_frozen_value() -> None:
    backend = select_backend({})
    assert isinstance(backend, Backend)
    with pytest.raises(AttributeError):
        backend.model = "other"  # type: ignore[misc]


# ---- the real embedded server ----


@pytest.mark.timeout(60)
def test_get_client_streams_from_the_embedded_server(capsys: pytest.CaptureFixture[str]) -> None:
    with get_client(timeout=30.0, max_retries=0) as client:
        stream = client.chat.completions.create(
            model=resolve_model(),
            messages=[{"role": "user", "content": "What's 1+1? Answer in one word."}],
            stream=True,
            extra_body={"simulation": {"profile": "instant"}},
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Two."
    assert capsys.readouterr().out.startswith("Backend: embedded simulation")


@pytest.mark.timeout(60)
def test_get_async_client_streams_from_the_embedded_server() -> None:
    async def answer() -> str:
        async with get_async_client(timeout=30.0, max_retries=0) as client:
            stream = await client.chat.completions.create(
                model=resolve_model(),
                messages=[{"role": "user", "content": "What's 1+1? Answer in one word."}],
                stream=True,
                extra_body={"simulation": {"profile": "instant"}},
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(answer()) == "Two."


def test_a_base_url_without_v1_is_told_to_add_it_even_with_a_model(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = engine.url.removesuffix("/v1")
    monkeypatch.setenv("OPENAI_BASE_URL", bare)
    for model in ("llama3.2", ""):
        monkeypatch.setenv("TUTORIAL_MODEL", model)
        with pytest.raises(BackendError) as raised:
            get_client()
        assert str(raised.value).endswith(f"so set OPENAI_BASE_URL={bare}/v1.")


def test_a_key_sent_unencrypted_beyond_this_machine_is_warned_of_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("helpers.backend._connect", lambda backend: backend)
    monkeypatch.setattr("helpers.backend._warned", set())
    monkeypatch.setenv("TUTORIAL_MODEL", "m")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    for url in ("http://192.168.1.20:8000/v1", "http://192.168.1.20:8000/v1",
                "https://engine.example/v1", "http://127.0.0.1:8000/v1"):
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        with get_client():
            pass
    warnings = [line for line in capsys.readouterr().err.splitlines() if line]
    assert warnings == [
        "Warning: OPENAI_API_KEY travels unencrypted to 192.168.1.20 (http://): fine for a "
        "room's token, never for an OpenAI key; use https:// for anything else."
    ]
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setattr("helpers.backend._warned", set())
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.0.0.5:8000/v1")
    with get_client():
        pass
    assert capsys.readouterr().err == "", "no key, no warning"


# ---- with_responses_api: notebook 07 on an engine without the Responses API ----


def test_an_engine_without_the_responses_api_hands_over_to_the_simulation_saying_so(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", engine.url)
    client = get_client(max_retries=0)
    capsys.readouterr()
    simulation, model = with_responses_api(client, "engine-model-a")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"The engine at {engine.url} has no Responses API (POST /responses answered 404), "
        "so this notebook uses the embedded simulation instead:"
    )
    assert lines[1].startswith("Backend: embedded simulation (offline, no key needed)")
    assert len(lines) == 2
    assert model == SIMULATED_MODEL
    assert current_backend().kind == "embedded"
    assert str(simulation.base_url).startswith("http://127.0.0.1:")
    assert str(simulation.base_url) != str(client.base_url)
    assert engine.bodies[-1]["input"] == "Hi", "the engine was asked, not guessed about"


def test_an_engine_with_the_responses_api_keeps_its_client(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.has_responses_api = True
    monkeypatch.setenv("OPENAI_BASE_URL", engine.url)
    client = get_client(max_retries=0)
    capsys.readouterr()
    assert with_responses_api(client, "engine-model-a") == (client, "engine-model-a")
    assert capsys.readouterr().out == ""
    assert current_backend().kind == "compatible"


def test_openai_and_the_simulation_are_not_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    client = openai.OpenAI(api_key=SECRET, base_url="http://127.0.0.1:9/v1", max_retries=0)
    assert with_responses_api(client, "gpt-5.4-mini") == (client, "gpt-5.4-mini")


def test_a_fault_injected_client_of_an_engine_still_sends_both_names(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", engine.url)
    faulty, traffic = inject_fault(get_client(max_retries=0), "stall", after_events=3)
    messages: list[Any] = [{"role": "user", "content": "Hi"}]
    faulty.chat.completions.create(model="m", messages=messages, max_completion_tokens=5)
    assert (engine.bodies[-1]["max_completion_tokens"], engine.bodies[-1]["max_tokens"]) == (5, 5)
    assert len(traffic.attempts) == 1
