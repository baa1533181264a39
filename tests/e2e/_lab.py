"""Driving JupyterLab 4 the way a person does: menus, the toolbar, what the page shows."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page

from ._server import LabServer

OPEN_DEADLINE_MS = 90_000
RUN_DEADLINE_MS = 150_000

RECORDER_JS = (Path(__file__).parent / "_recorder.js").read_text(encoding="utf-8")
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
KERNEL_IDLE = f'{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status="idle"]'
OUTPUT = f"{NOTEBOOK} .jp-OutputArea-output"
# Hidden outputs (e.g. a widget view with an empty model id) keep stale text nobody sees.
VISIBLE_OUTPUTS_JS = (
    f"[...document.querySelectorAll('{OUTPUT}')].filter(o => o.checkVisibility())"
    ".map(o => ({text: o.textContent, mime: o.dataset.mimeType}))"
)

# Texts that must never be on screen; each says which defect it reveals.
FORBIDDEN_TEXTS = {
    "Error displaying widget": "a widget output whose model is gone",
    "HTML(value=": "a widget shown as its Python repr",
    "IOPub message rate exceeded": "the kernel flooded the front end",
    "Loading widget...": "a widget that never rendered",
}


@dataclass(frozen=True)
class LiveRecord:
    """What one live view showed, as recorded in the page."""

    texts: list[str]
    times: list[float]  # performance.now() in ms when each text appeared
    cell: int
    in_playground: bool
    status: str | None
    message: str  # the sentence an error or a stop adds under the text

    @property
    def final(self) -> str:
        return normalize(self.texts[-1]) if self.texts else ""

    @property
    def final_output(self) -> str:
        """The ordinary output the helpers display once the stream ends: text, then message."""
        return normalize(f"{self.final} {self.message}")

    @property
    def state(self) -> str:
        """How the stream ended (done, error, stopped), or what it is doing, per the status."""
        match = re.search(r"· (\w+)", self.status or "")
        return match.group(1) if match else ""

    @property
    def intermediate(self) -> set[str]:
        """The distinct texts shown on the way, neither empty nor the final one."""
        return {normalize(text) for text in self.texts[:-1]} - {"", self.final}

    @property
    def first_text_at(self) -> float:
        """When any text first appeared (ms, page clock)."""
        return next(t for text, t in zip(self.texts, self.times, strict=True) if normalize(text))


def normalize(text: str) -> str:
    """Collapse runs of whitespace: the DOM and the notebook file wrap text differently."""
    return re.sub(r"\s+", " ", text).strip()


def _kernel_connected(lab: LabServer, name: str) -> bool:
    return any(
        session["path"] == name
        and session["kernel"]["execution_state"] == "idle"
        and session["kernel"]["connections"] > 0
        for session in lab.api("GET", "api/sessions")
    )


def sign_in(page: Page, lab: LabServer) -> None:
    """Log in, wait for JupyterLab and start recording what the page shows."""
    # The token is typed into the form, so it never appears in a URL or a test report.
    page.goto(f"{lab.url}login?next=%2Flab", timeout=OPEN_DEADLINE_MS)
    page.locator("#password_input").fill(lab.token)
    page.locator("#login_submit").click()
    page.locator("#jp-MainMenu").wait_for(timeout=OPEN_DEADLINE_MS)
    page.evaluate(RECORDER_JS)


def open_notebook(page: Page, lab: LabServer, name: str) -> None:
    """File > Open from Path…, then wait until the notebook is ready to run."""
    click_menu(page, "File", "Open from Path…")
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input").fill(name)
    dialog.locator("button.jp-mod-accept").click()
    _wait_ready(page, lab, name)
    page.evaluate("() => window.__e2e.mark()")


def reopen_notebook(page: Page, lab: LabServer, name: str) -> None:
    """Close the notebook, end its kernel and open the file again, as on another day."""
    click_menu(page, "File", "Close Tab")
    page.locator(NOTEBOOK).wait_for(state="detached")
    lab.shutdown_kernels()
    open_notebook(page, lab, name)


def close_all(page: Page) -> None:
    """Close every tab, discarding unsaved changes, so the next test starts from nothing."""
    page.keyboard.press("Escape")  # a menu left open by a failed test
    click_menu(page, "File", "Close All Tabs")
    discard = page.locator(".jp-Dialog button.jp-mod-warn")
    deadline = time.perf_counter() + 30
    while page.locator(NOTEBOOK).count():
        assert time.perf_counter() < deadline, "the notebook tabs did not close"
        if discard.count():
            discard.first.click()
        page.wait_for_timeout(100)


def _wait_ready(page: Page, lab: LabServer, name: str) -> None:
    cell_count = len(json.loads((lab.root / name).read_text(encoding="utf-8"))["cells"])
    # The panel shows one empty placeholder cell until the file's content arrives.
    page.wait_for_function(
        f"() => document.querySelectorAll('{NOTEBOOK} .jp-Cell').length === {cell_count}",
        timeout=OPEN_DEADLINE_MS,
    )
    # The toolbar says idle before any kernel exists; the server knows when the page is attached.
    deadline = time.perf_counter() + OPEN_DEADLINE_MS / 1000
    while not _kernel_connected(lab, name):
        assert time.perf_counter() < deadline, f"no kernel connected to {name} in time"
        page.wait_for_timeout(200)
    page.locator(KERNEL_IDLE).wait_for(timeout=OPEN_DEADLINE_MS)
    # Fold the file browser away: the notebook gets the width, as in a tutorial screenshot.
    sidebar_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if sidebar_tab.count():
        sidebar_tab.click()
    # The widget renderers wait for the kernel's comm list before they settle.
    page.wait_for_function(
        f"() => !({VISIBLE_OUTPUTS_JS}).some(o => o.text.includes('Loading widget...'))",
        timeout=OPEN_DEADLINE_MS,
    )


def click_menu(page: Page, menu: str, item: str) -> None:
    """Click `menu > item` in the main menu bar."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    opened = page.locator(".lm-Menu.lm-MenuBar-menu")
    opened.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()
    opened.wait_for(state="hidden")


