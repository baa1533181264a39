"""`make real-engine`: every lesson notebook against llama.cpp's real server, and the result.

Optional, not part of `make test`. It starts `python -m llama_cpp.server` from `.venv-llama/`
(llama-cpp-python, built there by the Makefile) on the tiny random model of
`helpers/tools/tiny_gguf.py`, runs each notebook of `NOTEBOOKS` against it with every cell run
even after an error, sends one raw streamed request to see the engine's habits on the wire, and
writes `docs/real-engine.md`. The executed notebooks are kept in `.venv-llama/executed/` and the
run in `.venv-llama/last-run.json`, so `--rerender` writes the page again (after a change to
`READINGS`, say) without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2

from helpers.tools.notebooks import (
    NOTEBOOK_DIR,
    NOTEBOOKS,
    engine_env,
    error_cells,
    execute,
    read,
    write,
)
from helpers.tools.tiny_gguf import ModelShape, vocabulary

REPO = NOTEBOOK_DIR.parent
LLAMA_DIR = REPO / ".venv-llama"
REPORT = REPO / "docs" / "real-engine.md"
LAST_RUN = LLAMA_DIR / "last-run.json"
EXECUTED = LLAMA_DIR / "executed"
MODEL_ALIAS = "tiny-random-llama"
# A random model never stops by itself: the context bounds every answer, the prompt included.
CONTEXT = ModelShape().context
STARTUP_SECONDS = 120
# The line `get_client()` prints: "Backend: embedded simulation (offline, ...) · model ...".
_BACKEND = re.compile(r"Backend: ([^(·]+?)\s*[(·]")
_INTERRUPTED = (
    "Engine habit: llama-cpp-python answers one request at a time and, with `interrupt_requests` "
    "(on by default), ends a running stream with `data: [DONE]` and no `finish_reason` as soon "
    "as another request arrives (see the wire section). "
)
# Why a cell raised, engine habit or lesson bug: (notebook name pattern, error pattern, reading).
READINGS: tuple[tuple[str, str, str], ...] = (
    (
        r"^03_",
        r"NoneType\.__format__",
        _INTERRUPTED + "`race()` sends its blocking and its streamed request together; the "
        "stream lost and got no text, so its TTFT is None (its view said `No finish_reason "
        "arrived`). The cell formats the TTFT without a check: a fragility of the lesson that "
        "only such an engine shows.",
    ),
    (
        r"",
        r"finish_reason=None",
        _INTERRUPTED + "The lesson raises on a stream that did not finish with `stop`.",
    ),
    (
        r"",
        r"finish_reason='length'",
        "Random weights: the model never answers \"Two.\" and stops; every reply runs to "
        "`max_tokens` or to the end of the context, so a lesson that insists on `stop` raises. "
        "A real model stops; no lesson bug.",
    ),
    (r"", r"^NameError", "Follows from an earlier cell of this notebook that raised."),
)
UNREAD = (
    "Not read yet: see the traceback in `.venv-llama/executed/`, and add a reading to "
    "`READINGS` in `helpers/tools/real_engine.py`."
)


@dataclass(frozen=True)
class CellError:
    """A code cell that raised: its number (from 1), its first line of source, its error."""

    number: int
    source: str
    error: str


@dataclass(frozen=True)
class NotebookResult:
    """One notebook's run: how long it took, its code cells, the ones that raised."""

    name: str
    seconds: float
    code_cells: int
    errors: list[CellError]
    # Set when the run stopped before the last cell (a cell's timeout, a dead kernel).
    stopped: str = ""
    # The backends `get_client()` named, in order: a lesson may hand over to the simulation.
    backends: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WireHabits:
    """What one raw streamed chat request showed, and how the engine answers other paths."""

    content_type: str
    chunks: int
    role_deltas: int
    choice_deltas: int
    usage: str
    done: bool
    comments: list[str]
    finish_reason: str
    first_lines: list[str]
    last_lines: list[str]
    statuses: dict[str, int] = field(default_factory=dict)
    # A stream with no limit that a second request cut across: what it still sent, how it ended.
    overlap_chunks: int = 0
    overlap_finish_reason: str = ""
    overlap_done: bool = False
    overlap_error: str = ""


