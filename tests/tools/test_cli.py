"""`python -m helpers serve` as a learner runs it: a real subprocess, stopped with Ctrl-C."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest

from helpers.server.model import SIMULATED_MODEL
from helpers.tools.cli import main
from tests.support import REPO

pytestmark = pytest.mark.timeout(60)

ASK = {"model": SIMULATED_MODEL, "messages": [{"role": "user", "content": "count to 3"}]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpers", "serve", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def first_line(proc: subprocess.Popen[str], timeout: float = 15) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the server printed nothing in time"
    return proc.stdout.readline()


def test_serve_answers_the_openai_client_and_stops_on_ctrl_c() -> None:
    port = free_port()
    with serve("--port", str(port), "--token", "tok-12345", "--profile", "instant") as proc:
        line = first_line(proc)
        url = f"http://127.0.0.1:{port}/v1"
        assert url in line
        assert SIMULATED_MODEL in line and "instant" in line
        assert "tok-12345" not in line
        with openai.OpenAI(base_url=url, api_key="tok-12345", max_retries=0, timeout=10) as client:
            chunks = list(client.chat.completions.create(stream=True, **ASK))  # type: ignore[call-overload]
        with openai.OpenAI(base_url=url, api_key="wrong", max_retries=0, timeout=10) as client, \
                pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(**ASK)  # type: ignore[call-overload]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "1, 2, 3"
    assert proc.returncode == 0
    assert "Stopped." in out
    assert "Traceback" not in err
    assert "tok-12345" not in out + err


def test_ctrl_c_during_a_stream_finishes_it_at_once_and_stops() -> None:
    """Stopping skips the simulated waits, so an open stream still ends complete and promptly."""
    port = free_port()
    with serve("--port", str(port), "--profile", "realistic") as proc:
        first_line(proc)
        with httpx.Client(timeout=10) as http, http.stream(
            "POST", f"http://127.0.0.1:{port}/v1/chat/completions",
            json={**ASK, "stream": True, "max_tokens": 2000},
        ) as response:
            assert response.status_code == 200
            started = time.perf_counter()
            proc.send_signal(signal.SIGINT)
            body = response.read()
            flushed = time.perf_counter() - started
        _, err = proc.communicate(timeout=15)
    assert body.endswith(b"data: [DONE]\n\n")
    assert body.count(b'"delta":{"content"') == 7  # "1", ",", " ", "2", ... "3"
    assert flushed < 1.0  # the realistic first token alone would take about 1.1 s
    assert proc.returncode == 0
    assert err == ""


def test_the_token_can_come_from_the_environment() -> None:
    port = free_port()
    with serve("--port", str(port), "--profile", "instant",
               env={"TUTORIAL_SERVER_TOKEN": "env-token-1"}) as proc:
        line = first_line(proc)
        assert "env-token-1" not in line
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", timeout=10) as http:
            assert http.post("/chat/completions", json=ASK).status_code == 401
            guarded = {"Authorization": "Bearer env-token-1"}
            ok = http.post("/chat/completions", json=ASK, headers=guarded)
        assert ok.status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_listening_beyond_loopback_without_a_token_is_refused(host: str) -> None:
    no_token = {"TUTORIAL_SERVER_TOKEN": ""}
    with serve("--host", host, "--port", str(free_port()), env=no_token) as proc:
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 2
    assert "refusing to listen" in err
    assert "--token" in err
    assert out == ""


def test_a_busy_port_is_reported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with serve("--port", str(port)) as proc:
            _, err = proc.communicate(timeout=15)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "serve" in capsys.readouterr().err


def test_an_unknown_profile_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--profile", "warp"])
    assert exited.value.code == 2
    assert "realistic" in capsys.readouterr().err


# ---- `streaming-lab lab`, the no-make `make lab` ----


def test_lab_command_opens_the_first_notebook_on_the_embedded_backend() -> None:
    from helpers.tools.cli import lab_command

    command, env = lab_command(["--no-browser", "--port=8890"], {"PATH": "/bin"}, is_root=False)
    first = os.path.join("notebooks", "01_plain_response.ipynb")
    assert command == [sys.executable, "-m", "jupyter", "lab", first, "--no-browser", "--port=8890"]
    assert env == {"PATH": "/bin", "TUTORIAL_BACKEND": "embedded"}


def test_lab_command_keeps_a_chosen_backend_and_allows_root() -> None:
    """As `make lab TUTORIAL_BACKEND=auto`, and as the Makefile's --allow-root for root."""
    from helpers.tools.cli import lab_command

    command, env = lab_command([], {"TUTORIAL_BACKEND": "auto"}, is_root=True)
    assert command[-1] == "--allow-root"
    assert env["TUTORIAL_BACKEND"] == "auto"


def test_lab_passes_unknown_arguments_to_jupyter_lab(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import helpers.tools.cli as cli

    started: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, env: started.append((cmd, env)) or 7)
    monkeypatch.delenv("TUTORIAL_BACKEND", raising=False)
    monkeypatch.chdir(REPO)
    assert main(["lab", "--no-browser", "--port=8890"]) == 7
    ((command, env),) = started
    assert command[2:5] == ["jupyter", "lab", os.path.join("notebooks", "01_plain_response.ipynb")]
    assert command[-2:] == ["--no-browser", "--port=8890"]
    assert env["TUTORIAL_BACKEND"] == "embedded"
    # Other subcommands still refuse what they do not know.
    with pytest.raises(SystemExit):
        main(["notebooks", "--check", "--no-browser"])
    assert "unrecognized arguments: --no-browser" in capsys.readouterr().err


def test_lab_outside_the_tutorial_folder_says_where_to_run_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["lab"]) == 2
    assert "run this in the tutorial's folder" in capsys.readouterr().err
