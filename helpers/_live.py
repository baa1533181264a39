"""The live view: a widget that shows a chat stream's text as it arrives, with its timings.

How it stays fast and truthful, given that widget messages sent faster than the kernel and server
pass them on are dropped silently:

1. A worker thread reads the sync stream and stamps each chunk's arrival; the main thread records
   it and refreshes the widget. Only the main thread touches the widget.
2. The widget is refreshed at most once per `FRAME_SECONDS`, also while the stream stalls, and
   always once more at the end, so the final state is never among the dropped messages.
3. The whole view is one `HTML` widget, so one refresh is one message.
4. When the stream ends the text is displayed again as an ordinary output, which nbval compares and
   which a reopened notebook, GitHub and nbviewer show without the widget.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import math
import queue
import re
import socket
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Literal

import ipywidgets
import openai
from openai.types.chat import ChatCompletionChunk

from helpers._recorder import Recorder, aclose_stream, close_stream

__all__ = ["FRAME_SECONDS", "LiveView", "explain_error"]

FRAME_SECONDS = 0.04
"""Shortest time between two refreshes: at most 25 widget messages a second."""
# Waits are cut into slices this long so that an interrupt is noticed even when the signal was
# delivered to another thread and did not wake the waiting one.
_POLL_SECONDS = 0.1
_JOIN_SECONDS = 2.0
REPR = "Live view: the streamed text appears here; the final text follows below."

Errors = Literal["show", "raise"]


class LiveView(ipywidgets.HTML):  # type: ignore[misc]
    """A widget that follows one chat stream: `for chunk in view.follow(stream): ...`.

    `errors="show"` turns an API error into one sentence beside the partial text and ends the
    loop; `errors="raise"` shows the sentence and raises the error again. Used as a context
    manager (`with view, client.chat.completions.create(...) as stream:`) it also starts the clock
    before the request and catches the errors `create()` itself raises.
    """

    def __init__(
        self, title: str | None = None, backend_label: str | None = None, errors: Errors = "show"
    ) -> None:
        assert errors in ("show", "raise"), f"errors is 'show' or 'raise', not {errors!r}"
        super().__init__()
        self.add_class("streaming-lab-live")
        self.recorder = Recorder()
        self._title = title
        self._label = backend_label if backend_label is not None else _default_label()
        self._errors: Errors = errors
        self._state = "waiting"
        self._message = ""
        self._shown = False
        self._followed = False
        self._finished = False
        self._dirty = False
        self._last_push = -math.inf
        self._ended_at: float | None = None
        self.value = self._render()

    def __repr__(self) -> str:
        return REPR

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        self._shown = True
        bundle: dict[str, Any] | None = super()._repr_mimebundle_(**kwargs)
        return bundle

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> LiveView:
        self._show()
        if not self._followed:
            self.recorder.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if exc is None:
            return False
        if not self._finished:
            if isinstance(exc, KeyboardInterrupt):
                self._end(stopped=True)
            else:
                self._end(error=exc)
        if isinstance(exc, KeyboardInterrupt):
            return True
        return isinstance(exc, openai.APIError) and self._errors == "show"

    # -- following a stream ----------------------------------------------------------------

    def follow(self, stream: Iterable[ChatCompletionChunk]) -> Iterator[ChatCompletionChunk]:
        """Yield every chunk of `stream` unchanged while showing and recording it."""
        self._begin(stream)
        reader = _Reader(stream)
        try:
            while True:
                item = reader.get(self._wait)
                if item is None:
                    self._refresh()
                    continue
                if isinstance(item, _Ended):
                    if item.error is not None:
                        raise item.error
                    break
                chunk, arrived = item
                self._take(chunk, arrived)
                yield chunk
        except (KeyboardInterrupt, GeneratorExit) as exc:
            reader.stop()
            self._end(stopped=True)
            if isinstance(exc, GeneratorExit):
                raise
            return
        except Exception as exc:
            reader.stop()
            self._end(error=exc)
            if self._errors == "raise" or not isinstance(exc, openai.APIError):
                raise
            return
        self._end()

    async def afollow(
        self, stream: AsyncIterable[ChatCompletionChunk]
    ) -> AsyncIterator[ChatCompletionChunk]:
        """`follow()` for an async stream (`AsyncOpenAI`)."""
        self._begin(stream)
        iterator = aiter(stream)
        pending: asyncio.Task[tuple[ChatCompletionChunk, float]] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(_timed_next(iterator))
                done, _ = await asyncio.wait({pending}, timeout=self._wait())
                if not done:
                    self._refresh()
                    continue
                finished, pending = pending, None
                try:
                    chunk, arrived = finished.result()
                except StopAsyncIteration:
                    break
                self._take(chunk, arrived)
                yield chunk
        except (KeyboardInterrupt, GeneratorExit, asyncio.CancelledError) as exc:
            if pending is not None:
                # Let the read in flight unwind before the stream is closed under it.
                pending.cancel()
                await asyncio.wait({pending})
            await aclose_stream(stream)
            self._end(stopped=True)
            if not isinstance(exc, KeyboardInterrupt):
                raise
            return
        except Exception as exc:
            await aclose_stream(stream)
            self._end(error=exc)
            if self._errors == "raise" or not isinstance(exc, openai.APIError):
                raise
            return
        self._end()

    # -- internals -------------------------------------------------------------------------

    def _show(self) -> None:
        if not self._shown and _in_ipython():
            _display(self)

    def _begin(self, stream: object) -> None:
        assert not self._followed, "a LiveView follows one stream: make a new LiveView for the next"
        self._followed = True
        self._show()
        self.recorder.begin(stream)
        self._state = "streaming"
        self._push()

    def _take(self, chunk: ChatCompletionChunk, arrived: float) -> None:
        self.recorder.add(chunk, arrived)
        self._dirty = True
        if time.perf_counter() - self._last_push >= FRAME_SECONDS:
            self._push()

    def _wait(self) -> float:
        """How long the next read may block before a refresh is due."""
        if not self._dirty:
            return _POLL_SECONDS
        due = self._last_push + FRAME_SECONDS - time.perf_counter()
        return min(max(due, 0.0), _POLL_SECONDS)

    def _refresh(self) -> None:
        if self._dirty and time.perf_counter() - self._last_push >= FRAME_SECONDS:
            self._push()

    def _push(self) -> None:
        self._dirty = False
        self._last_push = time.perf_counter()
        self.value = self._render()

    def _end(self, error: BaseException | None = None, stopped: bool = False) -> None:
        if self._finished:
            return
        self._finished = True
        self._ended_at = self.recorder.elapsed()
        if not self.recorder.finished:
            self.recorder.end(error=error, stopped=stopped)
        if stopped:
            self._state = "stopped"
            self._message = "Stopped: the text above is what had arrived."
        elif error is not None:
            self._state = "error"
            self._message = explain_error(error, self.recorder.chunk_count)
        else:
            self._state = "done"
            self._message = " ".join(self.recorder.problems)
        self._push()
        _emit_final(self._final_text(), self._message)

    def _final_text(self) -> str:
        texts = self.recorder.texts
        if len(texts) <= 1:
            return self.recorder.text
        return "\n\n".join(f"[choice {index}]\n{text}" for index, text in texts.items())

    def _tokens(self) -> tuple[int, str]:
        """The output tokens so far, and how to show them (≈ marks an estimate)."""
        if self._finished:
            metrics = self.recorder.metrics
            shown = f"{metrics.output_tokens} tokens"
            return metrics.output_tokens, "≈" + shown if metrics.tokens_estimated else shown
        # While streaming, one token per chunk with text, as OpenAI and most engines send them;
        # the pre-tokenizer is kept for the end, where it runs once.
        pieces = self.recorder.text_chunks
        return pieces, f"≈{pieces} tokens"

    def _status(self) -> str:
        parts = [self._label, _STATE_WORDS[self._state]]
        if self._state == "waiting":
            return " · ".join(parts)
        elapsed = self._ended_at if self._ended_at is not None else self.recorder.elapsed()
        ttft = self.recorder.ttft
        count, tokens = self._tokens()
        parts += [
            f"{elapsed:.2f} s",
            "first token " + ("—" if ttft is None else f"{ttft:.2f} s"),
            tokens,
        ]
        if elapsed > 0:
            parts.append(f"{count / elapsed:.0f} tokens/s")
        return " · ".join(parts)

    def _render(self) -> str:
        texts = self.recorder.texts or {0: ""}
        several = len(texts) > 1
        panes = "".join(
            "<div style='flex:1;min-width:0'>"
            + (f"<div style='font-size:smaller;opacity:.6'>choice {index}</div>" if several else "")
            + f"<div class='streaming-lab-live-text' data-choice='{index}' "
            f"style='white-space:pre-wrap;overflow-wrap:anywhere'>{html.escape(text)}</div></div>"
            for index, text in texts.items()
        )
        title = (
            f"<div style='font-weight:bold'>{html.escape(self._title)}</div>" if self._title else ""
        )
        message = (
            f"<div class='streaming-lab-live-message' style='color:#b00'>"
            f"{html.escape(self._message)}</div>"
            if self._message
            else ""
        )
        return (
            f"{title}<div style='display:flex;gap:1.5em'>{panes}</div>{message}"
            f"<div class='streaming-lab-live-status' style='font-size:smaller;opacity:.7'>"
            f"{html.escape(self._status())}</div>"
        )


_STATE_WORDS = {
    "waiting": "waiting",
    "streaming": "streaming…",
    "done": "done",
    "stopped": "stopped",
    "error": "error",
}


class _Ended:
    """The reader's last item: the stream ended, with `error` if it failed."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


