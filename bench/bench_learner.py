"""A scripted learner works through the core notebooks in JupyterLab in Chromium (figures for
docs/learner-timing.md).

Per notebook, opened from a fresh copy with a fresh kernel, cell by cell from the top:

- a markdown cell is read: a pause of its words at `reading_wpm`;
- a code cell is read at `code_wpm`, selected, and run with Shift+Enter; the time from the key
  press until the kernel is idle and the cell's outputs are on screen is measured in the page;
- the exercise cell (`return ...  # replace ... with your code`) first gets the reference
  solution (`helpers.exercises`) typed over its placeholder function at `typing_wpm`, five
  keystrokes a word; its check must then say "Correct".

Every pause is divided by `speed`, for a faster rehearsal; reading and typing are reported as
modelled at speed 1, execution as measured. Per `## ` section: reading, typing, run time.

    python -m bench.bench_learner --speed 4 --json /tmp/learner.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, sync_playwright

import helpers.exercises
from helpers.exercises.framework import Exercise
from tests.e2e import _lab
from tests.e2e._server import LabServer, running_lab
from tests.e2e.conftest import CHROMIUM_ARGS, NOTEBOOKS, VIEWPORT, NetworkGuard, _chromium

CORE = ("01_plain_response.ipynb", "02_raw_chunks.ipynb", "03_time_saved.ipynb", "04_usage.ipynb")
READING_WPM = 200.0
CODE_WPM = 100.0
TYPING_WPM = 30.0
KEYS_PER_WORD = 5  # typing speeds count five keystrokes as a word
PLACEHOLDER = "return ...  # replace ... with your code"
CHECK_CALL = re.compile(r"^check_(\w+)\(\1\)\s*$", re.M)
HEADING = re.compile(r"^## (.+)$", re.M)

# docs/instructor-guide.md, "A 90-minute plan": (notebook, part, minutes, numbered sections).
# Unnumbered sections join the notebook's first part (before §1) or its last (after).
PLAN: list[tuple[str, str, float, set[int]]] = [
    ("01", "sections 1\u20133", 15, {1, 2, 3}),
    ("01", "section 4 and the exercise", 5, {4, 5}),
    ("02", "sections 1\u20133", 10, {1, 2, 3}),
    ("02", "live view and the exercise", 10, {4, 5}),
    ("03", "sections 1\u20133", 10, {1, 2, 3}),
    ("03", "section 4 and the exercise (skip 5 and 6)", 10, {4, 7}),
    ("04", "sections 1\u20133", 10, {1, 2, 3}),
    ("04", "section 5 and the exercise", 10, {5, 6}),
]
# Also in the guide: sections to skip when short of time (04 §7 is optional by its heading).
SKIPPABLE = {"03": {5, 6}, "04": {4}}

# Stamps the page clock when Shift+Enter goes down, so a run is timed from the key press.
KEY_CLOCK_JS = """() => { if (window.__learner) return; window.__learner = {pressed: 0};
  window.addEventListener('keydown', e => {
    if (e.key === 'Enter' && e.shiftKey) window.__learner.pressed = performance.now();
  }, true); }"""
# The page clock once cell `i` ran to its end: a count in its prompt, the kernel idle, and
# neither a widget still loading nor an image still loading among its outputs.
DONE_JS = f"""i => {{
  const cell = window.__e2e.cells()[i];
  if (!cell.ran || !/^\\[\\d+\\]:$/.test(cell.prompt)) return false;
  if (!document.querySelector('{_lab.KERNEL_IDLE}')) return false;
  const el = document.querySelectorAll('{_lab.NOTEBOOK} .jp-Cell')[i];
  const shown = [...el.querySelectorAll('.jp-OutputArea-output')].filter(o => o.checkVisibility());
  if (shown.some(o => o.textContent.includes('Loading widget...'))) return false;
  const images = [...el.querySelectorAll('.jp-OutputArea-output img')];
  if (images.some(img => !(img.complete && img.naturalWidth > 0))) return false;
  return performance.now(); }}"""
# The text of the editor line that holds the cursor.
CURSOR_LINE_JS = """() => { const node = document.getSelection().focusNode;
  const line = (node.nodeType === 1 ? node : node.parentElement).closest('.cm-line');
  return line ? line.textContent : ''; }"""


@dataclass(frozen=True)
class Pace:
    """The learner's rates (words a minute) and how much faster than life the run goes."""

    speed: float = 1.0
    reading_wpm: float = READING_WPM
    code_wpm: float = CODE_WPM
    typing_wpm: float = TYPING_WPM

    def pause(self, page: Page, minutes: float) -> None:
        """Wait `minutes` of the learner's time, compressed by the speed factor."""
        page.wait_for_timeout(minutes * 60_000 / self.speed)

    @property
    def keystroke_ms(self) -> float:
        """Real milliseconds between two keystrokes at this speed."""
        return 60_000 / (self.typing_wpm * KEYS_PER_WORD) / self.speed


