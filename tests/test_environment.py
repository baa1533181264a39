"""Packaging stays consistent: pyproject.toml, environment.yml, postBuild, imports, Makefile."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import yaml

from tests.support import REPO

ROOT = REPO
# conda-forge names that differ from the PyPI distribution they stand for.
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib"}
# What conda needs to build the environment, not what the project imports.
CONDA_TOOLS = {"python", "pip"}
# Top-level names that are the project's own code rather than a dependency.
PROJECT_MODULES = {"helpers", "bench", "tests", "conftest"}
NOTEBOOK_NAMES = ("01_plain_response", "02_raw_chunks", "03_time_saved", "04_usage")

Requirements = dict[str, frozenset[str]]


def normalise(name: str) -> str:
    """PEP 503 form, so `PyYAML`, `pyyaml` and `py_yaml` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(text: str) -> tuple[str, frozenset[str]]:
    """(name, set of version clauses) from `openai>=3.51,<3.52` or conda's `openai >=3.51,<3.52`."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*", text)
    assert match, f"cannot parse requirement {text!r}"
    name, spec = match.groups()
    clauses = frozenset(part.replace(" ", "") for part in spec.split(",") if part.strip())
    return normalise(CONDA_TO_PYPI.get(name, name)), clauses


def requirements(lines: Iterable[str]) -> Requirements:
    parsed = [parse_requirement(line) for line in lines]
    names = [name for name, _ in parsed]
    assert len(set(names)) == len(names), f"a package is listed twice: {sorted(names)}"
    return dict(parsed)


def load_pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def load_environment() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def runtime_requirements() -> Requirements:
    return requirements(load_pyproject()["project"]["dependencies"])


def extra_requirements() -> Requirements:
    """The `test` extra."""
    return requirements(load_pyproject()["project"]["optional-dependencies"]["test"])


def conda_dependencies() -> list[str]:
    dependencies = load_environment()["dependencies"]
    assert isinstance(dependencies, list)
    return [item for item in dependencies if isinstance(item, str)]


def test_conda_gives_only_python_and_pip() -> None:
    """conda-forge lags PyPI: one missing version would fail Binder's solve. pip installs the rest
    (tests/test_lock.py checks that its section is the lock)."""
    conda = requirements(conda_dependencies())
    assert set(conda) == CONDA_TOOLS


def test_environment_yml_uses_conda_forge_and_the_tested_python() -> None:
    environment = load_environment()
    assert environment["channels"] == ["conda-forge", "nodefaults"]
    pythons = [line for line in conda_dependencies() if parse_requirement(line)[0] == "python"]
    assert pythons == ["python=3.11"]
    pyproject = load_pyproject()
    assert pyproject["project"]["requires-python"] == ">=3.11"
    assert pyproject["tool"]["mypy"]["python_version"] == "3.11"


def test_dependencies_have_upper_bounds_where_outputs_depend_on_them() -> None:
    """The committed notebook outputs were made with these; a new major or minor may change them."""
    declared = runtime_requirements() | extra_requirements()
    for name in ("openai", "pydantic", "ipywidgets", "matplotlib", "jupyterlab", "nbval"):
        assert any(clause.startswith("<") for clause in declared[name]), name
        assert any(clause.startswith(">=") for clause in declared[name]), name


def test_postbuild_installs_only_the_project_and_stops_on_error() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "postBuild").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == ["set -e", "python -m pip install --no-deps .", "python -m pip check"]
    assert (ROOT / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_binder_reads_the_root_files() -> None:
    """repo2docker ignores every root configuration file once a binder/ folder exists."""
    assert not (ROOT / "binder").exists()
    assert not (ROOT / ".binder").exists()


def test_binder_files_set_no_key_or_backend() -> None:
    """Binder must start on the embedded backend, so nothing there may name a key or engine."""
    text = (ROOT / "environment.yml").read_text() + (ROOT / "postBuild").read_text()
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TUTORIAL_BACKEND", "variables:"):
        assert name not in text


# ---- every import is the standard library, the project, or a declared dependency ----


def imported_modules(source: str) -> Iterator[str]:
    """Top-level names of the absolute imports in `source`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.partition(".")[0]


def notebook_code(path: Path) -> str:
    """A notebook's code cells as one module; IPython magics and shell lines are blanked."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = [
        "" if line.lstrip().startswith(("%", "!")) else line
        for cell in cells
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
    ]
    return "\n".join(lines)


def undeclared(
    modules: Iterable[str],
    declared: set[str],
    distributions: Mapping[str, list[str]],
    local: Iterable[str] = (),
) -> set[str]:
    """The modules that are neither stdlib, nor the project's (or `local`), nor declared."""
    own = PROJECT_MODULES | set(local)
    missing = set()
    for module in modules:
        if module in sys.stdlib_module_names or module in own:
            continue
        providers = {normalise(name) for name in distributions.get(module, [])}
        if not providers & declared:
            missing.add(module)
    return missing


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def sources(*patterns: str) -> list[Path]:
    return sorted(path for pattern in patterns for path in ROOT.glob(pattern))


