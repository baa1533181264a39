"""Regenerate the lesson notebooks' committed outputs, and compare notebooks the way nbval does.

`python -m helpers notebooks` runs every lesson notebook top to bottom with nbclient on the
embedded backend (realistic profile, as learners see it), normalises the result and writes it back
in place; `--check` writes nothing and reports which committed notebooks are stale.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat import NotebookNode

NOTEBOOKS = (
    "01_plain_response.ipynb",
    "02_raw_chunks.ipynb",
    "03_time_saved.ipynb",
    "04_usage.ipynb",
    "05_when_streams_fail.ipynb",
    "06_async_and_many_streams.ipynb",
    "07_responses_api.ipynb",
)
NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
SANITIZE_FILE = NOTEBOOK_DIR / "sanitize.cfg"
# Per cell: generous for a realistic "count to 100" stream, short enough that a stuck stream
# fails the run instead of hanging it.
CELL_TIMEOUT = 120
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# What nbval leaves out when it compares outputs (nbval/plugin.py, IPyNbFile.skip_compare):
# widget model ids are random and plots change with every run's timings.
NBVAL_SKIPPED = frozenset(
    {
        "metadata",
        "traceback",
        "prompt_number",
        "output_type",
        "name",
        "execution_count",
        WIDGET_VIEW,
        "image/png",
        "image/jpeg",
    }
)
# nbval's own reader for a sanitize file (nbval/plugin.py, get_sanitize_patterns).
_SANITIZE_PAIR = re.compile(r"^regex: (.*)$\n^replace: (.*)$", re.MULTILINE)

Sanitizer = tuple[str, str]
# A code cell as nbval sees it: its source and, per output, the compared keys' sanitized values.
ComparableCell = tuple[str, list[dict[str, Any]]]


def _without_backend_settings(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in environ.items()
        if not name.startswith(("OPENAI_", "TUTORIAL_"))
    }


def embedded_env(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` for a kernel that must use the embedded backend and nothing else."""
    # A learner's key or engine address must not leak into committed outputs.
    env = _without_backend_settings(environ)
    env.update(TUTORIAL_BACKEND="embedded", TUTORIAL_PROFILE="realistic")
    return env


def engine_env(
    environ: Mapping[str, str], base_url: str, api_key: str = "", model: str = ""
) -> dict[str, str]:
    """`environ` for a kernel that must use the OpenAI-compatible engine at `base_url`."""
    env = _without_backend_settings(environ)
    env.update(TUTORIAL_BACKEND="compatible", OPENAI_BASE_URL=base_url)
    if api_key:
        env["OPENAI_API_KEY"] = api_key
    if model:
        env["TUTORIAL_MODEL"] = model
    return env


def execute(
    path: Path, env: Mapping[str, str], timeout: int = CELL_TIMEOUT, allow_errors: bool = False
) -> NotebookNode:
    """`path` run top to bottom in a fresh python3 kernel, started in the notebooks folder;
    with `allow_errors` every cell runs and a failing one keeps its error as an output."""
    nb = read(path)
    client = NotebookClient(
        nb,
        timeout=timeout,
        allow_errors=allow_errors,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        record_timing=False,
        store_widget_state=False,
        coalesce_streams=True,
    )
    client.execute(env=dict(env))
    return nb


def error_cells(nb: NotebookNode) -> list[tuple[int, str]]:
    """Per code cell that raised: its index among the code cells and the error's one line."""
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    return [
        (index, f"{output.ename}: {output.evalue}")
        for index, cell in enumerate(code_cells)
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]


def normalise(nb: NotebookNode) -> NotebookNode:
    """Make `nb` fit to commit: no widget references, no run-specific metadata."""
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    # The exact Python version differs between machines and is of no use to the reader.
    nb.metadata.get("language_info", {}).pop("version", None)
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = [_without_widget_view(output) for output in cell.outputs]
        cell.outputs = [output for output in cell.outputs if _has_content(output)]
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = count
    return nb


def _without_widget_view(output: NotebookNode) -> NotebookNode:
    # A saved view without its widget state shows "Error displaying widget" when reopened; the
    # output's text/plain (and the final text the live view prints after it) stays readable.
    if "data" in output:
        output.data.pop(WIDGET_VIEW, None)
    return output


def _has_content(output: NotebookNode) -> bool:
    return output.output_type not in ("display_data", "execute_result") or bool(output.data)


def read(path: Path) -> NotebookNode:
    notebook: NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    return notebook


def write(nb: NotebookNode, path: Path) -> None:
    nbformat.write(nb, path)  # type: ignore[no-untyped-call]


