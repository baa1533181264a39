"""A table of names and values: aligned text, or an escaped HTML table."""

from __future__ import annotations

from helpers.table import Table


def test_text_aligns_the_values_under_a_title() -> None:
    table = Table([("TTFT", "1.080 s"), ("output tokens", "298")], title="Metrics")
    assert repr(table) == "Metrics\nTTFT           1.080 s\noutput tokens  298"


def test_html_has_a_caption_and_escapes_every_cell() -> None:
    markup = Table([("<b>", "a & b")], title="<t>")._repr_html_()
    assert markup == (
        "<table><caption>&lt;t&gt;</caption><tr><th style='text-align:left'>&lt;b&gt;</th>"
        "<td style='text-align:right'>a &amp; b</td></tr></table>"
    )


def test_an_empty_untitled_table_is_empty() -> None:
    assert repr(Table([])) == ""
    assert Table([])._repr_html_() == "<table></table>"
