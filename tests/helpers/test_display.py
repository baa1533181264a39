"""Outside a notebook the final text is printed; inside, it is displayed with HTML beside it."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import display


def test_outside_ipython_the_final_text_and_message_are_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(display, "in_ipython", lambda: False)
    display.show_final_text("1, 2, 3", "Stopped.")
    display.show_final_text("", "")
    display.show("anything")
    assert capsys.readouterr().out == "1, 2, 3\n\nStopped.\n"


def test_inside_ipython_the_final_text_is_one_rich_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shown: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(display, "in_ipython", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append((obj, kw)))
    display.show_final_text("<a>", "")
    assert capsys.readouterr().out == ""
    [(bundle, options)] = shown
    assert options == {"raw": True}
    assert bundle["text/plain"] == "<a>"
    assert "&lt;a&gt;" in bundle["text/html"]
