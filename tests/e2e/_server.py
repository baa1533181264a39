"""A throwaway JupyterLab server: its own folders, settings and token, on a free loopback port."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READY_DEADLINE = 90.0
STOP_DEADLINE = 20.0

# User settings written before start; keys are "<extension>/<plugin>" as in the schemas folder.
SETTINGS: dict[str, dict[str, Any]] = {
    # The news feed and the update check would make the page talk to the internet.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # Every cell stays in the DOM, so the page shows what the notebook holds, not a window of it.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}


class LabStartError(Exception):
    """JupyterLab exited or did not answer before the deadline."""

    def __init__(self, reason: str, log_tail: str) -> None:
        super().__init__(f"JupyterLab did not start: {reason}\n--- server log ---\n{log_tail}")


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: where it listens and which folder it serves."""

    url: str
    root: Path
    log: Path
    token: str = field(repr=False)

    def api(self, method: str, path: str, timeout: float = 10.0) -> Any:
        """Call the server's REST API (e.g. `GET api/sessions`) and decode its JSON answer."""
        request = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every session and its kernel, so the next test starts from a quiet machine."""
        for session in self.api("GET", "api/sessions"):
            self.api("DELETE", f"api/sessions/{session['id']}")


def _environment(base: Path, token: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # The lab must run the offline backend whatever the developer's shell holds.
        if not key.startswith(("OPENAI_", "JUPYTER", "TUTORIAL_"))
    }
    folders = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "settings",
        "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
        "IPYTHONDIR": "ipython",
        "MPLCONFIGDIR": "matplotlib",
    }
    for name, folder in folders.items():
        (base / folder).mkdir(parents=True, exist_ok=True)
        env[name] = str(base / folder)
    env.update(
        JUPYTER_TOKEN=token,
        JUPYTER_PLATFORM_DIRS="1",
        TUTORIAL_BACKEND="embedded",
        TUTORIAL_PROFILE="realistic",
    )
    return env


def _write_settings(settings_dir: Path) -> None:
    for plugin, values in SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


def _log_tail(log: Path, token: str, lines: int = 30) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    # The server prints its URL with the token; keep the token out of test reports.
    return "\n".join(text.replace(token, "<token>").splitlines()[-lines:])


def _wait_ready(process: subprocess.Popen[bytes], runtime: Path, token: str, log: Path) -> str:
    deadline = time.perf_counter() + READY_DEADLINE
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise LabStartError(f"exit code {process.returncode}", _log_tail(log, token))
        info_file = runtime / f"jpserver-{process.pid}.json"
        if info_file.exists():
            try:
                port = json.loads(info_file.read_text(encoding="utf-8"))["port"]
            except (ValueError, KeyError):
                port = None  # written but not yet complete
            if port:
                url = f"http://127.0.0.1:{port}/"
                request = urllib.request.Request(
                    url + "api/status", headers={"Authorization": f"token {token}"}
                )
                try:
                    with urllib.request.urlopen(request, timeout=2.0) as response:
                        if response.status == 200:
                            return url
                except OSError:
                    pass
        time.sleep(0.2)
    raise LabStartError(f"no answer within {READY_DEADLINE:.0f} s", _log_tail(log, token))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # SIGTERM lets the server shut its kernels down; SIGKILL only if it hangs.
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_DEADLINE)


@contextmanager
def running_lab(root: Path, base: Path) -> Iterator[LabServer]:
    """Serve `root` with JupyterLab, keeping all its state under `base`; stop it on exit."""
    token = secrets.token_hex(24)
    env = _environment(base, token)
    _write_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0",  # the OS picks a free port; the server info file tells which
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = base / "jupyterlab.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, env=env, cwd=root, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            url = _wait_ready(process, Path(env["JUPYTER_RUNTIME_DIR"]), token, log)
            yield LabServer(url=url, root=root, log=log, token=token)
        finally:
            _stop(process)