def start_run_all(page: Page) -> None:
    """Run > Run All Cells, without waiting for the run."""
    page.evaluate("() => window.__e2e.mark()")
    click_menu(page, "Run", "Run All Cells")


def run_all(page: Page) -> None:
    """Run > Run All Cells, then wait until no cell is queued or running."""
    start_run_all(page)
    page.wait_for_function(
        "() => { const cells = window.__e2e.cells().filter(c => c.code);"
        " return cells.some(c => c.ran) && cells.every(c => c.prompt !== '[*]:'); }",
        timeout=RUN_DEADLINE_MS,
    )
    page.locator(KERNEL_IDLE).wait_for(timeout=RUN_DEADLINE_MS)


def cells(page: Page) -> list[dict[str, Any]]:
    """Each cell's kind, prompt and whether it ran since the recorder was installed."""
    result: list[dict[str, Any]] = page.evaluate("() => window.__e2e.cells()")
    return result


def finished(cell: dict[str, Any]) -> bool:
    """Whether a cell ran since the last mark and now shows an execution count, like [3]:."""
    return bool(cell["ran"] and re.fullmatch(r"\[\d+\]:", cell["prompt"]))


def live_views(page: Page) -> list[LiveRecord]:
    """The live views on the page, with every text each one showed."""
    raw = page.evaluate("() => window.__e2e.views()")
    return [
        LiveRecord(
            texts=view["texts"],
            times=view["times"],
            cell=view["cell"],
            in_playground=view["inPlayground"],
            status=view["status"],
            message=view["message"],
        )
        for view in raw
    ]


def page_problems(page: Page) -> list[str]:
    """Everything wrong a reader would see in the open notebook's outputs."""
    problems = []
    for output in visible_outputs(page):
        text = output["text"]
        problems += [
            f"{why}: {text.strip()[:200]!r}"
            for needle, why in FORBIDDEN_TEXTS.items()
            if needle in text
        ]
        # Tracebacks and stderr both render with this MIME type in JupyterLab.
        if output["mime"] == "application/vnd.jupyter.stderr":
            problems.append(f"error or stderr output: {text.strip()[:300]!r}")
    return problems


def visible_outputs(page: Page) -> list[dict[str, str]]:
    """Text and MIME type of every output a reader can see, in notebook order."""
    result: list[dict[str, str]] = page.evaluate(f"() => {VISIBLE_OUTPUTS_JS}")
    return result


def broken_images(page: Page) -> list[str]:
    """Output images that did not load (naturalWidth 0), by their source's start."""
    result: list[str] = page.evaluate(
        "() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
        ".filter(img => !(img.complete && img.naturalWidth > 0))"
        ".map(img => img.src.slice(0, 60))"
    )
    return result


def output_images(page: Page) -> int:
    """How many images the open notebook's outputs hold."""
    return page.locator(f"{OUTPUT} img").count()


def run_cell(page: Page, index: int) -> None:
    """Select cell `index` by its prompt and press the toolbar's run button."""
    page.locator(f"{NOTEBOOK} .jp-Cell").nth(index).locator(".jp-InputPrompt").click()
    page.locator(f'{NOTEBOOK} .jp-Toolbar-item[data-jp-item-name="run"] jp-button').click()


def cell_outputs(page: Page, index: int) -> Locator:
    """The output area of cell `index`."""
    return page.locator(f"{NOTEBOOK} .jp-Cell").nth(index).locator(".jp-OutputArea")


def interrupt_kernel(page: Page) -> None:
    """Press the toolbar's stop button."""
    page.locator(f'{NOTEBOOK} .jp-Toolbar-item[data-jp-item-name="interrupt"] jp-button').click()


def save(page: Page) -> None:
    """File > Save Notebook, and wait until the document is clean."""
    click_menu(page, "File", "Save Notebook")
    page.wait_for_function(
        "() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=30_000
    )


def screenshot_notebook(page: Page, path: Path) -> None:
    """Save the whole notebook, taller than the window, as one PNG."""
    scroller = page.locator(f"{NOTEBOOK} .jp-WindowedPanel-outer")
    size = page.viewport_size
    assert size is not None, "the page has no viewport"
    # Grow the window by what the last cell overhangs, not by the notebook's blank tail.
    overflow = scroller.evaluate(
        "el => { el.scrollTop = 0; const cells = el.querySelectorAll('.jp-Cell');"
        " const last = cells[cells.length - 1].getBoundingClientRect().bottom;"
        " return Math.max(0, Math.ceil(last - el.getBoundingClientRect().bottom) + 24); }"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    height = min(size["height"] + overflow, 12_000)
    page.set_viewport_size({"width": size["width"], "height": height})
    try:
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)
