"""The live view's HTML, and the final text's: model output is always escaped."""

from __future__ import annotations

import html
from collections.abc import Mapping

__all__ = ["final_text_html", "render_view"]


def render_view(title: str | None, texts: Mapping[int, str], message: str, status: str) -> str:
    """The whole view: an optional title, one pane per choice side by side, a message in red
    when there is one, and the status line."""
    shown = texts or {0: ""}
    several = len(shown) > 1
    panes = "".join(
        "<div style='flex:1;min-width:0'>"
        + (f"<div style='font-size:smaller;opacity:.6'>choice {index}</div>" if several else "")
        + f"<div class='streaming-lab-live-text' data-choice='{index}' "
        f"style='white-space:pre-wrap;overflow-wrap:anywhere'>{html.escape(text)}</div></div>"
        for index, text in shown.items()
    )
    heading = f"<div style='font-weight:bold'>{html.escape(title)}</div>" if title else ""
    note = (
        f"<div class='streaming-lab-live-message' style='color:#b00'>"
        f"{html.escape(message)}</div>"
        if message
        else ""
    )
    return (
        f"{heading}<div style='display:flex;gap:1.5em'>{panes}</div>{note}"
        f"<div class='streaming-lab-live-status' style='font-size:smaller;opacity:.7'>"
        f"{html.escape(status)}</div>"
    )


def final_text_html(text: str, message: str) -> str:
    """A stream's final text with a grey bar beside it, and the message in red below."""
    note = f"<div style='color:#b00'>{html.escape(message)}</div>" if message else ""
    return (
        "<div style='white-space:pre-wrap;overflow-wrap:anywhere;border-left:3px solid #ccc;"
        f"padding-left:.6em'>{html.escape(text)}</div>{note}"
    )
