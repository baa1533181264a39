"""The live view: a widget that shows a chat stream's text as it arrives, with its timings.

How it stays fast and truthful, given that widget messages sent faster than the kernel and server
pass them on are dropped silently:

1. The calling thread reads the stream itself, stamps each chunk's arrival and records it, so an
   interrupt (Jupyter's stop button sends SIGINT) breaks the read at once. A reader thread handing
   chunks over cost 10-20 % more CPU on a fast stream (docs/benchmarks.md).
2. The widget is refreshed at most once per `FRAME_SECONDS` and always once more at the end, so
   the final state is never among the dropped messages. While the stream is silent a ticker thread
   shows what arrived last; a lock keeps it and the reading thread from refreshing at once.
3. The whole view is one `HTML` widget, so one refresh is one message.
4. When the stream ends the text is displayed again as an ordinary output, which nbval compares and
   which a reopened notebook, GitHub and nbviewer show without the widget.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import math
import re
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Literal

import ipywidgets
import openai
from openai.types.chat import ChatCompletionChunk

from helpers.recorder import Recorder, aclose_stream, close_stream

__all__ = ["FRAME_SECONDS", "LiveView", "explain_error"]

FRAME_SECONDS = 0.04
"""Shortest time between two refreshes: at most 25 widget messages a second."""
# An async stream's waits are cut into slices this long so that an interrupt is noticed even when
# the signal was delivered to another thread and did not wake the event loop.
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
        # Held while the recorder or the widget changes: the ticker thread refreshes too.
        self._lock = threading.Lock()
        self._ticker: _Ticker | None = None
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
        """Yield every chunk of `stream` unchanged while showing and recording it.

        An interrupt (or leaving the loop early) closes the stream, so the server stops
        generating, and keeps the text that had arrived.
        """
        self._begin(stream)
        self._ticker = _Ticker(self._refresh)
        try:
            for chunk in stream:
                self._take(chunk, time.perf_counter())
                yield chunk
        except (KeyboardInterrupt, GeneratorExit) as exc:
            close_stream(stream)
            self._end(stopped=True)
            if isinstance(exc, GeneratorExit):
                raise
            return
        except Exception as exc:
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
        with self._lock:
            self.recorder.add(chunk, arrived)
            self._dirty = True
            if arrived - self._last_push >= FRAME_SECONDS:
                self._push()

    def _wait(self) -> float:
        """How long the next read may block before a refresh is due."""
        if not self._dirty:
            return _POLL_SECONDS
        due = self._last_push + FRAME_SECONDS - time.perf_counter()
        return min(max(due, 0.0), _POLL_SECONDS)

    def _refresh(self) -> None:
        """Show what arrived since the last refresh, if a frame has passed since it."""
        with self._lock:
            if (
                self._dirty
                and not self._finished
                and time.perf_counter() - self._last_push >= FRAME_SECONDS
            ):
                self._push()

    def _push(self) -> None:
        self._dirty = False
        self._last_push = time.perf_counter()
        self.value = self._render()

    def _end(self, error: BaseException | None = None, stopped: bool = False) -> None:
        if self._ticker is not None:
            self._ticker.stop()  # before taking the lock, which a last tick may be waiting for
        with self._lock:
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


class _Ticker:
    """Calls `tick` once a frame on a daemon thread until stopped."""

    def __init__(self, tick: Callable[[], None]) -> None:
        self._stopped = threading.Event()
        # The thread runs in a copy of the caller's context, so what it sends belongs to the cell.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run, tick), name="live-view-ticker", daemon=True
        )
        self._thread.start()

    def _run(self, tick: Callable[[], None]) -> None:
        while not self._stopped.wait(FRAME_SECONDS):
            tick()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(_JOIN_SECONDS)


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
    from helpers.backend import BackendError, current_backend

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