def regenerate(path: Path, out: Path, env: Mapping[str, str]) -> float:
    """Run `path`, normalise it and write it to `out`; return the seconds it took."""
    started = time.perf_counter()
    nb = normalise(execute(path, env))
    out.parent.mkdir(parents=True, exist_ok=True)
    write(nb, out)
    return time.perf_counter() - started


def read_sanitizers(path: Path = SANITIZE_FILE) -> list[Sanitizer]:
    """The (regex, replacement) pairs of a sanitize file, read exactly as nbval reads them."""
    return _SANITIZE_PAIR.findall(path.read_text(encoding="utf-8"))


def sanitize(text: str, sanitizers: Iterable[Sanitizer]) -> str:
    for regex, replacement in sanitizers:
        text = re.sub(regex, replacement, text)
    return text


def comparable(nb: NotebookNode, sanitizers: Sequence[Sanitizer]) -> list[ComparableCell]:
    """The code cells of `nb` reduced to what nbval compares, sanitized."""
    cells: list[ComparableCell] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = [_comparable_output(output, sanitizers) for output in _coalesced(cell.outputs)]
        cells.append((cell.source, outputs))
    return cells


def _coalesced(outputs: Sequence[NotebookNode]) -> list[NotebookNode]:
    # nbval merges all of a cell's output on one stream before comparing; so does this.
    merged: list[NotebookNode] = []
    streams: dict[str, NotebookNode] = {}
    for output in outputs:
        if output.output_type != "stream":
            merged.append(output)
        elif output.name in streams:
            streams[output.name].text += output.text
        else:
            streams[output.name] = copy.deepcopy(output)
            merged.append(streams[output.name])
    return merged


def _comparable_output(output: NotebookNode, sanitizers: Sequence[Sanitizer]) -> dict[str, Any]:
    if output.output_type == "stream":
        return {output.name: sanitize(output.text, sanitizers)}
    flat: dict[str, Any] = {}
    for key, value in output.items():
        if key == "data":
            flat |= {
                mime: _sanitized(content, sanitizers)
                for mime, content in value.items()
                if mime not in NBVAL_SKIPPED
            }
        elif key not in NBVAL_SKIPPED:
            flat[key] = _sanitized(value, sanitizers)
    return flat


def _sanitized(value: Any, sanitizers: Sequence[Sanitizer]) -> Any:
    return sanitize(value, sanitizers) if isinstance(value, str) else value


def differences(
    committed: NotebookNode, fresh: NotebookNode, sanitizers: Sequence[Sanitizer]
) -> list[str]:
    """One line per code cell whose sanitized outputs differ between the two notebooks."""
    old, new = comparable(committed, sanitizers), comparable(fresh, sanitizers)
    if [source for source, _ in old] != [source for source, _ in new]:
        return ["the code cells' sources differ"]
    return [
        f"code cell {number}: committed {before!r} but a fresh run gives {after!r}"
        for number, ((_, before), (_, after)) in enumerate(zip(old, new, strict=True), start=1)
        if before != after
    ]


def check_fresh(names: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Regenerate `names` into a temporary folder and list how each committed one differs."""
    sanitizers = read_sanitizers()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lesson-notebooks-") as tmp:
        for name in names:
            fresh_path = Path(tmp) / name
            regenerate(NOTEBOOK_DIR / name, fresh_path, env)
            committed, fresh = read(NOTEBOOK_DIR / name), read(fresh_path)
            problems += [f"{name}: {line}" for line in differences(committed, fresh, sanitizers)]
    return problems


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the `notebooks` command's arguments to `parser`."""
    parser.add_argument(
        "names", nargs="*", metavar="NOTEBOOK", help=f"file names (default: all {len(NOTEBOOKS)})"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit with status 1 if a committed notebook is stale",
    )


def run(args: argparse.Namespace) -> int:
    """Run the `notebooks` command as `configure` parsed it; return the exit status."""
    names = [Path(name).name for name in args.names] or list(NOTEBOOKS)
    unknown = sorted(set(names) - set(NOTEBOOKS))
    if unknown:
        print(f"Not a lesson notebook: {', '.join(unknown)}", file=sys.stderr)
        return 2
    env = embedded_env(os.environ)
    try:
        if args.check:
            problems = check_fresh(names, env)
            for line in problems:
                print(line, file=sys.stderr)
            print("stale" if problems else "up to date")
            return 1 if problems else 0
        for name in names:
            seconds = regenerate(NOTEBOOK_DIR / name, NOTEBOOK_DIR / name, env)
            print(f"{name}: regenerated in {seconds:.1f} s", flush=True)
    except CellExecutionError as exc:
        print(f"A cell failed, nothing more was written:\n{exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m helpers notebooks [--check] [NOTEBOOK ...]`; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers notebooks",
        description="Re-run the lesson notebooks on the embedded backend and save their outputs.",
    )
    configure(parser)
    return run(parser.parse_args(argv))
