"""Each lesson executed at most once per session, on the embedded backend, as `make notebooks`
runs it: the freshness check and the lessons' timing claims read the same run."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import pytest
from nbformat import NotebookNode

from helpers.tools.notebooks import NOTEBOOK_DIR, embedded_env, execute, normalise

FreshLesson = Callable[[str], NotebookNode]


@pytest.fixture(scope="session")
def fresh_lesson() -> FreshLesson:
    """`fresh_lesson("03_time_saved.ipynb")`: that lesson run now, normalised, not saved."""

    @functools.cache
    def run(name: str) -> NotebookNode:
        return normalise(execute(NOTEBOOK_DIR / name, embedded_env(os.environ)))

    return run