@dataclass
class Section:
    """One `## ` section: modelled reading and typing minutes (speed 1), measured run time."""

    title: str
    reading_min: float = 0.0
    typing_min: float = 0.0
    run_s: float = 0.0

    @property
    def number(self) -> int | None:
        match = re.match(r"(\d+)\.", self.title)
        return int(match.group(1)) if match else None

    @property
    def optional(self) -> bool:
        return "optional" in self.title.lower()

    @property
    def total_min(self) -> float:
        return self.reading_min + self.typing_min + self.run_s / 60


@dataclass
class CellRun:
    """One code cell's run as the page showed it."""

    index: int
    section: str
    first_line: str
    run_s: float
    errors: list[str] = field(default_factory=list)


@dataclass
class NotebookResult:
    """What working through one notebook took and showed."""

    name: str
    open_s: float = 0.0
    wall_s: float = 0.0
    typing_wall_s: float = 0.0
    sections: list[Section] = field(default_factory=list)
    cells: list[CellRun] = field(default_factory=list)
    exercises: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def words(text: str) -> int:
    return len(text.split())


def _cell(page: Page, index: int) -> Locator:
    return page.locator(f"{_lab.NOTEBOOK} .jp-Cell").nth(index)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


class Typist:
    """Types into the focused editor key by key, counting keystrokes, as a person would:
    the editor indents after Enter, and the typist corrects the indentation it is given."""

    def __init__(self, page: Page, pace: Pace) -> None:
        self.page, self.pace, self.keystrokes = page, pace, 0

    def press(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self.page.keyboard.press(key)
            self.page.wait_for_timeout(self.pace.keystroke_ms)
            self.keystrokes += 1

    def type(self, text: str) -> None:
        self.page.keyboard.type(text, delay=self.pace.keystroke_ms)
        self.keystrokes += len(text)

    def _reindent(self, want: int) -> None:
        """Bring the cursor line's indentation to `want` spaces (cursor at its end)."""
        for _ in range(8):
            have = _indent(self.page.evaluate(CURSOR_LINE_JS))
            if have == want:
                return
            if have > want:
                self.press("Backspace")  # the editor deletes back to the last indent stop
            else:
                self.type(" " * (want - have))

    def lines(self, text: str) -> None:
        """Type `text` line by line, fixing each line's indentation."""
        for number, line in enumerate(text.split("\n")):
            if number:
                self.press("Enter")
            self._reindent(_indent(line))
            self.type(line.lstrip(" "))
            if _indent(self.page.evaluate(CURSOR_LINE_JS)) != _indent(line):
                # The editor re-indented the line on input (a closing bracket): fix it.
                self.press("Home")  # to the end of the indentation
                self._reindent(_indent(line))
                self.press("End")


def exercise_for(source: str) -> Exercise:
    """The check an exercise cell calls, e.g. `check_is_cut_off(is_cut_off)`."""
    match = CHECK_CALL.search(source)
    assert match, f"an exercise cell without its check call: {source!r}"
    exercise: Exercise = getattr(helpers.exercises, f"check_{match.group(1)}")
    return exercise


def type_solution(page: Page, index: int, source: str, pace: Pace) -> tuple[int, str | None]:
    """Select the placeholder function (its lines up to the first blank one) and type the
    reference solution over it; return the keystrokes and what went wrong, if anything."""
    exercise = exercise_for(source)
    placeholder_lines = source.split("\n\n")[0].count("\n") + 1
    _cell(page, index).locator(".cm-content").click()
    typist = Typist(page, pace)
    typist.press("Control+Home")
    typist.press("Shift+ArrowDown", placeholder_lines)
    typist.lines(exercise.solution_code)  # ends with a newline: the blank lines stay
    expected = exercise.solution_code + source.split("\n", placeholder_lines)[-1]
    shown = "\n".join(_cell(page, index).locator(".cm-line").all_text_contents())
    problem = None if shown == expected else f"typed cell differs: {shown!r}"
    return typist.keystrokes, problem


def run_cell(page: Page, index: int) -> tuple[float, list[str]]:
    """Select cell `index`, press Shift+Enter, wait until it has run and its outputs show;
    return the seconds from the key press (page clock) and each error output's last line."""
    cell = _cell(page, index)
    cell.locator(".jp-InputPrompt").click()
    page.evaluate("() => window.__e2e.mark()")
    page.keyboard.press("Shift+Enter")
    done = page.wait_for_function(DONE_JS, arg=index, timeout=_lab.RUN_DEADLINE_MS, polling="raf")
    pressed: float = page.evaluate("() => window.__learner.pressed")
    errors = cell.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    first_lines = [
        (text.strip().splitlines() or [""])[-1][:160] for text in errors.all_inner_texts()
    ]
    return (done.json_value() - pressed) / 1000, first_lines


def work_through(page: Page, lab: LabServer, name: str, pace: Pace) -> NotebookResult:
    """Open `name` and work through it top to bottom; close it and end its kernel after."""
    result = NotebookResult(name)
    cells = json.loads((lab.root / name).read_text(encoding="utf-8"))["cells"]
    started = time.perf_counter()
    _lab.open_notebook(page, lab, name)
    result.open_s = time.perf_counter() - started
    page.evaluate(KEY_CLOCK_JS)
    section = Section("(title cell)")
    result.sections.append(section)
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        heading = HEADING.match(source)
        if heading:
            section = Section(heading.group(1).strip())
            result.sections.append(section)
        if cell["cell_type"] != "code":
            _cell(page, index).scroll_into_view_if_needed()
            section.reading_min += words(source) / pace.reading_wpm
            pace.pause(page, words(source) / pace.reading_wpm)
            continue
        section.reading_min += words(source) / pace.code_wpm
        pace.pause(page, words(source) / pace.code_wpm)
        if PLACEHOLDER in source:
            typing_started = time.perf_counter()
            keystrokes, problem = type_solution(page, index, source, pace)
            result.typing_wall_s += time.perf_counter() - typing_started
            section.typing_min += keystrokes / (pace.typing_wpm * KEYS_PER_WORD)
            result.notes += [f"cell {index}: {problem}"] if problem else []
        seconds, errors = run_cell(page, index)
        section.run_s += seconds
        result.cells.append(CellRun(index, section.title, source.split("\n")[0], seconds, errors))
        if PLACEHOLDER in source:
            shown = _cell(page, index).locator(".jp-OutputArea-output").all_inner_texts()
            correct = any(text.strip().startswith("Correct:") for text in shown)
            result.exercises[exercise_for(source).name] = correct
    result.wall_s = time.perf_counter() - started
    result.notes += [f"on the page at the end: {p}" for p in _lab.page_problems(page)]
    result.sections = [s for s in result.sections if s.reading_min or s.run_s]
    _lab.close_all(page)
    lab.shutdown_kernels()
    return result


@contextmanager
def lab_page() -> Iterator[tuple[Page, LabServer, NetworkGuard]]:
    """JupyterLab on a temporary copy of notebooks/ and one signed-in Chromium page, as the
    end-to-end tests set them up (tests/e2e/conftest.py); all gone on exit."""
    with tempfile.TemporaryDirectory(prefix="bench-learner-") as folder:
        root = Path(folder) / "notebooks"
        shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        guard = NetworkGuard()
        with running_lab(root, Path(folder) / "state") as lab, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=VIEWPORT)
            context.route("**/*", guard.on_route)
            context.on("request", guard.on_request)
            page = context.new_page()
            page.on("websocket", guard.on_websocket)
            page.set_default_timeout(30_000)
            try:
                _lab.sign_in(page, lab)
                yield page, lab, guard
            finally:
                browser.close()