_Item = tuple[ChatCompletionChunk, float] | _Ended


class _Reader:
    """Reads a sync stream on a worker thread, so the main thread can refresh between chunks."""

    def __init__(self, stream: Iterable[ChatCompletionChunk]) -> None:
        self._stream = stream
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="live-view-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for chunk in self._stream:
                self._queue.put((chunk, time.perf_counter()))
                if self._stopping:
                    return
        except Exception as exc:
            if not self._stopping:
                self._queue.put(_Ended(exc))
            return
        self._queue.put(_Ended(None))

    def get(self, timeout: Callable[[], float]) -> _Item | None:
        """The next item, or None if none came within `timeout()` seconds."""
        # Items usually wait in the queue already; the timeout is only worked out when not.
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            pass
        try:
            return self._queue.get(timeout=timeout())
        except queue.Empty:
            return None

    def stop(self) -> None:
        """Release the connection and let the worker finish."""
        self._stopping = True
        # Closing a socket does not wake a thread blocked reading it; shutting it down does, and
        # tells the server at once.
        _shutdown_socket(self._stream)
        self._thread.join(_JOIN_SECONDS)
        close_stream(self._stream)


def _shutdown_socket(stream: object) -> None:
    response = getattr(stream, "response", None)
    extensions = getattr(response, "extensions", None)
    network = extensions.get("network_stream") if isinstance(extensions, dict) else None
    sock = network.get_extra_info("socket") if network is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


