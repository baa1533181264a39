"""The lesson notebooks: shaped like lessons, fresh against a re-run, and runnable on any engine."""

from __future__ import annotations

import ast
import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from nbval.plugin import get_sanitize_patterns

from helpers.server.testing.process import run_server_process
from helpers.tools.notebooks import (
    NOTEBOOK_DIR,
    NOTEBOOKS,
    SANITIZE_FILE,
    WIDGET_VIEW,
    differences,
    engine_env,
    execute,
    read,
    read_sanitizers,
    sanitize,
)
from tests.notebooks.conftest import FreshLesson

pytestmark = pytest.mark.notebook

MAX_CODE_LINES = 10
SELF_TESTS = Path(__file__).parents[1] / "helpers" / "exercises" / "test_self_tests.py"
# A count written in prose, e.g. "300 chunks", "306 events", "298 tokens".
QUOTED_COUNT = re.compile(r"\b(\d+) (?:chunks?|events?|tokens?|requests?)\b")
# An HTTP library named in prose: `httpx`, `httpx2`, HTTPX.
HTTP_LIBRARY = re.compile(r"\bhttpx\d*\b", re.IGNORECASE)
# Things that must never be committed in an output, each with the reason.
FORBIDDEN_OUTPUT = {
    r"0x[0-9a-fA-F]{6,}": "a memory address, different on every run",
    r"(?<![\w.])/(?:home|root|tmp|work|Users|usr|opt|var)/": "an absolute path of this machine",
    r"[A-Za-z]:\\\\": "an absolute Windows path",
    r"\bsk-[A-Za-z0-9_-]{8,}": "something shaped like an API key",
    r"Bearer\s+\S": "an authorization header",
}
NUMBERED_ITEM = re.compile(r"^\d+\. (.+)$", re.MULTILINE)
# A duration or a rate written in prose, e.g. "1.9 s", "300 ms", "2 seconds", "40 tokens/s".
QUOTED_FIGURE = re.compile(r"\b\d+(?:\.\d+)? ?(?:s|ms|seconds?|milliseconds?|tokens/s)\b")


def _markdown(nb: NotebookNode) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "markdown"]