def measure(names: Sequence[str] = CORE, pace: Pace | None = None) -> list[NotebookResult]:
    """Work through each notebook in turn in one JupyterLab and one browser."""
    pace = pace or Pace()
    with lab_page() as (page, lab, guard):
        results = [work_through(page, lab, name, pace) for name in names]
        if guard.outside:
            results[-1].notes.append(f"requests beyond 127.0.0.1: {guard.outside}")
    return results


def plan_parts(result: NotebookResult) -> list[tuple[str, Section]]:
    """Each section of `result` with its part of the plan, "skippable" or "optional"."""
    notebook = result.name[:2]
    parts = [(part, numbers) for nb, part, _, numbers in PLAN if nb == notebook]
    seen_numbered = False
    placed = []
    for section in result.sections:
        number = section.number
        seen_numbered = seen_numbered or number is not None
        if section.optional:
            part = "optional"
        elif number in SKIPPABLE.get(notebook, set()):
            part = "skippable"
        elif number is None:  # before the first numbered section, or after the last
            part = parts[-1 if seen_numbered else 0][0]
        else:
            part = next((part for part, numbers in parts if number in numbers), "unplanned")
        placed.append((part, section))
    return placed


def _verdict(correct: bool) -> str:
    return "Correct" if correct else "NOT correct"


