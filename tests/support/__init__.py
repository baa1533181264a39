"""What the test suites share: where their data lives, test streams, the schema extractor."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


def fresh_copy(into: Path) -> Path:
    """The files a fresh clone would hold (tracked, and new ones git does not ignore), copied
    into `into`: what CI and a learner start from, without this checkout's .venv or caches."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


def health(base_url: str) -> dict[str, Any]:
    """The `/health` report of the server whose API is at `base_url` (`.../v1`)."""
    response = httpx.get(base_url.removesuffix("/v1") + "/health", timeout=5)
    assert response.status_code == 200
    report: dict[str, Any] = response.json()
    return report
