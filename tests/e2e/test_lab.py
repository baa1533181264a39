"""Every lesson notebook, opened and run in JupyterLab in Chromium, as a learner would."""

from __future__ import annotations

import re
from itertools import groupby

import pytest
from playwright.sync_api import Locator, Page, expect

from . import _committed, _lab
from ._scratch import write_notebook
from ._server import LabServer
from .conftest import ARTIFACTS, NOTEBOOKS

LESSONS = sorted(path.name for path in NOTEBOOKS.glob("*.ipynb"))
# Lessons that end with a Playground; any other notebook's playgrounds are clicked too.
PLAYGROUND_LESSONS = {"03_time_saved.ipynb"}
# A stream seen in fewer steps than this would look like a blocking call.
MIN_INTERMEDIATE_TEXTS = 3

LONG_STREAM = """\
from helpers import MODEL, LiveView, get_client

PROMPT = "Count to 3000, with a comma between each number and no newlines."

client = get_client()
view = LiveView()
with view, client.chat.completions.create(
    model=MODEL,
    messages=[{"role": "user", "content": PROMPT}],
    stream=True,
    extra_body={"simulation": {"profile": "realistic"}},
) as stream:
    for _ in view.follow(stream):
        pass
"""
NEXT_CELL = 'print("the next cell ran")'
# All an interrupted stream's cell shows after its text: JupyterLab renders an error's
# traceback lines, and the helpers make those this one line.
INTERRUPTED = "Interrupted: the stream stopped, this cell ended, and queued cells were skipped."
ERROR_MIME = "application/vnd.jupyter.stderr"
# One of each widget the helpers show, filled quickly (instant profile).
EVERY_WIDGET = [
    """\
from helpers import MODEL, LiveView, Playground, get_client, side_by_side

client = get_client()
INSTANT = {"simulation": {"profile": "instant"}}
view = LiveView()
with view, client.chat.completions.create(
    model=MODEL,
    messages=[{"role": "user", "content": "Count to 20"}],
    stream=True,
    extra_body=INSTANT,
) as stream:
    for _ in view.follow(stream):
        pass
""",
    "Playground(client, MODEL)",
    "side_by_side(LiveView(), LiveView())",
]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_lesson_notebooks_are_found() -> None:
    """The parametrised test below runs once per notebook; an empty folder would run nothing."""
    assert LESSONS, f"no notebooks in {NOTEBOOKS}"


def _check_live_views(views: list[_lab.LiveRecord], finals: list[str]) -> None:
    assert sorted(view.final_output for view in views) == sorted(finals), (
        "the live views' final texts differ from the final texts the committed notebook shows"
    )
    # Views shown together (in one cell) may include a blocking call or a one-word answer
    # for contrast, which jump straight to their end; at least one must show text in steps.
    done = sorted((view for view in views if view.state == "done"), key=lambda view: view.cell)
    for cell, group in groupby(done, key=lambda view: view.cell):
        shown = list(group)
        assert any(len(view.intermediate) >= MIN_INTERMEDIATE_TEXTS for view in shown), (
            f"no live view in cell {cell} showed its text in steps: {shown[0].texts[:4]}"
        )


def _stream_in_playground(
    page: Page, playground: Locator, profile: str
) -> tuple[float, _lab.LiveRecord]:
    """Pick `profile`, press the button; return when it was pressed and what its view showed."""
    playground.locator(".streaming-lab-playground-profile select").select_option(profile)
    page.evaluate("() => window.__e2e.mark()")
    pressed: float = page.evaluate("() => window.__e2e.now()")
    playground.locator(".streaming-lab-playground-button").click()
    page.wait_for_function(
        "() => window.__e2e.views().some(v => v.inPlayground && / done /.test(v.status || ''))",
        timeout=60_000,
    )
    (view,) = [view for view in _lab.live_views(page) if view.in_playground]
    return pressed, view


def _reported_ttft(view: _lab.LiveRecord) -> float:
    """The time to first token the view's status line states, in seconds."""
    match = re.search(r"first token (\d+(?:\.\d+)?) s", view.status or "")
    assert match, f"the status line states no time to first token: {view.status!r}"
    return float(match.group(1))


def _check_playground(page: Page, playground: Locator) -> None:
    pressed, realistic = _stream_in_playground(page, playground, "realistic")
    assert len(realistic.intermediate) >= MIN_INTERMEDIATE_TEXTS, (
        f"the playground's stream did not show text in steps: {realistic.texts[:4]}"
    )
    waited = realistic.first_text_at - pressed
    pressed, instant = _stream_in_playground(page, playground, "instant")
    assert instant.final == realistic.final, "the same prompt gave another answer"
    # Realistic waits about a second for the first token, instant does not: the status line
    # says so, and the text shows up sooner.
    assert _reported_ttft(instant) < _reported_ttft(realistic) - 0.5, (
        f"changing the profile changed nothing: {realistic.status!r} vs {instant.status!r}"
    )
    assert instant.first_text_at - pressed < waited, "the instant profile showed text no sooner"