async def _timed_next(
    iterator: AsyncIterator[ChatCompletionChunk],
) -> tuple[ChatCompletionChunk, float]:
    chunk = await anext(iterator)
    return chunk, time.perf_counter()


def _in_ipython() -> bool:
    from IPython.core.interactiveshell import InteractiveShell

    return bool(InteractiveShell.initialized())


def _emit_final(text: str, message: str) -> None:
    """Show the final text as an ordinary output: deterministic, no timings in it."""
    plain = f"{text}\n\n{message}" if text and message else text or message
    if not plain:
        return
    if not _in_ipython():
        print(plain)
        return
    note = f"<div style='color:#b00'>{html.escape(message)}</div>" if message else ""
    rich = (
        "<div style='white-space:pre-wrap;overflow-wrap:anywhere;border-left:3px solid #ccc;"
        f"padding-left:.6em'>{html.escape(text)}</div>{note}"
    )
    _display({"text/plain": plain, "text/html": rich}, raw=True)


def _display(obj: object, **kwargs: Any) -> None:
    from IPython.display import display

    display(obj, **kwargs)  # type: ignore[no-untyped-call]


def _default_label() -> str:
    # Imported here: the view must work without the backend module's environment rules.
    from helpers._backend import BackendError, current_backend

    try:
        label = current_backend().label
    except BackendError:
        return "backend not configured"
    # "embedded simulation (offline, no key needed)" is too long for a status line.
    return label.split(" (")[0]


_KEY = re.compile(r"\b(sk|key)-[A-Za-z0-9_*\-]{6,}")


def _server_message(exc: openai.APIError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        message = exc.message
    # A server may echo part of a key back; it has no place in a notebook's output.
    message = _KEY.sub("[key hidden]", message.strip())
    return message if len(message) <= 200 else message[:199] + "…"


def explain_error(exc: BaseException, received: int = 0) -> str:
    """One sentence for a learner: what happened and what to do; `received` chunks had arrived."""
    after = f" after {received} chunks" if received else ""
    if isinstance(exc, openai.APITimeoutError):
        return (
            f"The request timed out{after}: the server took too long to answer; check that it "
            "is running, or give the client a longer timeout."
        )
    if isinstance(exc, openai.APIConnectionError):
        if received:
            return (
                f"The connection broke{after}: the text above is what arrived; run the cell "
                "again."
            )
        return (
            "Could not reach the server: check that it is running and that the base URL is "
            "right, then run the cell again."
        )
    if isinstance(exc, openai.RateLimitError):
        if exc.code == "insufficient_quota":
            return "The account has no quota left (429 insufficient_quota): check its plan."
        retry = exc.response.headers.get("retry-after")
        wait = f"wait {retry} s" if retry else "wait a little"
        return f"Too many requests (429 rate limit): {wait}, then run the cell again."
    if isinstance(exc, openai.AuthenticationError):
        return (
            "The server refused the API key (401 Unauthorized): check OPENAI_API_KEY, or unset "
            "it to use the embedded simulation."
        )
    if isinstance(exc, openai.NotFoundError):
        if exc.code == "model_not_found":
            return (
                "The server has no such model (404 model_not_found): ask for one that "
                "client.models.list() names."
            )
        return "The server has no such endpoint (404): check that the base URL ends in /v1."
    if isinstance(exc, openai.InternalServerError):
        return (
            f"The server failed (HTTP {exc.status_code}): the fault is on its side; run the "
            "cell again in a moment."
        )
    if isinstance(exc, openai.APIStatusError):
        return (
            f"The server rejected the request (HTTP {exc.status_code}: "
            f"{_server_message(exc)}): fix the request and run the cell again."
        )
    if isinstance(exc, openai.APIError):
        code = f" ({exc.code})" if exc.code else ""
        return (
            f"The server sent an error in the middle of the stream{after}{code}: "
            f"{_server_message(exc)}; the text above is what arrived; run the cell again."
        )
    return f"The stream failed{after} with {type(exc).__name__}: {exc}"
