"""What the committed notebook file says a run must end with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._lab import normalize


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def final_texts(path: Path) -> list[str]:
    """The final texts of the notebook's live views, as committed.

    When a live view's stream ends, the helpers display its text again as an ordinary
    output (display data with an HTML and a plain-text form), which is committed; widget
    views themselves are stripped from committed outputs.
    """
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [
        normalize(_joined(output["data"]["text/plain"]))
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if output["output_type"] == "display_data"
        and {"text/html", "text/plain"} <= output.get("data", {}).keys()
    ]


def shown_code_cells(path: Path) -> list[int]:
    """Indices of the code cells that hold code and show it, hence their prompt, in JupyterLab.

    A cell whose source is hidden shows no prompt; its errors still show in its outputs.
    """
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [
        index
        for index, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code"
        and _joined(cell["source"]).strip()
        and not cell["metadata"].get("jupyter", {}).get("source_hidden", False)
    ]