def test_import_checker_flags_unknown_and_undeclared_modules() -> None:
    source = "import json\nimport helpers.backend\nfrom openai import OpenAI\nimport sibling\n"
    source += "import surely_not_a_module_xyz\nimport yaml\nfrom . import relative\n"
    declared = set(runtime_requirements())
    modules = list(imported_modules(source))
    found = undeclared(modules, declared, packages_distributions(), local=["sibling"])
    # yaml is installed (a test tool) but not a runtime dependency.
    assert found == {"surely_not_a_module_xyz", "yaml"}
    assert "sibling" in undeclared(modules, declared, packages_distributions())


def test_notebook_reader_skips_magics_and_reads_code_cells(tmp_path: Path) -> None:
    cells = [
        {"cell_type": "markdown", "source": ["import not_code\n"]},
        {"cell_type": "code", "source": ["%matplotlib inline\n", "import numpy as np\n"]},
        {"cell_type": "code", "source": "!pip list\nfrom helpers import get_client"},
    ]
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    assert list(imported_modules(notebook_code(path))) == ["numpy", "helpers"]


# Modules that run only in `.venv-llama/` (`make real-engine`), with what they import there.
REAL_ENGINE_ONLY = {"helpers/tools/tiny_gguf.py": {"gguf", "numpy"}}


def test_helpers_and_notebooks_import_only_runtime_dependencies() -> None:
    """Binder installs only the runtime dependencies, so the lesson may need nothing else."""
    files = [p for p in sources("helpers/**/*.py") if rel(p) not in REAL_ENGINE_ONLY]
    notebooks = sources("notebooks/*.ipynb")
    modules = {m for path in files for m in imported_modules(path.read_text(encoding="utf-8"))}
    modules |= {m for path in notebooks for m in imported_modules(notebook_code(path))}
    assert "openai" in modules, "the import scan found no files"
    assert undeclared(modules, set(runtime_requirements()), packages_distributions()) == set()


def test_the_real_engines_model_writer_needs_only_its_own_venvs_extras() -> None:
    for name, extras in REAL_ENGINE_ONLY.items():
        modules = set(imported_modules((ROOT / name).read_text(encoding="utf-8")))
        assert extras <= modules, f"{name} no longer needs {extras - modules}: drop the exception"
        others = modules - extras
        assert undeclared(others, set(runtime_requirements()), packages_distributions()) == set()


def test_tests_and_bench_import_only_declared_dependencies() -> None:
    declared = set(runtime_requirements()) | set(extra_requirements())
    files = sources("tests/**/*.py", "bench/**/*.py")
    modules = {m for path in files for m in imported_modules(path.read_text(encoding="utf-8"))}
    assert "pytest" in modules, "the import scan found no files"
    # pytest puts each test folder on sys.path, so tests import their sibling modules by name.
    siblings = {path.stem for path in files}
    assert undeclared(modules, declared, packages_distributions(), siblings) == set()


# ---- the two README commands ----


def make(*arguments: str) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def test_make_help_lists_the_documented_targets() -> None:
    listed = re.findall(r"make (\S+)", make("help"))
    assert {"lab", "test", "notebooks", "bench", "install"} <= set(listed)


def test_make_lab_passes_jupyterlab_arguments_through_on_the_embedded_backend() -> None:
    commands = make("-n", "lab", "LAB_ARGS=--no-browser --port=8890").splitlines()
    lab = [line for line in commands if "jupyter lab" in line]
    assert len(lab) == 1
    assert lab[0].endswith(" --no-browser --port=8890")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^TUTORIAL_BACKEND \?= embedded$", makefile, re.MULTILINE)
    assert re.search(r"^export TUTORIAL_BACKEND$", makefile, re.MULTILINE)


def test_make_test_runs_lint_typecheck_and_pytest() -> None:
    commands = make("-n", "test", "PYTEST_ARGS=-x").splitlines()
    assert any(line.endswith("ruff check .") for line in commands)
    assert any(line.endswith("mypy helpers") for line in commands)
    assert any(line.endswith("-m pytest -x") for line in commands)


def test_readme_names_every_notebook_and_each_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in NOTEBOOK_NAMES:
        assert f"notebooks/{name}.ipynb" in readme, name
        assert (ROOT / "notebooks" / f"{name}.ipynb").is_file(), name
    assert "?urlpath=lab/tree/notebooks/01_plain_response.ipynb" in readme
