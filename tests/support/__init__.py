"""What the test suites share: where their data lives, test streams, the schema extractor."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
