"""The live view's markup: one pane per choice, everything from the model escaped."""

from __future__ import annotations

from helpers.view_html import final_text_html, render_view


def test_one_choice_has_one_pane_and_no_choice_label() -> None:
    markup = render_view(None, {0: "Hello"}, "", "embedded simulation · done")
    assert markup.count("class='streaming-lab-live-text'") == 1
    assert "data-choice='0' " in markup and "anywhere'>Hello</div>" in markup
    assert "choice 0" not in markup
    assert "streaming-lab-live-message" not in markup
    assert "embedded simulation · done</div>" in markup


def test_several_choices_are_labelled_side_by_side() -> None:
    markup = render_view("Race", {0: "a", 1: "b"}, "", "s")
    assert "<div style='font-weight:bold'>Race</div>" in markup
    assert "display:flex" in markup
    assert "choice 0</div>" in markup and "choice 1</div>" in markup
    assert "data-choice='1' " in markup and "anywhere'>b</div>" in markup


def test_no_text_yet_still_shows_an_empty_pane() -> None:
    assert "anywhere'></div>" in render_view(None, {}, "", "waiting")


def test_model_output_title_message_and_status_are_escaped() -> None:
    markup = render_view("<b>t</b>", {0: "<script>x</script>"}, "a & b", "<i>")
    assert "<script>" not in markup and "&lt;script&gt;x&lt;/script&gt;" in markup
    assert "&lt;b&gt;t&lt;/b&gt;" in markup
    assert "a &amp; b</div>" in markup
    assert "&lt;i&gt;</div>" in markup


def test_final_text_shows_the_message_only_when_there_is_one() -> None:
    assert "color:#b00" not in final_text_html("<done>", "")
    assert "&lt;done&gt;</div>" in final_text_html("<done>", "")
    assert final_text_html("x", "Stopped.").endswith("<div style='color:#b00'>Stopped.</div>")