@pytest.mark.parametrize("name", LESSONS)
def test_notebook_runs_in_lab(page: Page, lab: LabServer, name: str) -> None:
    finals = _committed.final_texts(NOTEBOOKS / name)

    _lab.open_notebook(page, lab, name)
    assert _lab.page_problems(page) == [], "the committed outputs render badly"
    assert _lab.broken_images(page) == [], "a committed plot did not load"
    committed_images = _lab.output_images(page)

    _lab.run_all(page)
    _lab.screenshot_notebook(page, ARTIFACTS / f"{name.removesuffix('.ipynb')}.png")

    assert _lab.page_problems(page) == [], "the run left errors on the page"
    cells = _lab.cells(page)
    not_run = [
        (index, cells[index]["prompt"])
        for index in _committed.shown_code_cells(NOTEBOOKS / name)
        if not _lab.finished(cells[index])
    ]
    assert not_run == [], f"code cells (index, prompt) that did not run to the end: {not_run}"
    assert _lab.broken_images(page) == [], "a plot did not load"
    assert _lab.output_images(page) >= committed_images, "the run drew fewer plots than committed"
    _check_live_views([v for v in _lab.live_views(page) if not v.in_playground], finals)

    playgrounds = page.locator(".streaming-lab-playground").all()
    assert playgrounds or name not in PLAYGROUND_LESSONS, "the playground is missing"
    for playground in playgrounds:
        _check_playground(page, playground)


def test_interrupt_keeps_partial_text_and_stops_run_all(page: Page, lab: LabServer) -> None:
    """Run All, then ■ while the first cell streams: the live view keeps the text that had
    arrived, the cell ends with one line (no traceback), and the queued cell does not run."""
    name = write_notebook(lab.root, "scratch_interrupt.ipynb", [LONG_STREAM, NEXT_CELL])
    _lab.open_notebook(page, lab, name)

    _lab.start_run_all(page)
    page.wait_for_function("() => window.__e2e.views().some(v => v.texts.length > 10)")
    _lab.interrupt_kernel(page)
    page.wait_for_function(
        "() => window.__e2e.views().some(v => (v.status || '').includes('stopped'))",
        timeout=20_000,
    )
    page.wait_for_function(
        "() => window.__e2e.cells().every(c => c.prompt !== '[*]:')", timeout=20_000
    )
    page.locator(_lab.KERNEL_IDLE).wait_for()
    (view,) = _lab.live_views(page)
    page.wait_for_timeout(1_000)
    (later,) = _lab.live_views(page)
    assert later.texts == view.texts, "the live view kept changing after the stop"
    assert view.final.startswith("1, 2, 3"), f"the partial text is gone: {view.final[:80]!r}"
    assert not view.final.endswith("3000"), "the stream finished before the interrupt"

    errors = [o for o in _lab.visible_outputs(page) if o["mime"] == ERROR_MIME]
    assert [_lab.normalize(error["text"]) for error in errors] == [INTERRUPTED], (
        "the interrupt should end the cell with its one line, and nothing else in red"
    )
    interrupted, queued = _lab.cells(page)
    assert interrupted["prompt"] != "[*]:", "the interrupted cell is still running"
    assert not _lab.finished(queued), f"the queued cell ran after the stop: {queued}"
    expect(_lab.cell_outputs(page, 1)).to_be_empty()

    _lab.run_cell(page, 1)
    expect(_lab.cell_outputs(page, 1)).to_contain_text("the next cell ran", timeout=20_000)


def test_reopened_notebook_shows_no_widget_errors(page: Page, lab: LabServer) -> None:
    """A learner runs a notebook, saves it, and opens it another day: the kernel and its widget
    models are gone, yet no output may say "Error displaying widget", and the final text of a
    finished stream must still be there."""
    name = write_notebook(lab.root, "scratch_reopen.ipynb", EVERY_WIDGET)
    _lab.open_notebook(page, lab, name)
    _lab.run_all(page)
    assert _lab.page_problems(page) == [], "the run left errors on the page"
    (view,) = [view for view in _lab.live_views(page) if view.state == "done"]

    _lab.save(page)
    _lab.reopen_notebook(page, lab, name)
    assert _lab.page_problems(page) == [], "the reopened notebook renders badly"
    shown = [_lab.normalize(output["text"]) for output in _lab.visible_outputs(page)]
    assert view.final_output in shown, "the reopened notebook lost the stream's final text"
