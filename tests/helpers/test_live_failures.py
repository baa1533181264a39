"""Every injected fault seen through the live view as a learner sees it: one sentence beside
the text that arrived."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from helpers.live import LiveView
from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL, generate_reply

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("outside_ipython")]

SHORT = [{"role": "user", "content": "Count to 20."}]
SHORT_TOKENS = generate_reply(SHORT).tokens
# A client that gives up long before a deadline, so a stuck stream fails instead of hanging.
CLIENT_TIMEOUT = openai.Timeout(10.0, connect=2.0)


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    """A server at a realistic pace, so that no stream ends before its fault strikes."""
    with EmbeddedServer(profile="realistic") as running:
        yield running


def follow(
    server: EmbeddedServer, simulation: dict[str, Any], timeout: float = 10.0
) -> LiveView:
    """Stream the short count through a LiveView that shows errors, as a notebook cell does."""
    view = LiveView(errors="show", backend_label="test")
    with openai.OpenAI(
        base_url=server.base_url, api_key="k", max_retries=0,
        timeout=openai.Timeout(timeout, connect=2.0),
    ) as client, view:
        stream = client.chat.completions.create(
            model=SIMULATED_MODEL, messages=SHORT, stream=True,  # type: ignore[arg-type]
            extra_body={"simulation": {"profile": "fast", **simulation}},
        )
        with stream:
            for _ in view.follow(stream):
                pass
    return view


def message(view: LiveView) -> str:
    """The sentence the view shows under the text (in its message line)."""
    assert view.recorder.finished
    found = re.search(r"<div class='streaming-lab-live-message'[^>]*>(.*?)</div>", view.value)
    assert found is not None, "the view shows no message"
    return html.unescape(found.group(1))


@pytest.mark.parametrize(
    ("fault", "sentence"),
    [
        ("rate_limit", "Too many requests (429 rate limit): wait 1 s"),
        ("server_error", "The server failed (HTTP 500)"),
    ],
)
def test_refused_requests_are_one_sentence(
    server: EmbeddedServer, fault: str, sentence: str, capsys: pytest.CaptureFixture[str]
) -> None:
    view = follow(server, {"fault": fault})
    assert message(view).startswith(sentence)
    assert view.recorder.text == ""
    assert sentence in capsys.readouterr().out


@pytest.mark.parametrize(
    ("simulation", "sentence"),
    [
        (
            {"fault": "error_event", "after_chunks": 8},
            "The server sent an error in the middle of the stream after 8 chunks",
        ),
        ({"fault": "disconnect", "after_chunks": 8}, "The connection broke after 8 chunks"),
    ],
)
def test_a_stream_failing_midway_keeps_its_partial_text(
    server: EmbeddedServer, simulation: dict[str, Any], sentence: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    view = follow(server, simulation)
    # Chunk 0 is the role; the seven after it carried the first seven tokens.
    partial = "".join(SHORT_TOKENS[:7])
    assert message(view).startswith(sentence)
    assert view.recorder.text == partial
    assert view.recorder.chunk_count == 8
    shown = capsys.readouterr().out
    assert shown.startswith(partial + "\n\n") and sentence in shown


def test_a_stall_becomes_a_timeout_with_the_partial_text(
    server: EmbeddedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    view = follow(server, {"fault": "stall", "after_chunks": 6, "seconds": 30}, timeout=0.5)
    assert time.perf_counter() - started < 5
    assert message(view).startswith("The request timed out after 6 chunks")
    assert view.recorder.text == "".join(SHORT_TOKENS[:5])
    assert "timed out" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("fault", "sentence"),
    [
        ("no_done", "The stream ended without its closing [DONE] event"),
        ("no_finish", "No finish_reason arrived for choice 0"),
    ],
)
def test_silent_endings_are_named_beside_the_whole_text(
    server: EmbeddedServer, fault: str, sentence: str, capsys: pytest.CaptureFixture[str]
) -> None:
    view = follow(server, {"fault": fault})
    assert view.recorder.error is None
    assert view.recorder.text == "".join(SHORT_TOKENS)
    assert sentence in message(view)
    assert sentence in capsys.readouterr().out
