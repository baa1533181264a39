"""Session fixtures shared by the suites: the simulated API server and OpenAI's JSON Schemas."""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from helpers.server.embedded import EmbeddedServer
from helpers.tools.notebooks import embedded_env
from tests.support import DATA

# The schema bundle travels with the tests (tests/data/README.md says where it comes from).
_SCHEMA_PATH = DATA / "openai-chat-schemas.json"

SchemaCheck = Callable[[str, Any], None]


def pytest_configure(config: pytest.Config) -> None:
    """Every kernel and server the tests start uses the embedded backend: nbval's kernels
    inherit this process's environment, and a developer's key must never reach a replay."""
    kept = embedded_env(os.environ)
    os.environ.clear()
    os.environ.update(kept)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Runs after pytest-randomly has shuffled the items (it reorders first, in a hook wrapper).

    1. Each notebook's cells go back into their order, together, where the notebook's first
       cell landed: nbval runs them one after another in one kernel.
    2. The browser tests run last: Playwright's sync API keeps an event loop running in the main
       thread for as long as its session fixture lives, which would break every later test that
       calls asyncio.run().
    """
    cells: dict[Path, list[pytest.Item]] = {}
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
            cells.setdefault(item.path, []).append(item)
    ordered: list[pytest.Item] = []
    for item in items:
        if item.path.suffix != ".ipynb":
            ordered.append(item)
        elif item.path in cells:
            ordered += sorted(cells.pop(item.path), key=lambda cell: cell.cell_num)
    ordered.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
    items[:] = ordered


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """A socket or stream left open inside a reference cycle is reported only when the garbage
    collector runs, otherwise during some later test, which the report (an error under
    `filterwarnings = error`) would then fail. Collecting here names the test that leaked it."""
    yield
    gc.collect()
    # What survived is set aside, so the next collection looks only at this test's objects:
    # a full collection of the session's heap took 170 ms, about 2.5 minutes over the suite.
    gc.freeze()


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[EmbeddedServer]:
    """One simulated API server on loopback, `instant` profile (no sleeps), for the session."""
    with EmbeddedServer(profile="instant") as server:
        yield server


@pytest.fixture(scope="session")
def embedded_base_url(embedded_server: EmbeddedServer) -> str:
    """That server's base URL, `http://127.0.0.1:PORT/v1`."""
    return embedded_server.base_url


@pytest.fixture(scope="session")
def openai_schema() -> SchemaCheck:
    """`check(root, instance)`: raises jsonschema.ValidationError unless `instance` matches the
    named root of the OpenAI chat schema bundle (e.g. "CreateChatCompletionStreamResponse")."""
    bundle = json.loads(_SCHEMA_PATH.read_text())
    validators: dict[str, jsonschema.Draft202012Validator] = {}

    def check(root: str, instance: Any) -> None:
        if root not in validators:
            schema = {"$defs": bundle["$defs"], "$ref": f"#/$defs/{root}"}
            validators[root] = jsonschema.Draft202012Validator(schema)
        validators[root].validate(instance)

    return check


@pytest.fixture
def outside_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    """The helpers print a stream's final text where no IPython shell runs, and display it where
    one does: tests that read it from stdout need the first, even after another test of the
    session has started a shell (and IPython keeps its shell for the rest of the process)."""
    monkeypatch.setattr("helpers.display.in_ipython", lambda: False)
