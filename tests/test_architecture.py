"""docs/architecture.md names every module of helpers/, and nothing that does not exist."""

from __future__ import annotations

import re

from tests.support import REPO

DOC = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
NAMED = set(re.findall(r"`((?:helpers|tests)/[\w/]+\.py)`", DOC))


def test_every_module_of_helpers_is_named() -> None:
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "helpers").rglob("*.py")}
    assert sorted(modules - NAMED) == []


def test_every_named_module_and_test_file_exists() -> None:
    assert len(NAMED) > 60
    assert sorted(name for name in NAMED if not (REPO / name).is_file()) == []


def test_the_tree_lists_every_folder_of_helpers() -> None:
    folders = {
        p.relative_to(REPO).as_posix() + "/"
        for p in [REPO / "helpers", *(REPO / "helpers").rglob("*")]
        if p.is_dir() and p.name != "__pycache__"
    }
    tree = DOC.split("```text\n", 1)[1].split("```", 1)[0]
    listed = {line.split()[0] for line in tree.splitlines() if line.strip()}
    assert sorted(folders - listed) == []
