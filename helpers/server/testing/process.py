"""The simulated API server in a process of its own, exactly as `python -m helpers serve` runs it.

Tests and benchmarks use it where the server must not share the interpreter lock or the memory
of the client, or where the command itself is what is checked.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["ServerProcess", "run_server_process"]

# "Simulated OpenAI API at http://127.0.0.1:PORT/v1 (model …)", the first line it prints.
_ANNOUNCEMENT = re.compile(r"Simulated OpenAI API at http://(?P<host>\S+):(?P<port>\d+)/v1 ")
# Where a server listening on every interface is reached from this machine.
_LOOPBACK_FOR = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


@dataclass
class ServerProcess:
    """A running `python -m helpers serve`: its process, the first line it printed, and where a
    client on this machine reaches it."""

    process: subprocess.Popen[str]
    announcement: str
    host: str
    port: int
    output: tuple[str, str] | None = field(default=None, init=False)

    @property
    def base_url(self) -> str:
        """The API's base URL, as `OPENAI_BASE_URL` takes it."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def returncode(self) -> int | None:
        """The exit status, once it has stopped."""
        return self.process.poll()

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 15) -> tuple[str, str]:
        """Send `sig` (Ctrl-C by default) and wait for the exit; kill it when it has not stopped
        within `timeout` seconds. Returns what it printed after the announcement (stdout,
        stderr). Calling it again returns the same."""
        if self.output is None:
            if self.process.poll() is None:
                self.process.send_signal(sig)
            try:
                self.output = self.process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.output = self.process.communicate(timeout=5)
        return self.output


@contextmanager
def run_server_process(
    *args: str, start_timeout: float = 30
) -> Iterator[ServerProcess]:
    """Run `python -m helpers serve ARGS` on a port the system picks (unless ARGS name one) and
    yield it once it has announced its address; stop it on leaving. It inherits this process's
    environment but for `TUTORIAL_SERVER_TOKEN`: pass `--token` for a token.

    Its output is read only when it stops: with many requests, pass `--no-access-log`.
    """
    command = [sys.executable, "-m", "helpers", "serve", "--port", "0", *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TUTORIAL_SERVER_TOKEN": ""},
    )
    server: ServerProcess | None = None
    try:
        announcement = _read_announcement(process, start_timeout)
        found = _ANNOUNCEMENT.search(announcement)
        if found is None:
            process.kill()
            _, err = process.communicate(timeout=5)
            raise RuntimeError(
                f"the server did not start within {start_timeout:g} s: "
                f"{(announcement or err).strip()[-500:]}"
            )
        host = _LOOPBACK_FOR.get(found["host"], found["host"])
        server = ServerProcess(process, announcement, host, int(found["port"]))
        yield server
    finally:
        if server is not None:
            server.stop()
        elif process.poll() is None:
            process.kill()
            process.communicate(timeout=5)


def _read_announcement(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line the server prints, or "" when it printed none in time."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline() if ready else ""
