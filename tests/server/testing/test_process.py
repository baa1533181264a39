"""The server in a process of its own, as `python -m helpers serve` runs it."""

from __future__ import annotations

import re

import httpx
import pytest

from helpers.server.testing.process import run_server_process

pytestmark = pytest.mark.timeout(60)


def test_a_server_process_reports_where_it_listens_and_answers_there() -> None:
    with run_server_process("--profile", "instant", "--no-access-log") as server:
        assert server.announcement.startswith("Simulated OpenAI API at http://127.0.0.1:")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", server.base_url)
        assert server.base_url in server.announcement
        assert server.returncode is None
        assert httpx.get(server.base_url + "/models", timeout=10).status_code == 200


def test_a_server_process_that_cannot_start_says_why() -> None:
    """The tests' and benchmarks' launcher reports the command's own error, not a hang."""
    refused = re.escape("refusing to listen on '0.0.0.0' without a token")
    with pytest.raises(RuntimeError, match=refused), run_server_process("--host", "0.0.0.0"):
        pass


def test_a_server_process_is_stopped_like_ctrl_c_on_leaving() -> None:
    with run_server_process("--profile", "instant", "--no-access-log") as server:
        assert httpx.get(server.base_url + "/models", timeout=10).status_code == 200
    assert server.returncode == 0
    assert server.stop()[0].strip() == "Stopped."
