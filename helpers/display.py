"""Showing things in the notebook: whether IPython runs, and the final text of a stream."""

from __future__ import annotations

from typing import Any

from helpers.view_html import final_text_html

__all__ = ["in_ipython", "show", "show_final_text"]


def in_ipython() -> bool:
    """Whether an IPython shell (a notebook's kernel) is running in this process."""
    from IPython.core.interactiveshell import InteractiveShell

    return bool(InteractiveShell.initialized())


def show(obj: object, **kwargs: Any) -> None:
    """Display `obj` in the running notebook; outside IPython, do nothing."""
    if not in_ipython():
        return
    from IPython.display import display

    display(obj, **kwargs)  # type: ignore[no-untyped-call]


def show_final_text(text: str, message: str) -> None:
    """Show a stream's final text, and the sentence on how it ended, as an ordinary output:
    deterministic, with no timings, so nbval compares it and a reopened notebook shows it."""
    plain = f"{text}\n\n{message}" if text and message else text or message
    if not plain:
        return
    if not in_ipython():
        print(plain)
        return
    show({"text/plain": plain, "text/html": final_text_html(text, message)}, raw=True)
