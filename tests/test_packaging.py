"""The wheel built from a clean checkout holds every module of every helpers package, and the
console script points at the command line."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import fresh_copy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_the_wheel_holds_every_helpers_module_and_the_console_script(tmp_path: Path) -> None:
    source = fresh_copy(tmp_path / "checkout")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "dist"), str(source)],
        check=True, capture_output=True,
    )
    [wheel] = (tmp_path / "dist").glob("streaming_completions_lab-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    packaged = {name for name in names if name.startswith("helpers/") and name.endswith(".py")}
    expected = {
        path.relative_to(source).as_posix() for path in (source / "helpers").rglob("*.py")
    }
    assert packaged == expected
    # The three packages a learner, the server and the tools need, by name.
    assert {"helpers/__init__.py", "helpers/server/__init__.py", "helpers/tools/cli.py",
            "helpers/exercises/lesson01.py", "helpers/server/testing/process.py"} <= packaged
    assert "streaming-lab = helpers.tools.cli:main" in scripts
    assert not [name for name in names if name.startswith(("tests/", "bench/", "notebooks/"))]