def report(results: Sequence[NotebookResult], pace: Pace) -> list[str]:
    """Markdown: a table per notebook, then the plan's parts against the scripted times."""
    lines = [
        f"Speed factor {pace.speed:g} (pauses divided by it; reading and typing below are "
        f"scaled back to speed 1). Reading {pace.reading_wpm:g} words/min, code "
        f"{pace.code_wpm:g} words/min, typing {pace.typing_wpm:g} words/min "
        f"({KEYS_PER_WORD} keystrokes a word).",
    ]
    by_part: dict[tuple[str, str], float] = {}
    for result in results:
        lines += [
            "",
            f"### {result.name}",
            "",
            "| section | reading min | typing min | measured run s | total min |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for part, s in plan_parts(result):
            key = (result.name[:2], part)
            by_part[key] = by_part.get(key, 0.0) + s.total_min
            lines.append(
                f"| {s.title} | {s.reading_min:.1f} | {s.typing_min:.1f} | {s.run_s:.1f} | "
                f"{s.total_min:.1f} |"
            )
        core = [s for s in result.sections if not s.optional]
        optional = [s for s in result.sections if s.optional]
        lines.append(
            f"| **core total** | {sum(s.reading_min for s in core):.1f} | "
            f"{sum(s.typing_min for s in core):.1f} | {sum(s.run_s for s in core):.1f} | "
            f"**{sum(s.total_min for s in core):.1f}** |"
        )
        if optional:
            lines.append(f"| optional total | | | | {sum(s.total_min for s in optional):.1f} |")
        slowest = max(result.cells, key=lambda c: c.run_s)
        paused_s = sum(s.reading_min + s.typing_min for s in result.sections) * 60 / pace.speed
        run_s = sum(s.run_s for s in result.sections)
        lines += [
            "",
            f"Opening the notebook (kernel start) took {result.open_s:.1f} s; the slowest cell "
            f"was cell {slowest.index} (`{slowest.first_line}`, {slowest.section}), "
            f"{slowest.run_s:.1f} s. Real wall time at speed {pace.speed:g}: "
            f"{result.wall_s:.0f} s = opening {result.open_s:.0f} s + modelled pauses "
            f"{paused_s:.0f} s + measured runs {run_s:.0f} s + driving the page "
            f"{result.wall_s - result.open_s - paused_s - run_s:.0f} s (typing took "
            f"{result.typing_wall_s:.0f} s of wall time).",
            "Exercises: " + ", ".join(f"{n}: {_verdict(ok)}" for n, ok in result.exercises.items()),
        ]
        lines += [f"- cell {c.index} ({c.section}): {e}" for c in result.cells for e in c.errors]
        lines += [f"- {note}" for note in result.notes]
    lines += [
        "",
        "### Against the 90-minute plan",
        "",
        "| notebook | part | planned min | scripted min | |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for notebook, part, planned, _ in PLAN:
        if (notebook, part) in by_part:
            took = by_part[(notebook, part)]
            verdict = "fits" if took <= planned else f"overruns by {took - planned:.1f} min"
            lines.append(f"| {notebook} | {part} | {planned:g} | {took:.1f} | {verdict} |")
    for (notebook, part), took in by_part.items():
        if part in ("skippable", "optional"):
            lines.append(f"| {notebook} | {part} sections | - | {took:.1f} | |")
    return lines


def run(speed: float = 4.0) -> list[str]:
    """Work through notebooks 01-04 at `speed` and return the report lines."""
    pace = Pace(speed=speed)
    return report(measure(CORE, pace), pace)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", default=list(CORE), help="names in notebooks/")
    parser.add_argument("--speed", type=float, default=1.0, help="divides every pause")
    parser.add_argument("--reading-wpm", type=float, default=READING_WPM)
    parser.add_argument("--code-wpm", type=float, default=CODE_WPM)
    parser.add_argument("--typing-wpm", type=float, default=TYPING_WPM)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    pace = Pace(args.speed, args.reading_wpm, args.code_wpm, args.typing_wpm)
    started = datetime.now(UTC)
    results = measure(args.notebooks, pace)
    print("\n".join(report(results, pace)))
    if args.json:
        raw: dict[str, Any] = {
            "started": started.isoformat(timespec="seconds"),
            "pace": asdict(pace),
            "notebooks": [asdict(result) for result in results],
        }
        args.json.write_text(json.dumps(raw, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
