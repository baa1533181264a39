"""The README's steps without make, run as written (macOS and Linux) or checked (Windows)."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import REPO, fresh_copy

SECTION = "## Without make: Windows and macOS"


def code_blocks() -> list[tuple[str, list[str]]]:
    """(language, command lines) of each code block in the README's no-make section."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return [
        (language, body.strip().splitlines())
        for language, body in re.findall(r"^```(\w+)\n(.*?)^```$", section, re.DOTALL | re.M)
    ]


def posix_steps() -> tuple[list[str], list[str]]:
    """The launch block and the test block."""
    (launch, tests) = [lines for language, lines in code_blocks() if language == "sh"]
    return launch, tests


def windows_steps() -> list[str]:
    (lines,) = [lines for language, lines in code_blocks() if language == "bat"]
    return lines


def test_windows_steps_are_the_posix_steps_with_windows_paths() -> None:
    launch, _ = posix_steps()
    as_posix = [
        line.replace("py -3 ", "python3 ").replace(".venv\\Scripts\\", ".venv/bin/")
        for line in windows_steps()
    ]
    assert as_posix == launch
    assert all("/bin/" not in line for line in windows_steps())


def test_no_make_steps_install_the_lock_and_launch_with_the_console_script() -> None:
    launch, tests = posix_steps()
    assert launch[0] == "python3 -m venv .venv"
    assert launch[1].endswith("pip install -r requirements/lesson.txt")
    assert launch[2].endswith("pip install --no-deps .")
    assert launch[3] == ".venv/bin/streaming-lab lab"
    assert tests == [
        ".venv/bin/python -m pip install -r requirements/test.txt",
        ".venv/bin/python -m pytest",
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def run(line: str, cwd: Path) -> None:
    done = subprocess.run(line, shell=True, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{line}\n{done.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_posix_steps_run_as_written_in_a_fresh_copy(tmp_path: Path) -> None:
    """JupyterLab comes up on the first notebook; the test tools install and pytest runs."""
    copy = tmp_path / "lab"
    fresh_copy(copy)
    launch, tests = posix_steps()
    for line in launch[:-1]:
        run(line, copy)
    # The last step serves until stopped: wait for JupyterLab's address, then stop it.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TUTORIAL_"))}
    lab = subprocess.Popen(
        f"{launch[-1]} --no-browser --port={port}",
        shell=True, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    try:
        assert lab.stdout is not None
        seen = ""
        while f"127.0.0.1:{port}/lab" not in seen:
            ready, _, _ = select.select([lab.stdout], [], [], 120)
            line = lab.stdout.readline() if ready else ""
            assert line, f"JupyterLab did not start:\n{seen[-3000:]}"
            seen += line
        # JupyterLab opened the copy's first notebook: it serves that notebook's folder.
        token = re.findall(rf"127\.0\.0\.1:{port}/lab\?token=(\w+)", seen)[0]
        notebook = httpx.get(
            f"http://127.0.0.1:{port}/api/contents/01_plain_response.ipynb",
            params={"content": "0"}, headers={"Authorization": f"token {token}"}, timeout=30,
        )
        assert notebook.status_code == 200, notebook.text
    finally:
        os.killpg(lab.pid, 15)
        lab.communicate(timeout=30)
    run(tests[0], copy)
    # The whole suite takes minutes; one quick file shows the installed tools work.
    run(f"{tests[1]} -q -p no:randomly tests/test_lock.py", copy)
    assert sys.version_info >= (3, 11)


def test_makefile_stops_on_a_python_older_than_3_11(tmp_path: Path) -> None:
    """A stand-in `python3` that fails the version check, as macOS's /usr/bin/python3 (3.9) does."""
    old = tmp_path / "python3"
    old.write_text("#!/bin/sh\nexit 1\n")
    old.chmod(0o755)
    done = subprocess.run(
        ["make", "--no-print-directory", "lab", f"PYTHON={old}", f"VENV={tmp_path / 'venv'}"],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode != 0
    assert "older than 3.11: install Python 3.11 or newer" in done.stderr
    assert not (tmp_path / "venv").exists()
