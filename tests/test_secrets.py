"""No key in anything the repository carries or the helpers show.

Every notebook (outputs included), doc, log and data file in the repository is scanned for what
API keys and bearer tokens look like; source files are left out, as tests plant fake keys on
purpose. Then the helpers' printed lines and reprs are checked with a key set.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from helpers import backend as backend_module
from helpers.backend import Backend, select_backend
from helpers.live import LiveView
from helpers.recorder import Recorder
from helpers.server.app import ServerConfig
from helpers.server.embedded import EmbeddedServer
from helpers.tools.bench import BenchConfig
from tests.support import REPO

SOURCE = {".py", ".js", ".ts"}
BINARY = {".png", ".jpg", ".jpeg", ".gif", ".ico", ".woff", ".woff2", ".pdf", ".zip", ".gz"}
# OpenAI keys (sk-..., sk-proj-..., sk-svcacct-..., sk-admin-...) and bearer tokens long enough to
# be real; "sk-..." and "Bearer YOUR_KEY" in the docs are placeholders, not keys.
KEY_PATTERNS = (
    re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
)
FAKE_KEY = "sk-proj-" + "Zq8" * 16


def key_like(text: str) -> list[str]:
    return [match.group(0) for pattern in KEY_PATTERNS for match in pattern.finditer(text)]


def repository_files() -> list[Path]:
    """Files git tracks, and new ones it would track (not ignored), so nothing waits for a
    commit to be checked."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, check=True, timeout=30,
    ).stdout.decode()
    return [REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()]


def test_the_scan_sees_notebooks_docs_and_data() -> None:
    suffixes = {path.suffix for path in repository_files()}
    assert {".ipynb", ".md", ".yaml"} <= suffixes


def test_the_patterns_catch_keys_and_spare_placeholders() -> None:
    assert key_like(f"OPENAI_API_KEY={FAKE_KEY}") == [FAKE_KEY]
    assert key_like("sk-" + "a1B2" * 12) != []
    assert key_like("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc") != []
    assert key_like("export OPENAI_API_KEY=sk-...  # Authorization: Bearer YOUR_KEY") == []


def test_no_notebook_doc_output_or_log_holds_a_key() -> None:
    found = {}
    for path in repository_files():
        if path.suffix in SOURCE | BINARY:
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        if hits := key_like(text):
            found[str(path.relative_to(REPO))] = hits[:3]
    assert found == {}


def test_get_client_never_prints_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("TUTORIAL_BACKEND", "openai")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setattr(backend_module, "_current", None)
    client = backend_module.get_client()
    shown = capsys.readouterr().out
    client.close()
    assert "OpenAI API" in shown
    assert FAKE_KEY not in shown
    backend = backend_module.current_backend()
    for text in (repr(client), repr(backend), backend.describe()):
        assert FAKE_KEY not in text
        assert key_like(text) == []


def test_every_repr_that_could_hold_a_key_hides_it() -> None:
    backend = select_backend(
        {"OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "OPENAI_API_KEY": FAKE_KEY}
    )
    server = EmbeddedServer(token=FAKE_KEY)
    view = LiveView(backend_label=repr(backend))
    reprs = {
        "Backend": repr(backend),
        "Backend.describe": backend.describe(),
        "ServerConfig": repr(ServerConfig(token=FAKE_KEY)),
        "EmbeddedServer": repr(server),
        "BenchConfig": repr(BenchConfig("http://127.0.0.1:1/v1", "m", 1, 1)),
        "LiveView": repr(view),
        "LiveView.value": view.value,
        "Recorder": repr(Recorder()),
    }
    leaks = {name: text for name, text in reprs.items() if FAKE_KEY in text or key_like(text)}
    assert leaks == {}
    assert isinstance(backend, Backend) and backend.api_key == FAKE_KEY
