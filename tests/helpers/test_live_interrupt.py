"""Interrupting a stream keeps its partial text and releases the connection, in-process and in a
real kernel interrupted the way JupyterLab's stop button does it."""

from __future__ import annotations

import _thread
import signal
import textwrap
import threading
import time
from typing import Any

import nbformat
import openai
import pytest
from nbclient import NotebookClient

from helpers.live import REPR, LiveView
from helpers.recorder import Recorder
from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL
from tests.support.streams import loopback_client, open_stream

pytestmark = pytest.mark.timeout(120)

COUNT = ", ".join(str(n) for n in range(1, 301))
ASK = {"model": SIMULATED_MODEL, "messages": [{"role": "user", "content": "Count to 300."}]}
# Twelve chunks come at once, then the server waits a minute: long past any test's deadline.
STALL = {"profile": "fast", "fault": "stall", "after_chunks": 12, "seconds": 60}


def _client(server: EmbeddedServer) -> openai.OpenAI:
    return loopback_client(server.base_url)


def _closed_count_reaches(server: EmbeddedServer, target: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.stats().client_closed >= target:
            return True
        time.sleep(0.01)
    return False


def _interrupt_after(seconds: float, how: Any = _thread.interrupt_main) -> threading.Timer:
    timer = threading.Timer(seconds, how)
    timer.start()
    return timer


def _main_thread_sigint() -> None:
    # A real SIGINT aimed at the main thread, as Ctrl-C in a terminal: it also breaks a blocking
    # socket read, which interrupt_main() alone does not.
    main = threading.main_thread().ident
    assert main is not None
    signal.pthread_kill(main, signal.SIGINT)


def test_interrupt_while_the_server_stalls(embedded_server: EmbeddedServer) -> None:
    """The stop button's SIGINT breaks the blocked read itself: no waiting for the client's
    read timeout (10 s here) or for the stall to end."""
    closed = embedded_server.stats().client_closed
    view = LiveView(backend_label="test")
    timer = _interrupt_after(0.8, _main_thread_sigint)
    started = time.perf_counter()
    try:
        with open_stream(_client(embedded_server), extra_body={"simulation": STALL}, **ASK) as s:
            received = list(view.follow(s))
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 5
    assert len(received) == 12
    assert view.recorder.stopped
    assert view.recorder.text and COUNT.startswith(view.recorder.text)
    assert "stopped" in view.value
    assert _closed_count_reaches(embedded_server, closed + 1)


def test_interrupt_while_text_flows(embedded_server: EmbeddedServer) -> None:
    closed = embedded_server.stats().client_closed
    view = LiveView(backend_label="test")
    timer = _interrupt_after(1.5)
    try:
        realistic = {"simulation": {"profile": "realistic"}}
        with open_stream(_client(embedded_server), extra_body=realistic, **ASK) as s:
            for _ in view.follow(s):
                pass
    finally:
        timer.cancel()
    assert view.recorder.stopped
    assert 0 < len(view.recorder.text) < len(COUNT)
    assert COUNT.startswith(view.recorder.text)
    assert _closed_count_reaches(embedded_server, closed + 1)
    assert embedded_server.stats().active == 0


def test_recorder_interrupt_in_a_blocking_read(embedded_server: EmbeddedServer) -> None:
    closed = embedded_server.stats().client_closed
    rec = Recorder()
    timer = _interrupt_after(0.8, _main_thread_sigint)
    try:
        with pytest.raises(KeyboardInterrupt):
            stream = open_stream(_client(embedded_server), extra_body={"simulation": STALL}, **ASK)
            for _ in rec.record(stream):
                pass
    finally:
        timer.cancel()
    assert rec.stopped
    assert rec.chunk_count == 12
    assert _closed_count_reaches(embedded_server, closed + 1)


def _cells(base_url: str) -> list[str]:
    setup = f"""
        import openai
        from helpers.live import LiveView
        client = openai.OpenAI(base_url={base_url!r}, api_key="k", max_retries=0, timeout=120)
        view = LiveView(backend_label="kernel test")
    """
    follow = f"""
        with client.chat.completions.create(
            stream=True, extra_body={{"simulation": {STALL!r}}}, **{ASK!r}
        ) as stream:
            for chunk in view.follow(stream):
                pass
        print("after the loop")
    """
    report = """
        print(view.recorder.stopped, view.recorder.chunk_count, repr(view.recorder.text))
    """
    return [textwrap.dedent(cell).strip() for cell in (setup, follow, report)]


@pytest.mark.slow
def test_kernel_interrupt_stops_the_view(embedded_server: EmbeddedServer) -> None:
    closed = embedded_server.stats().client_closed
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell) for cell in _cells(embedded_server.base_url)]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        interrupt_on_timeout=True,
        # Only the streaming cell runs out of time; its timeout is the "stop" click.
        timeout_func=lambda cell: 6 if "follow" in cell.source else 90,
    )
    client.execute()
    outputs = nb.cells[1].outputs
    assert [output.output_type for output in outputs] == [
        "display_data",
        "display_data",
        "stream",
    ]
    widget, final, printed = outputs
    assert widget.data["text/plain"] == REPR
    assert "application/vnd.jupyter.widget-view+json" in widget.data
    text, _, note = final.data["text/plain"].partition("\n\n")
    assert text and COUNT.startswith(text)
    assert note.startswith("Stopped")
    assert printed.text == "after the loop\n"
    assert nb.cells[2].outputs[0].text == f"True 12 {text!r}\n"
    assert _closed_count_reaches(embedded_server, closed + 1)