def _code(nb: NotebookNode) -> list[NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _section(nb: NotebookNode, heading: str) -> str:
    matches = [text for text in _markdown(nb) if text.startswith(f"## {heading}\n")]
    assert len(matches) == 1, f"expected one '## {heading}' cell, found {len(matches)}"
    return matches[0]


def _numbered_sections(nb: NotebookNode) -> list[str]:
    headings = re.findall(r"^## \d+\. (.+)$", "\n".join(_markdown(nb)), re.MULTILINE)
    return headings


@functools.cache
def _lesson(name: str) -> NotebookNode:
    return read(NOTEBOOK_DIR / name)


@pytest.fixture(params=NOTEBOOKS)
def name(request: pytest.FixtureRequest) -> str:
    lesson: str = request.param
    return lesson


@pytest.fixture
def notebook(name: str) -> NotebookNode:
    return _lesson(name)


# --- shape -------------------------------------------------------------------------------------


def test_single_title_first(notebook: NotebookNode) -> None:
    titles = re.findall(r"^# .+$", "\n".join(_markdown(notebook)), re.MULTILINE)
    assert len(titles) == 1, titles
    assert notebook.cells[0].cell_type == "markdown"
    assert notebook.cells[0].source.startswith("# ")


def test_overview_lists_the_numbered_sections(notebook: NotebookNode) -> None:
    overview = NUMBERED_ITEM.findall(_section(notebook, "What you will learn"))
    assert overview == _numbered_sections(notebook)
    assert len(overview) >= 3
    # One exercise ends the steps; an optional one may follow it.
    exercises = [item for item in overview if "xercise: " in item]
    assert exercises[0].startswith("Exercise: ")
    assert overview[-len(exercises) :] == exercises
    assert all(item.startswith("Optional exercise: ") for item in exercises[1:])
    assert len(exercises) <= 2


def test_summary_echoes_the_overview(notebook: NotebookNode) -> None:
    summary = NUMBERED_ITEM.findall(_section(notebook, "Summary"))
    assert len(summary) == len(_numbered_sections(notebook))


def test_prerequisites_table(notebook: NotebookNode) -> None:
    text = _section(notebook, "Prerequisites")
    assert "| Concept | Importance | Notes |" in text
    assert re.search(r"\| (Necessary|Helpful) \|", text)
    assert re.search(r"\*\*Time to learn\*\*: \d+ minutes", text)


def test_sections_come_in_lesson_order(notebook: NotebookNode) -> None:
    headings = re.findall(r"^## (.+)$", "\n".join(_markdown(notebook)), re.MULTILINE)
    fixed = ["What you will learn", "Prerequisites", "Set-up"]
    assert headings[:3] == fixed
    assert headings[-3:] == ["Summary", "What's next", "Resources"]
    assert headings[3:-3] == [
        f"{number}. {title}" for number, title in enumerate(_numbered_sections(notebook), 1)
    ]


def test_one_setup_cell_imports_helpers_and_makes_the_client(notebook: NotebookNode) -> None:
    cells = _code(notebook)
    first = cells[0].source
    assert re.search(r"^from helpers import ", first, re.MULTILINE)
    # 07 may hand its client to the simulation when an engine has no Responses API.
    assert first.rstrip().endswith(
        ("client = get_client()", "client, MODEL = with_responses_api(client, MODEL)")
    )
    later_imports = [c.source for c in cells[1:] if re.search(r"^(from|import) ", c.source, re.M)]
    assert later_imports == []
    backend_line = "".join(o.get("text", "") for o in cells[0].outputs)
    assert backend_line.startswith("Backend: embedded simulation"), backend_line


def test_exercise_has_check_and_help_and_its_self_test_lives_in_tests(
    notebook: NotebookNode,
) -> None:
    sources = [cell.source for cell in _code(notebook)]
    checks = [s for s in sources if re.search(r"^check_\w+\(\w+\)$", s, re.MULTILINE)]
    # The exercise, and at most one optional closing exercise (04's conversation).
    assert len(checks) in (1, 2)
    # A hidden cell is hidden only in JupyterLab; GitHub, nbviewer, Colab and VS Code show it.
    # The checks that the reference passes and a wrong answer fails live in tests/ instead.
    assert not [c for c in _code(notebook) if "self-test" in c.metadata.get("tags", [])]
    assert not [s for s in sources if ".reference()" in s or "assert " in s]
    for check in checks:
        name = re.findall(r"^check_(\w+)\(", check, re.MULTILINE)[0]
        assert f"def {name}(" in check and "return ...  #" in check
        assert f"# check_{name}.hint()\n# check_{name}.solution()" in sources
        assert f"check_{name}" in SELF_TESTS.read_text(encoding="utf-8")
        # The committed notebook shows the untouched exercise: a kind "not attempted yet".
        (check_cell,) = [cell for cell in _code(notebook) if cell.source == check]
        shown = check_cell.outputs[-1].data["text/plain"]
        assert shown.startswith("Not attempted yet: "), shown


def test_whats_next_links_onwards(name: str, notebook: NotebookNode) -> None:
    text = _section(notebook, "What's next")
    index = NOTEBOOKS.index(name)
    if index + 1 < len(NOTEBOOKS):
        assert f"]({NOTEBOOKS[index + 1]})" in text
    else:
        assert re.search(r"\]\([^)]+\)", text)


def test_kernelspec_and_sequential_execution(notebook: NotebookNode) -> None:
    assert notebook.metadata.kernelspec.name == "python3"
    assert "widgets" not in notebook.metadata
    assert "version" not in notebook.metadata.get("language_info", {})
    counts = [cell.execution_count for cell in _code(notebook)]
    assert counts == list(range(1, len(counts) + 1))


def test_outputs_hold_nothing_volatile_secret_or_broken(notebook: NotebookNode) -> None:
    for number, cell in enumerate(_code(notebook), 1):
        for output in cell.outputs:
            assert output.output_type != "error", f"code cell {number} raised"
            assert output.get("name") != "stderr", f"code cell {number} wrote to stderr"
            assert WIDGET_VIEW not in output.get("data", {}), f"code cell {number}: widget view"
            text = nbformat.writes(nbformat.from_dict({"o": output}))
            for pattern, why in FORBIDDEN_OUTPUT.items():
                assert not re.search(pattern, text), f"code cell {number} shows {why}"


def test_code_cells_are_short(notebook: NotebookNode) -> None:
    def lines(source: str) -> int:
        """Non-blank lines; an import counts as one, as ruff writes a long one a name a line."""
        flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        tree = compile(source, "<cell>", "exec", flags=flags)
        imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        folded = sum((node.end_lineno or node.lineno) - node.lineno for node in imports)
        return sum(1 for line in source.splitlines() if line.strip()) - folded

    assert [c.source for c in _code(notebook) if lines(c.source) > MAX_CODE_LINES] == []


def test_prose_quotes_no_figure_it_did_not_measure(notebook: NotebookNode) -> None:
    """Figures belong in outputs; prose may only give the simulation's own, as "about …"."""
    for text in _markdown(notebook):
        for match in QUOTED_FIGURE.finditer(text):
            before = text[max(0, match.start() - 60) : match.start()]
            assert "embedded backend" in before and "about" in before, (
                f"unmeasured figure {match.group()!r} in: {text[:80]!r}"
            )


def _output_text(nb: NotebookNode) -> str:
    texts = []
    for cell in _code(nb):
        for output in cell.outputs:
            texts.append(output.get("text", ""))
            data = output.get("data", {})
            texts += [data.get("text/plain", ""), data.get("text/markdown", "")]
    return "\n".join(texts)


def test_every_count_quoted_in_prose_is_in_the_committed_outputs(notebook: NotebookNode) -> None:
    """"300 chunks" in a sentence must be a figure a cell showed: prose and outputs agree."""
    shown = _output_text(notebook)
    missing = [
        match.group()
        for text in _markdown(notebook)
        for match in QUOTED_COUNT.finditer(text)
        if not re.search(rf"(?<![\d.]){match.group(1)}(?![\d.])", shown)
    ]
    assert missing == []


def _http_library_of_openai() -> str:
    """The HTTP library the pinned `openai` client imports in its base client."""
    import openai._base_client as base

    tree = ast.parse(Path(base.__file__).read_text(encoding="utf-8"))
    names = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("httpx")
    }
    assert len(names) == 1, names
    return names.pop()


