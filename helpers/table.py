"""A table of names and values: HTML in Jupyter, aligned text elsewhere."""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["Table"]


class Table:
    """Rows of (name, value) shown as an HTML table, or aligned text where HTML is not shown."""

    def __init__(self, rows: Sequence[tuple[str, str]], title: str | None = None) -> None:
        self.rows = list(rows)
        self.title = title

    def __repr__(self) -> str:
        width = max((len(name) for name, _ in self.rows), default=0)
        lines = [self.title] if self.title else []
        lines += [f"{name:<{width}}  {value}" for name, value in self.rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
            f"<td style='text-align:right'>{html.escape(value)}</td></tr>"
            for name, value in self.rows
        )
        return f"<table>{caption}{body}</table>"