@dataclass(frozen=True)
class EngineRun:
    """Everything the page reports."""

    started: str
    commit: str
    dirty_notebooks: list[str]
    engine_version: str
    model: str
    notebooks: list[NotebookResult]
    wire: WireHabits


def server_command(python: Path, model: Path, port: int, context: int = CONTEXT) -> list[str]:
    """The command that starts llama-cpp-python's server on loopback, its context capped."""
    return [
        str(python), "-m", "llama_cpp.server",
        "--model", str(model),
        "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(context),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(command: Sequence[str], base_url: str, log: Path) -> Iterator[None]:
    """Run `command` until the block ends, once `base_url`/models answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _answers(f"{base_url}/models"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"llama.cpp's server did not start; see {log}")
                time.sleep(0.5)
            yield
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx2.get(url, timeout=2).status_code == 200
    except httpx2.HTTPError:
        return False


def run_notebook(path: Path, base_url: str, kept: Path) -> NotebookResult:
    """Run `path` against the engine, every cell even after an error; keep the executed
    notebook, tracebacks and all, in the folder `kept`."""
    started = time.perf_counter()
    sources = [cell.source for cell in read(path).cells if cell.cell_type == "code"]
    try:
        nb = execute(path, engine_env(os.environ, base_url, model=MODEL_ALIAS), allow_errors=True)
    except Exception as error:  # a cell's timeout or a dead kernel ends the run
        seconds = time.perf_counter() - started
        return NotebookResult(path.name, seconds, len(sources), [], _one_line(error))
    seconds = time.perf_counter() - started
    kept.mkdir(parents=True, exist_ok=True)
    write(nb, kept / path.name)
    errors = [
        CellError(index + 1, _one_line(sources[index]), _one_line(line))
        for index, line in error_cells(nb)
    ]
    printed = [
        output.text
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if output.output_type == "stream"
    ]
    return NotebookResult(path.name, seconds, len(sources), errors, backends=backends(printed))


def backends(printed: Iterable[str]) -> list[str]:
    """The backends named by the `Backend: ...` lines in `printed`, once each, in order."""
    found = (_BACKEND.match(line) for text in printed for line in text.splitlines())
    return list(dict.fromkeys(match[1] for match in found if match))


def _one_line(text: object) -> str:
    line = next((part for part in str(text).splitlines() if part.strip()), "")
    return line.strip()[:200]


def read_stream(lines: Iterable[str], content_type: str) -> WireHabits:
    """The habits shown by one streamed chat completion's raw SSE lines."""
    kept = [line for line in lines if line]
    chunks = [
        json.loads(line[len("data: ") :])
        for line in kept
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    deltas = [choice.get("delta", {}) for chunk in chunks for choice in chunk.get("choices", [])]
    finishes = [
        choice["finish_reason"]
        for chunk in chunks
        for choice in chunk.get("choices", [])
        if choice.get("finish_reason")
    ]
    with_usage = [chunk for chunk in chunks if chunk.get("usage")]
    if not with_usage:
        usage = "none sent"
    elif with_usage[-1].get("choices"):
        usage = "on a chunk with choices"
    else:
        usage = "on a chunk of its own with no choices"
    return WireHabits(
        content_type=content_type,
        chunks=len(chunks),
        role_deltas=sum("role" in delta for delta in deltas),
        choice_deltas=len(deltas),
        usage=usage,
        done="data: [DONE]" in kept,
        comments=[line for line in kept if line.startswith(":")],
        finish_reason=finishes[-1] if finishes else "",
        first_lines=kept[:2],
        last_lines=kept[-3:],
    )


def observe_wire(base_url: str) -> WireHabits:
    """One raw streamed request with usage asked for, one cut across by a second request, and
    the other paths the lessons use."""
    body = {
        "model": MODEL_ALIAS,
        "messages": [{"role": "user", "content": "Say hi."}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 8,
    }
    url = f"{base_url}/chat/completions"
    with httpx2.Client(timeout=60) as client:
        with client.stream("POST", url, json=body) as response:
            habits = read_stream(response.iter_lines(), response.headers.get("content-type", ""))
        overlapped, overlap_error = _overlapped(client, url, {**body, "max_tokens": None})
        root = base_url.removesuffix("/v1")
        habits.statuses.update(
            {
                "GET /health": client.get(f"{root}/health").status_code,
                "GET /v1/health": client.get(f"{base_url}/health").status_code,
                "POST /v1/responses": client.post(
                    f"{base_url}/responses", json={"model": MODEL_ALIAS, "input": "Hi"}
                ).status_code,
                "POST /v1/chat/completions with an unknown model": client.post(
                    url, json={**body, "model": "no-such-model", "stream": False}
                ).status_code,
            }
        )
    return replace(
        habits,
        overlap_chunks=overlapped.chunks,
        overlap_finish_reason=overlapped.finish_reason,
        overlap_done=overlapped.done,
        overlap_error=overlap_error,
    )


def _overlapped(client: httpx2.Client, url: str, body: dict[str, Any]) -> tuple[WireHabits, str]:
    # A stream with no token limit, and a second request sent once its first chunk is in.
    lines: list[str] = []
    error = ""
    with client.stream("POST", url, json=body) as response, ThreadPoolExecutor(1) as pool:
        second = None
        try:
            for line in response.iter_lines():
                lines.append(line)
                if second is None and line.startswith("data: "):
                    second = pool.submit(
                        client.post, url, json={**body, "stream": False, "max_tokens": 2}
                    )
        except httpx2.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
    return read_stream(lines, ""), error


def reading(notebook: str, error: str) -> str:
    """Why a cell of `notebook` raised, from `READINGS`."""
    return next(
        (
            why
            for name, pattern, why in READINGS
            if re.search(name, notebook) and re.search(pattern, error)
        ),
        UNREAD,
    )


def describe_model(path: Path, context: int = CONTEXT) -> str:
    shape = ModelShape()
    size = path.stat().st_size / 1024 if path.is_file() else 0
    return (
        f"`{path.name}` ({size:.0f} KiB), made by `helpers/tools/tiny_gguf.py`: llama "
        f"architecture, {shape.layers} layers, hidden size {shape.embedding}, {shape.heads} "
        f"attention heads ({shape.kv_heads} for keys and values), feed-forward "
        f"{shape.feed_forward}, a {len(vocabulary())}-token SentencePiece vocabulary built here, "
        f"all F32, served with `--n_ctx {context}`. The weights are random: the text is "
        "gibberish, which is expected."
    )


def render(run: EngineRun) -> str:
    """The whole of docs/real-engine.md."""
    dirty = (
        f", with uncommitted changes in {', '.join(f'`{n}`' for n in run.dirty_notebooks)}"
        if run.dirty_notebooks
        else ""
    )
    lines = [
        "# The notebooks against llama.cpp's server",
        "",
        "Written by `make real-engine` (`python -m helpers.tools.real_engine`), which is optional",
        "and not part of `make test`. It builds llama-cpp-python in `.venv-llama/` once, makes a",
        "tiny random model there, starts `python -m llama_cpp.server` on loopback and runs every",
        "lesson notebook against it, every cell even after an error. The executed notebooks,",
        "tracebacks and all, stay in `.venv-llama/executed/`. This is llama-cpp-python's own",
        "server, llama.cpp's inference behind a FastAPI app; llama.cpp's C++ `llama-server` has",
        "habits of its own (a `/health`, for one).",
        "",
        f"- Run: {run.started}, on the working tree at commit `{run.commit}`{dirty}.",
        f"- Engine: llama-cpp-python {run.engine_version} (`python -m llama_cpp.server`).",
        f"- Model: {run.model}",
        "",
        "## Notebooks",
        "",
        "| notebook | backend | run time | code cells | cells that raised |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for result in run.notebooks:
        if result.stopped:
            raised = f"run stopped: {result.stopped}"
        else:
            raised = ", ".join(str(error.number) for error in result.errors) or "none"
        lines.append(
            f"| `{result.name}` | {', then '.join(result.backends) or 'none named'} "
            f"| {result.seconds:.1f} s | {result.code_cells} | {_cell(raised)} |"
        )
    for result in run.notebooks:
        if result.errors:
            lines += ["", f"### `{result.name}`", ""]
            lines += [
                f"- Cell {e.number} (`{_code(e.source)}`): `{_code(e.error)}`. "
                + reading(result.name, e.error)
                for e in result.errors
            ]
    return "\n".join([*lines, "", *_wire_section(run.wire)]) + "\n"


def _wire_section(wire: WireHabits) -> list[str]:
    if wire.role_deltas == wire.choice_deltas:
        role = "on every delta, not only the first"
    elif wire.role_deltas == 1:
        role = "on the first delta only, as OpenAI sends it"
    else:
        role = f"on {wire.role_deltas} of {wire.choice_deltas} deltas"
    comments = (
        f"{len(wire.comments)} comment line(s), e.g. `{_code(wire.comments[0])}`"
        if wire.comments
        else "no comment line in this short stream (sse-starlette, which llama-cpp-python "
        "streams with, sends `: ping - <time>` after 15 s of silence)"
    )
    overlap = f"{wire.overlap_chunks} chunks, `finish_reason` " + (
        f"`{wire.overlap_finish_reason}`" if wire.overlap_finish_reason else "never sent"
    )
    overlap += ", then `data: [DONE]`" if wire.overlap_done else ", no `data: [DONE]`"
    if wire.overlap_error:
        overlap += f", and the read failed: `{_code(wire.overlap_error)}`"
    statuses = "; ".join(f"`{path}` {status}" for path, status in wire.statuses.items())
    return [
        "## The engine on the wire",
        "",
        "One raw streamed request (`POST /v1/chat/completions`, `max_tokens: 8`,",
        "`stream_options: {include_usage: true}`), read line by line with httpx2:",
        "",
        f"- Content type: `{wire.content_type}`; {wire.chunks} chunks.",
        f"- The role: {role}.",
        f"- Usage with `include_usage`: {wire.usage}.",
        f"- Keep-alive: {comments}.",
        f"- `data: [DONE]` at the end: {'yes' if wire.done else 'no'}.",
        f"- `finish_reason`: `{wire.finish_reason or 'none'}`.",
        f"- Other paths: {statuses}.",
        f"- A stream with no token limit, with a second request sent after its first chunk: "
        f"{overlap}.",
        "",
        "The first and last lines as sent:",
        "",
        "```text",
        *wire.first_lines,
        "...",
        *wire.last_lines,
        "```",
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return text.replace("`", "'").replace("|", "\\|")


def engine_version(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "import llama_cpp; print(llama_cpp.__version__)"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()


def run_all(python: Path, model: Path, names: Sequence[str]) -> EngineRun:
    """Start the engine, run `names` and the raw request against it, stop it."""
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    dirty = _git("status", "--porcelain", "--", "notebooks").splitlines()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    results = []
    with running_server(server_command(python, model, port), base_url, LLAMA_DIR / "server.log"):
        for name in names:
            results.append(run_notebook(NOTEBOOK_DIR / name, base_url, EXECUTED))
            print(_summary(results[-1]), flush=True)
        wire = observe_wire(base_url)
    return EngineRun(
        started=started,
        commit=_git("rev-parse", "--short", "HEAD"),
        dirty_notebooks=sorted(Path(line[3:]).name for line in dirty),
        engine_version=engine_version(python),
        model=describe_model(model),
        notebooks=results,
        wire=wire,
    )


def _summary(result: NotebookResult) -> str:
    raised = result.stopped or f"{len(result.errors)} of {result.code_cells} cells raised"
    return f"{result.name}: {result.seconds:.1f} s, {raised}"


def load_run(path: Path) -> EngineRun:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    notebooks = [
        NotebookResult(**{**nb, "errors": [CellError(**e) for e in nb["errors"]]})
        for nb in data.pop("notebooks")
    ]
    return EngineRun(**{**data, "notebooks": notebooks, "wire": WireHabits(**data["wire"])})


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m helpers.tools.real_engine [--rerender]`; the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.tools.real_engine",
        description="Run the lesson notebooks against llama.cpp's server; write the report.",
    )
    parser.add_argument("--python", type=Path, default=LLAMA_DIR / "bin" / "python")
    parser.add_argument("--model", type=Path, default=LLAMA_DIR / f"{MODEL_ALIAS}.gguf")
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument(
        "--rerender", action="store_true", help=f"write the report from {LAST_RUN.name} only"
    )
    args = parser.parse_args(argv)
    if args.rerender:
        run = load_run(LAST_RUN)
    else:
        run = run_all(args.python, args.model, NOTEBOOKS)
        LAST_RUN.write_text(json.dumps(asdict(run), indent=1), encoding="utf-8")
    args.report.write_text(render(run), encoding="utf-8")
    print(f"Wrote {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