def test_prose_names_the_http_library_the_client_uses() -> None:
    """openai 3.51 is built on httpx2: no lesson or guide may send learners to httpx's docs."""
    library = _http_library_of_openai()
    texts = [
        (lesson, text) for lesson in NOTEBOOKS for text in _markdown(_lesson(lesson))
    ]
    guide = Path(__file__).parents[2] / "docs" / "instructor-guide.md"
    if guide.exists():
        texts.append(("instructor-guide.md", guide.read_text(encoding="utf-8")))
    wrong = [
        (where, found)
        for where, text in texts
        for found in HTTP_LIBRARY.findall(text)
        if found != library
    ]
    assert wrong == []
    assert "python-httpx.org" not in "\n".join(text for _, text in texts)


def test_lesson_code_uses_the_openai_client(notebook: NotebookNode) -> None:
    code = "\n".join(cell.source for cell in _code(notebook))
    assert "client.chat.completions.create(" in code
    assert "model=MODEL" in code
    # The default OpenAI model is a reasoning model, which refuses sampling parameters.
    assert "temperature" not in code


def test_streaming_lessons_stream_inside_with_blocks() -> None:
    for lesson in NOTEBOOKS[1:]:
        code = "\n".join(cell.source for cell in _code(_lesson(lesson)))
        assert "stream=True" in code, lesson
        assert re.search(r"^with client\.chat\.completions\.create\(", code, re.MULTILINE), lesson
    usage = "\n".join(cell.source for cell in _code(_lesson("04_usage.ipynb")))
    assert 'stream_options={"include_usage": True}' in usage


