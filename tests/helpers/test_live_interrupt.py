"""Interrupting a stream keeps its partial text and releases the connection, in-process and in a
real kernel interrupted the way JupyterLab's stop button does it; the interrupt then goes on, in
one line, so that the cells queued after it do not run."""

from __future__ import annotations

import _thread
import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import openai
import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from helpers.live import REPR, LiveView, StreamInterrupted
from helpers.recorder import Recorder
from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL
from tests.support.streams import loopback_client, open_stream

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
# All a learner sees of the interrupt: IPython renders it from `_render_traceback_`, and
# ipykernel sends those lines as the error's traceback, which JupyterLab shows.
ONE_LINE = "Interrupted: the stream stopped, this cell ended, and queued cells were skipped."

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
    received = []
    try:
        with (
            pytest.raises(StreamInterrupted),
            open_stream(_client(embedded_server), extra_body={"simulation": STALL}, **ASK) as s,
        ):
            received.extend(view.follow(s))
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
        with (
            pytest.raises(KeyboardInterrupt),
            open_stream(_client(embedded_server), extra_body=realistic, **ASK) as s,
        ):
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
        # The interrupt is an error, as it is in JupyterLab; the report cell runs after it.
        allow_errors=True,
        # Only the streaming cell runs out of time; its timeout is the "stop" click.
        timeout_func=lambda cell: 6 if "follow" in cell.source else 90,
    )
    client.execute()
    outputs = nb.cells[1].outputs
    assert [output.output_type for output in outputs] == [
        "display_data",
        "display_data",
        "error",
    ]
    widget, final, error = outputs
    assert widget.data["text/plain"] == REPR
    assert "application/vnd.jupyter.widget-view+json" in widget.data
    text, _, note = final.data["text/plain"].partition("\n\n")
    assert text and COUNT.startswith(text)
    assert note.startswith("Stopped")
    assert error.traceback == [ONE_LINE]
    assert (error.ename, error.evalue) == ("StreamInterrupted", ONE_LINE)
    assert nb.cells[2].outputs[0].text == f"True 12 {text!r}\n"
    assert _closed_count_reaches(embedded_server, closed + 1)


# -- the interrupt goes on, in one line ------------------------------------------------------

_SHOWN = """
import json
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
shown = []
# The hook ipykernel overrides to send the lines as the error message's traceback.
shell._showtraceback = lambda etype, value, lines: shown.append([etype.__name__, lines])
for cell in json.loads(CELLS):
    shell.run_cell(cell)
print("SHOWN", json.dumps(shown))
"""
_SYNC_CELL = """
import openai
from helpers.live import LiveView

def chunk(text):
    return openai.types.chat.ChatCompletionChunk.model_validate({
        "id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    })

following = LiveView(backend_label="t").follow([chunk("1, "), chunk("2")])
next(following)
following.throw(KeyboardInterrupt())  # as a SIGINT landing in the read
"""
_ASYNC_CELL = """
import asyncio

async def stalls():
    yield chunk("1, ")
    await asyncio.sleep(30)

# ipykernel interrupts an awaited cell by cancelling the task that runs it.
asyncio.get_running_loop().call_later(0.2, asyncio.current_task().cancel)
async for _ in LiveView(backend_label="t").afollow(stalls()):
    pass
"""


def test_ipython_shows_the_interrupt_in_one_line() -> None:
    """IPython 9 shows an exception by its `_render_traceback_` lines when it has one, in
    `InteractiveShell.showtraceback`: the interrupt and an awaited cell's cancellation both
    come out as the one line, in a real shell (a process of its own: a shell, once started,
    stays for the rest of the process)."""
    cells = json.dumps([_SYNC_CELL, _ASYNC_CELL])
    result = subprocess.run(
        [sys.executable, "-c", f"CELLS = {cells!r}\n{_SHOWN}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    shown = json.loads(result.stdout.rpartition("SHOWN ")[2])
    assert shown == [["StreamInterrupted", [ONE_LINE]], ["CancelledError", [ONE_LINE]]]


def _follow_cell(base_url: str, awaited: bool) -> str:
    """A cell that streams into a live view until the server stalls after 12 chunks."""
    request = f"stream=True, extra_body={{'simulation': {STALL!r}}}, **{ASK!r}"
    if awaited:
        return textwrap.dedent(f"""
            import openai
            from helpers.live import LiveView
            aclient = openai.AsyncOpenAI(base_url={base_url!r}, api_key="k", max_retries=0)
            view = LiveView(backend_label="kernel test")
            async with await aclient.chat.completions.create({request}) as stream:
                async for chunk in view.afollow(stream):
                    pass
            print("after the loop")
        """)
    return textwrap.dedent(f"""
        import openai
        from helpers.live import LiveView
        client = openai.OpenAI(base_url={base_url!r}, api_key="k", max_retries=0)
        view = LiveView(backend_label="kernel test")
        with view, client.chat.completions.create({request}) as stream:
            for chunk in view.follow(stream):
                pass
        print("after the loop")
    """)


@pytest.fixture
def kernel() -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(REPO))
    client = manager.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _messages_until_idle(client: BlockingKernelClient, msg_id: str) -> list[dict[str, Any]]:
    """The IOPub messages of one request, up to the kernel's idle after it."""
    messages = []
    while True:
        message = client.get_iopub_msg(timeout=60)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(message)
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return messages


@pytest.mark.slow
@pytest.mark.parametrize("awaited", [False, True], ids=["sync", "awaited"])
def test_the_stop_button_ends_run_all_at_the_streaming_cell(
    embedded_server: EmbeddedServer,
    kernel: tuple[KernelManager, BlockingKernelClient],
    awaited: bool,
) -> None:
    """Run All sends every cell at once; the interrupt must stop the run at the streaming cell,
    as an error, so that the kernel skips ("aborts") the cells queued after it. The bug this
    guards: the view swallowed the interrupt, the cell ended well, and the next cell ran."""
    manager, client = kernel
    closed = embedded_server.stats().client_closed
    streaming = client.execute(_follow_cell(embedded_server.base_url, awaited))
    queued = client.execute('print("the next cell ran")')
    # Wait for the widget, then for the stall after 12 chunks, and press stop.
    while client.get_iopub_msg(timeout=60)["msg_type"] != "display_data":
        pass
    time.sleep(1.5)
    manager.interrupt_kernel()

    reply = client.get_shell_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == streaming
    assert reply["content"]["status"] == "error"
    assert reply["content"]["traceback"] == [ONE_LINE]
    errors = [m for m in _messages_until_idle(client, streaming) if m["msg_type"] == "error"]
    assert [error["content"]["traceback"] for error in errors] == [[ONE_LINE]]
    name = "CancelledError" if awaited else "StreamInterrupted"
    assert errors[0]["content"]["ename"] == name
    skipped = client.get_shell_msg(timeout=30)
    assert skipped["parent_header"]["msg_id"] == queued
    assert skipped["content"]["status"] == "aborted"
    assert _closed_count_reaches(embedded_server, closed + 1)

    outputs: list[dict[str, Any]] = []
    check = client.execute_interactive(
        "print(view.recorder.stopped, view.recorder.chunk_count)",
        output_hook=outputs.append,
        timeout=30,
    )
    assert check["content"]["status"] == "ok"
    assert [m["content"]["text"] for m in outputs if m["msg_type"] == "stream"] == ["True 12\n"]
