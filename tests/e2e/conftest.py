"""One JupyterLab, one Chromium and one Lab page for the session; each test starts with no
notebook open and ends with every tab closed and every kernel shut down."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    Page,
    Request,
    Route,
    ViewportSize,
    WebSocket,
    sync_playwright,
)

from . import _lab
from ._server import LabServer, running_lab

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "tests" / "artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Any host but loopback resolves to nothing, so a stray fetch fails instead of leaving.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
FAILED = pytest.StashKey[bool]()


def is_loopback(url: str) -> bool:
    """Whether the page may fetch `url`: loopback, or data the page already holds."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname == "127.0.0.1"


class NetworkGuard:
    """Blocks and remembers every request the page makes outside 127.0.0.1."""

    def __init__(self) -> None:
        self.outside: list[str] = []

    def on_request(self, request: Request) -> None:
        if not is_loopback(request.url):
            self.outside.append(request.url)

    def on_websocket(self, websocket: WebSocket) -> None:
        if not is_loopback(websocket.url):
            self.outside.append(websocket.url)

    def on_route(self, route: Route) -> None:
        if is_loopback(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")


def _chromium() -> str | None:
    executable = shutil.which("chromium")
    if executable is None and os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed; in CI the browser tests must run (apt install it)")
    # None lets Playwright use its own managed browser on a developer's machine.
    return executable


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    # The page fixture reads this to keep a screenshot of a failed test.
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab on a temporary copy of notebooks/: autosave never touches the repository."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    with running_lab(root, base / "state") as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def guard() -> NetworkGuard:
    return NetworkGuard()


@pytest.fixture(scope="session")
def lab_page(lab: LabServer, browser: Browser, guard: NetworkGuard) -> Iterator[Page]:
    """One JupyterLab page for the session: loading Lab costs seconds of CPU each time."""
    context = browser.new_context(viewport=VIEWPORT)
    context.route("**/*", guard.on_route)
    context.on("request", guard.on_request)
    page = context.new_page()
    page.on("websocket", guard.on_websocket)
    page.set_default_timeout(30_000)
    _lab.sign_in(page, lab)
    yield page
    context.close()


@pytest.fixture
def page(
    request: pytest.FixtureRequest, lab: LabServer, lab_page: Page, guard: NetworkGuard
) -> Iterator[Page]:
    """The session's JupyterLab page with no notebook open; fails a test that reached beyond
    loopback."""
    guard.outside.clear()
    yield lab_page
    if request.node.stash.get(FAILED, False):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        lab_page.screenshot(path=ARTIFACTS / f"failed-{request.node.name}.png")
    _lab.close_all(lab_page)
    lab.shutdown_kernels()
    assert not guard.outside, f"the page requested hosts outside 127.0.0.1: {guard.outside}"