def test_lessons_use_the_source_prompts() -> None:
    code = "\n".join(
        cell.source for lesson in NOTEBOOKS for cell in _code(_lesson(lesson))
    )
    count = "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ..."
    assert f'"{count}"' in code
    assert "\"What's 1+1? Answer in one word.\"" in code


# --- sanitizers and the normaliser -------------------------------------------------------------


def test_sanitizers_are_read_exactly_as_nbval_reads_them() -> None:
    ours = read_sanitizers()
    assert ours == get_sanitize_patterns(SANITIZE_FILE.read_text(encoding="utf-8"))
    assert len(ours) >= 4


@pytest.mark.parametrize(
    ("volatile", "stable"),
    [
        ("arrived 2.87 s after", "arrived <seconds> s after"),
        ("ITL p95  25.4 ms", "ITL p95  <ms> ms"),
        ("· http://127.0.0.1:40123/v1", "· http://127.0.0.1:<port>/v1"),
        ("output tokens/s                 107.7", "output tokens/s                 <rate>"),
        (
            "<th style='text-align:left'>chunks/s</th><td style='text-align:right'>108.4</td>",
            "<th style='text-align:left'>chunks/s</th><td style='text-align:right'><rate></td>",
        ),
    ],
)
def test_sanitizers_hide_what_changes_between_runs(volatile: str, stable: str) -> None:
    assert sanitize(volatile, read_sanitizers()) == stable


@pytest.mark.parametrize(
    "kept",
    [
        "CompletionUsage(completion_tokens=298, prompt_tokens=36, total_tokens=334)",
        "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11",
        "(300, 298)",
        "model='gpt-4o-mini-sim'",
        "Count to 100, with a comma between each number",
        # Derived from the request by the simulation, so the same in every run.
        "id='chatcmpl-AbC123xyz', created=1761234567,",
        "system_fingerprint='fp_0a1b2c3d4e'",
        "obfuscation='Xy7', service_tier",
    ],
)
def test_sanitizers_keep_texts_and_counts(kept: str) -> None:
    assert sanitize(kept, read_sanitizers()) == kept


# --- runs ----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_committed_outputs_are_fresh(fresh_lesson: FreshLesson) -> None:
    """A fresh run on the embedded backend gives the committed outputs (sanitized): run
    `make notebooks` when this fails after a deliberate change."""
    sanitizers = read_sanitizers()
    problems = []
    for lesson in NOTEBOOKS:
        found = differences(_lesson(lesson), fresh_lesson(lesson), sanitizers)
        problems += [f"{lesson}: {line}" for line in found]
    assert problems == []


@pytest.fixture
def separate_server() -> Iterator[str]:
    """`python -m helpers serve` in its own process; yields its base URL."""
    with run_server_process("--profile", "realistic") as server:
        yield server.base_url


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_notebooks_run_unchanged_against_an_engine_at_openai_base_url(separate_server: str) -> None:
    """Nothing depends on in-process shortcuts: the notebooks give the committed outputs against a
    server reached only through OPENAI_BASE_URL, apart from the line naming the backend."""
    env = engine_env(os.environ, separate_server)
    sanitizers = [*read_sanitizers(), (r"Backend: [^\n]*", "Backend: <backend>")]
    problems = []
    for lesson in NOTEBOOKS:
        fresh = execute(NOTEBOOK_DIR / lesson, env)
        setup_output = "".join(o.get("text", "") for o in _code(fresh)[0].outputs)
        assert "OpenAI-compatible engine" in setup_output, setup_output
        found = differences(_lesson(lesson), fresh, sanitizers)
        problems += [f"{lesson}: {line}" for line in found]
    assert problems == []

