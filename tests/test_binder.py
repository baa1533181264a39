"""What Binder and a hub image do with this repository, checked without Docker.

repo2docker renders the Dockerfile it would build; the install it describes is then replayed in
a fresh virtual environment, and notebook 01 runs there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers.tools.notebooks import NOTEBOOK_DIR, embedded_env
from tests.support import REPO, fresh_copy
from tests.test_lock import environment_pip_lines

BINDER_VARIABLES = (
    "BINDER_LAUNCH_HOST",
    "BINDER_REPO_URL",
    "BINDER_REF_URL",
    "BINDER_REQUEST",
    "BINDER_PERSISTENT_REQUEST",
)
# Runs in the fresh venv: helpers.tools.notebooks.execute, with the kernel started in a folder.
DRIVER = """
import sys
from pathlib import Path
from helpers.tools import notebooks
notebooks.NOTEBOOK_DIR = Path(sys.argv[2])
import os
nb = notebooks.execute(Path(sys.argv[1]), os.environ)
notebooks.write(nb, Path(sys.argv[1]))
"""
ADMIN = {"OPENAI_BASE_URL": "http://engine:8000/v1", "OPENAI_API_KEY": "room-key"}


def render() -> subprocess.CompletedProcess[str]:
    """repo2docker's Dockerfile for this repository (stdout) and its log (stderr); no Docker."""
    repo2docker = Path(sys.executable).with_name("jupyter-repo2docker")
    return subprocess.run(
        [str(repo2docker), "--no-build", "--debug", str(REPO)],
        capture_output=True, text=True, timeout=120, check=True,
    )


def test_repo2docker_uses_environment_yml_postbuild_and_start() -> None:
    done = render()
    dockerfile = done.stdout
    assert "env update -p ${NB_PYTHON_PREFIX} --file \"environment.yml\"" in dockerfile
    assert "RUN ./postBuild" in dockerfile
    assert 'ENV R2D_ENTRYPOINT="${REPO_DIR}/start"' in dockerfile
    # The conda build pack, for the Python that environment.yml names.
    assert "Building conda environment for python=3.11" in done.stderr
    # environment.yml is installed before the repository is copied (a cached layer), so its pip
    # section may not name local files.
    assert dockerfile.index("environment.yml") < dockerfile.index("COPY --chown=0:0 src/ ")


def start_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment `start` hands to the program it starts."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    done = subprocess.run(
        ["bash", str(REPO / "start"), "env"],
        env={**keep, **extra}, capture_output=True, text=True, timeout=10, check=True,
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize("variable", BINDER_VARIABLES)
def test_start_forces_the_simulation_on_binder(variable: str) -> None:
    env = start_env({**ADMIN, variable: "https://mybinder.org/"})
    assert env["TUTORIAL_BACKEND"] == "embedded"
    assert "OPENAI_BASE_URL" not in env
    assert "OPENAI_API_KEY" not in env


def test_start_keeps_the_admins_settings_elsewhere() -> None:
    """A Zero to JupyterHub image is built from the same files; its singleuser.extraEnv stands."""
    env = start_env(dict(ADMIN))
    assert {name: env.get(name) for name in ADMIN} == ADMIN
    assert "TUTORIAL_BACKEND" not in env


def test_start_and_postbuild_are_executable() -> None:
    for name in ("start", "postBuild"):
        assert (REPO / name).stat().st_mode & 0o111, name


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.timeout(900)
def test_binder_install_replayed_in_a_fresh_venv_runs_notebook_01(tmp_path: Path) -> None:
    """environment.yml's pip section, then postBuild, in a venv of their own; its kernel runs 01."""
    source = tmp_path / "repo"
    fresh_copy(source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    pip_section = tmp_path / "pip-section.txt"
    pip_section.write_text("\n".join(environment_pip_lines()) + "\n", encoding="utf-8")

    def pip(*args: str) -> None:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *args],
            cwd=source, check=True, timeout=600,
        )

    pip("-r", str(pip_section))
    pip("--no-deps", ".")
    subprocess.run([str(python), "-m", "pip", "check"], check=True, timeout=120)
    # The fresh venv runs the notebook itself, so ipykernel's own `python3` kernel is its
    # python; -P keeps the copied source off sys.path, so the installed helpers are used.
    probe = tmp_path / "01.ipynb"
    nb = nbformat.read(NOTEBOOK_DIR / "01_plain_response.ipynb", as_version=4)
    where_am_i = "import sys, helpers\nprint(sys.executable, helpers.__file__)"
    nb.cells.append(nbformat.v4.new_code_cell(where_am_i))
    nbformat.write(nb, probe)
    done = subprocess.run(
        [str(python), "-P", "-c", DRIVER, str(probe), str(tmp_path)],
        cwd=tmp_path, env=embedded_env(os.environ), capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ran = nbformat.read(probe, as_version=4)
    outputs = [output for cell in ran.cells if cell.cell_type == "code" for output in cell.outputs]
    assert [output for output in outputs if output.output_type == "error"] == []
    where = ran.cells[-1].outputs[0]["text"]
    assert where.startswith(str(venv / "bin" / "python")), where
    assert str(venv / "lib") in where, where
