"""The lessons beyond the in-kernel simulation: on a second engine with real engines' habits, and
on a shared room server that other learners stream from while the lesson runs.

The second engine's outputs differ from the committed ones, so there every lesson need only run
without an error. On the room server the outputs must be the committed ones: every figure a cell
shows has to be the learner's own request's, whatever the other clients are doing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from types import TracebackType

import openai
import pytest
from nbformat import NotebookNode
from openai.types.chat import ChatCompletionMessageParam

from helpers.server.model import SIMULATED_MODEL
from helpers.server.testing.process import run_server_process
from helpers.tools.notebooks import (
    NOTEBOOK_DIR,
    NOTEBOOKS,
    differences,
    engine_env,
    error_cells,
    execute,
    normalise,
    read,
    read_sanitizers,
)
from tests.support.other_engine import MODEL, run_engine

pytestmark = [pytest.mark.notebook, pytest.mark.slow, pytest.mark.timeout(600)]

ROOM_TOKEN = "room-load-3c8e1f"
ROOM_LESSONS = ("05_when_streams_fail.ipynb", "06_async_and_many_streams.ipynb")
LOAD_CLIENTS = 5
# Each load client closes every third stream early, as a learner pressing stop does.
CLOSE_EVERY = 3
CLOSE_AFTER_CHUNKS = 5
# The one line allowed to differ: the backend's name, which `get_client()` and
# `get_async_client()` print (the set-up cell, and notebook 06's async client).
BACKEND_LINE = (r"Backend: [^\n]*", "Backend: <backend>")


def _errors(nb: NotebookNode) -> list[str]:
    return [f"code cell {index + 1}: {error}" for index, error in error_cells(nb)]


@pytest.fixture(scope="module")
def other_engine() -> Iterator[str]:
    """The second engine's base URL, llama.cpp's habits with a reasoning model."""
    with run_engine() as base_url:
        yield base_url


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_lesson_runs_on_another_engine(other_engine: str, name: str) -> None:
    """No cell raises against an engine that is not the simulation: no /health, no Responses
    API, no role-only first chunk, usage on the finish chunk, reasoning deltas first."""
    env = engine_env(os.environ, other_engine, model=MODEL)
    nb = execute(NOTEBOOK_DIR / name, env, allow_errors=True)
    errors = _errors(nb)
    assert errors == [], f"{name} raised against the second engine:\n" + "\n".join(errors)


class Load:
    """Clients of their own that stream from the room's server until stopped, each request its
    own, checking that each answer is theirs."""

    def __init__(self, base_url: str, clients: int = LOAD_CLIENTS) -> None:
        self.base_url = base_url
        self.streams = [0] * clients
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._stream, args=(number,), daemon=True)
            for number in range(clients)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _stream(self, number: int) -> None:
        count = 20 + 10 * number
        prompt: list[ChatCompletionMessageParam] = [
            {"role": "user", "content": f"Count to {count}."}
        ]
        expected = ", ".join(str(n) for n in range(1, count + 1))
        with openai.OpenAI(
            base_url=self.base_url, api_key=ROOM_TOKEN, timeout=30, max_retries=2
        ) as client:
            while not self._stop.is_set():
                early = self.streams[number] % CLOSE_EVERY == CLOSE_EVERY - 1
                try:
                    with client.chat.completions.create(
                        model=SIMULATED_MODEL, messages=prompt, stream=True
                    ) as stream:
                        pieces = []
                        for chunk in stream:
                            pieces.append(chunk.choices[0].delta.content or "")
                            if early and len(pieces) == CLOSE_AFTER_CHUNKS:
                                break
                    text = "".join(pieces)
                    if not (expected.startswith(text) if early else text == expected):
                        self.problems.append(f"client {number} read {text[:60]!r}")
                except openai.APIError as exc:
                    self.problems.append(f"client {number}: {type(exc).__name__}: {exc}")
                self.streams[number] += 1


@pytest.fixture(scope="module")
def room() -> Iterator[str]:
    """`python -m helpers serve --token ...` in its own process, on a free port."""
    with run_server_process("--token", ROOM_TOKEN, "--no-access-log") as server:
        yield server.base_url


@pytest.mark.parametrize("name", ROOM_LESSONS)
def test_a_lesson_shows_only_its_own_figures_in_a_busy_room(room: str, name: str) -> None:
    """Against a room's server that other clients stream from all along, the lesson gives the
    committed outputs (sanitized as nbval does), the lines naming the backend apart: no cell
    may count another learner's requests or streams as its own."""
    env = engine_env(os.environ, room, api_key=ROOM_TOKEN)
    with Load(room) as load:
        nb = normalise(execute(NOTEBOOK_DIR / name, env, allow_errors=True))
    differing = differences(read(NOTEBOOK_DIR / name), nb, [*read_sanitizers(), BACKEND_LINE])
    assert min(load.streams) >= 2 and load.problems == [], (load.streams, load.problems)
    problems = _errors(nb) + differing
    assert problems == [], f"{name} in a busy room:\n" + "\n".join(problems)
