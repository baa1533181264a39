"""Scratch notebooks written into the lab's temporary folder, never into notebooks/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def write_notebook(folder: Path, name: str, sources: list[str]) -> str:
    """Write an nbformat 4 notebook of unexecuted code cells and return its name."""
    cells: list[dict[str, Any]] = [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": s}
        for s in sources
    ]
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": KERNELSPEC},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    (folder / name).write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return name
