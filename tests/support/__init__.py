"""What the test suites share: where their data lives, test streams, the schema extractor."""

import shutil
import subprocess
from pathlib import Path

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
