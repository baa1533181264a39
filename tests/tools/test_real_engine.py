"""`make real-engine`: the parts that run without llama.cpp (the server's command line, the
server's lifetime, the wire reading, the report) and the tiny model's vocabulary."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import httpx
import pytest

from helpers.tools import real_engine
from helpers.tools.real_engine import (
    UNREAD,
    CellError,
    EngineRun,
    NotebookResult,
    WireHabits,
    backends,
    free_port,
    load_run,
    read_stream,
    reading,
    render,
    running_server,
    server_command,
)
from helpers.tools.tiny_gguf import BYTE, CONTROL, NORMAL, WORDS, ModelShape, vocabulary
from tests.support import REPO

LLAMA_CPP_LINES = [
    'data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, '
    '"finish_reason": null}]}',
    "",
    ": ping - 2026-11-01 10:00:00",
    'data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "!"}, '
    '"finish_reason": null}]}',
    'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": "length"}], '
    '"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}',
    "data: [DONE]",
]
OPENAI_LINES = [
    'data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}',
    'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}',
    'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}',
]


def test_the_server_listens_on_loopback_with_its_context_capped() -> None:
    """A random model never stops by itself: only the context ends an answer with no limit."""
    command = server_command(Path("py"), Path("m.gguf"), 8123)
    assert command[:3] == ["py", "-m", "llama_cpp.server"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options["--n_ctx"] == str(ModelShape().context) == "512"
    assert options["--host"] == "127.0.0.1"
    assert options["--port"] == "8123"
    assert options["--model"] == "m.gguf"
    assert options["--model_alias"] == real_engine.MODEL_ALIAS


def test_the_server_runs_for_the_block_once_its_models_answer(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "models").write_text("{}")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    command += ["--directory", str(tmp_path)]
    with running_server(command, base_url, tmp_path / "server.log"):
        assert httpx.get(f"{base_url}/models").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/models", timeout=2)


def test_a_server_that_exits_stops_the_run_and_names_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('no model'); raise SystemExit(1)"]
    log = tmp_path / "server.log"
    with (
        pytest.raises(RuntimeError, match=r"did not start; see .*server\.log"),
        running_server(command, f"http://127.0.0.1:{free_port()}/v1", log),
    ):
        pass
    assert log.read_text().strip() == "no model"


def test_llama_cpp_habits_are_read_off_the_wire() -> None:
    habits = read_stream(LLAMA_CPP_LINES, "text/event-stream; charset=utf-8")
    assert (habits.chunks, habits.role_deltas, habits.choice_deltas) == (3, 3, 3)
    assert habits.usage == "on a chunk with choices"
    assert habits.done
    assert habits.comments == [": ping - 2026-11-01 10:00:00"]
    assert habits.finish_reason == "length"
    assert habits.first_lines == LLAMA_CPP_LINES[:1] + LLAMA_CPP_LINES[2:3]
    assert habits.last_lines == LLAMA_CPP_LINES[-3:]


def test_openai_habits_are_read_off_the_wire() -> None:
    habits = read_stream(OPENAI_LINES, "text/event-stream")
    assert (habits.role_deltas, habits.choice_deltas) == (1, 2)
    assert habits.usage == "on a chunk of its own with no choices"
    assert not habits.done
    assert habits.comments == []
    assert habits.finish_reason == "stop"


def _run(wire: WireHabits) -> EngineRun:
    return EngineRun(
        started="2026-11-01 10:00 UTC",
        commit="abc1234",
        dirty_notebooks=["05_when_streams_fail.ipynb"],
        engine_version="0.3.36",
        model="`tiny.gguf`, random weights.",
        notebooks=[
            NotebookResult("01_plain_response.ipynb", 12.34, 10, [], backends=["engine"]),
            NotebookResult(
                "07_responses_api.ipynb",
                5.0,
                21,
                [CellError(3, "stream = client.responses.create(", "NotFoundError: a | b")],
                backends=["engine", "simulation"],
            ),
            NotebookResult("06_async_and_many_streams.ipynb", 120.0, 17, [], "Cell timed out"),
        ],
        wire=replace(wire, overlap_chunks=5, overlap_done=True, overlap_error="ReadError: x"),
    )


def test_the_report_gives_each_notebook_its_time_cells_and_errors() -> None:
    page = render(_run(read_stream(LLAMA_CPP_LINES, "text/event-stream")))
    assert "- Run: 2026-11-01 10:00 UTC, on the working tree at commit `abc1234`, with " in page
    assert "uncommitted changes in `05_when_streams_fail.ipynb`." in page
    assert "- Engine: llama-cpp-python 0.3.36" in page
    assert "| `01_plain_response.ipynb` | engine | 12.3 s | 10 | none |" in page
    assert "| `07_responses_api.ipynb` | engine, then simulation | 5.0 s | 21 | 3 |" in page
    assert (
        "| `06_async_and_many_streams.ipynb` | none named | 120.0 s | 17 "
        "| run stopped: Cell timed out |"
    ) in page
    assert (
        "- Cell 3 (`stream = client.responses.create(`): `NotFoundError: a \\| b`. "
        f"{UNREAD}"
    ) in page
    assert "- The role: on every delta, not only the first." in page
    assert "- Usage with `include_usage`: on a chunk with choices." in page
    assert "- `data: [DONE]` at the end: yes." in page
    assert (
        "second request sent after its first chunk: 5 chunks, `finish_reason` never sent, then "
        "`data: [DONE]`, and the read failed: `ReadError: x`."
    ) in page


def test_the_report_says_when_the_role_comes_once_as_at_openai() -> None:
    page = render(_run(read_stream(OPENAI_LINES, "text/event-stream")))
    assert "- The role: on the first delta only, as OpenAI sends it." in page
    assert "- Keep-alive: no comment line in this short stream (sse-starlette" in page
    assert "- Usage with `include_usage`: on a chunk of its own with no choices." in page


def test_each_error_gets_the_reading_of_its_notebook_and_pattern() -> None:
    none_formatted = "TypeError: unsupported format string passed to NoneType.__format__"
    assert "interrupt_requests" in reading("03_time_saved.ipynb", none_formatted)
    assert reading("04_usage.ipynb", none_formatted) == UNREAD
    length = "RuntimeError: the reply ended with finish_reason='length'"
    assert "Random weights" in reading("06_x.ipynb", length)
    assert "interrupt_requests" in reading("06_x.ipynb", "RuntimeError: finish_reason=None")
    assert "earlier cell" in reading("06_x.ipynb", "NameError: name 'one_by_one' is not defined")
    assert reading("06_x.ipynb", "ZeroDivisionError: division by zero") == UNREAD


def test_the_backends_a_notebook_named_are_listed_once_in_order() -> None:
    printed = [
        "Backend: OpenAI-compatible engine (OPENAI_BASE_URL) · model m · http://127.0.0.1:1/v1\n"
        "The engine has no Responses API, so this notebook uses the embedded simulation:\n",
        "Backend: embedded simulation (offline, no key needed) · model s · http://x/v1\n",
        "Backend: OpenAI-compatible engine (OPENAI_BASE_URL) · model m · http://127.0.0.1:1/v1\n",
    ]
    assert backends(printed) == ["OpenAI-compatible engine", "embedded simulation"]
    assert backends(["no backend here\n"]) == []


def test_a_saved_run_renders_the_same_page(tmp_path: Path) -> None:
    run = _run(read_stream(LLAMA_CPP_LINES, "text/event-stream"))
    saved = tmp_path / "last-run.json"
    saved.write_text(json.dumps(asdict(run)))
    assert load_run(saved) == run


def test_the_vocabulary_is_one_llama_cpp_accepts() -> None:
    """SPM: `<unk>`, `<s>`, `</s>` at 0 to 2, every byte token for its fallback (a missing one
    aborts the tokenizer), and every prefix of a word, or the word is never merged."""
    vocab = vocabulary()
    pieces = [piece for piece, _, _ in vocab]
    assert pieces[:3] == ["<unk>", "<s>", "</s>"]
    assert len(set(pieces)) == len(pieces)
    assert {f"<0x{byte:02X}>" for byte in range(256)} <= set(pieces)
    assert all(kind == BYTE for piece, _, kind in vocab if piece.startswith("<0x"))
    assert [kind for _, _, kind in vocab[1:3]] == [CONTROL, CONTROL]
    for word in WORDS:
        assert all("▁" + word[:end] in pieces for end in range(1, len(word) + 1)), word
    normal = [(piece, score) for piece, score, kind in vocab if kind == NORMAL]
    assert all(score == len(piece) for piece, score in normal)
    assert {chr(code) for code in range(0x21, 0x7F)} <= {piece for piece, _ in normal}


def test_the_tools_import_without_gguf_or_numpy() -> None:
    """They are no project dependencies: only `make real-engine`'s own venv has them."""
    code = (
        "import sys; sys.modules['gguf'] = sys.modules['numpy'] = None; "
        "import helpers.tools.real_engine, helpers.tools.tiny_gguf"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
