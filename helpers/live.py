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
5. An interrupt (■) stops the view, which keeps the partial text, and then goes on, so that Run
   All stops at this cell; IPython shows it in one line, `INTERRUPTED_LINE`, not a traceback.
   ipykernel interrupts an awaited cell by cancelling it, so `afollow` sees a CancelledError.
6. The token count while streaming is the one `Recorder.tokens` gives, the same estimate the
   metrics make at the end, so it does not jump when the stream ends (usage, exact, may still
   replace it).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from types import TracebackType
from typing import Any, Literal

import ipywidgets
import openai
from openai.types.chat import ChatCompletionChunk

from helpers.backend import status_label
from helpers.display import show, show_final_text
from helpers.errors import explain_error
from helpers.recorder import Recorder, aclose_stream, close_stream
from helpers.ticker import Ticker
from helpers.view_html import render_view

__all__ = ["FRAME_SECONDS", "INTERRUPTED_LINE", "REPR", "LiveView", "StreamInterrupted"]

FRAME_SECONDS = 0.04
"""Shortest time between two refreshes: at most 25 widget messages a second."""
# An async stream's waits are cut into slices this long so that an interrupt is noticed even when
# the signal was delivered to another thread and did not wake the event loop.
_POLL_SECONDS = 0.1
REPR = "Live view: the streamed text appears here; the final text follows below."
INTERRUPTED_LINE = (
    "Interrupted: the stream stopped, this cell ended, and queued cells were skipped."
)
"""All that IPython shows of an interrupt that stopped a live view."""

Errors = Literal["show", "raise"]


class StreamInterrupted(KeyboardInterrupt):
    """The interrupt that stopped a live view, raised again once the view has kept the text.

    An ordinary KeyboardInterrupt everywhere; IPython shows it as `INTERRUPTED_LINE` alone.
    """

    def __init__(self) -> None:
        super().__init__(INTERRUPTED_LINE)

    def _render_traceback_(self) -> list[str]:
        return _interrupted_lines()


def _interrupted_lines() -> list[str]:
    return [INTERRUPTED_LINE]


def _show_in_one_line(cancelled: asyncio.CancelledError) -> None:
    # asyncio tells a cancellation by its exact class (asyncio.timeout checks `is`), so the
    # CancelledError goes on as it is, carrying IPython's rendering hook itself.
    vars(cancelled)["_render_traceback_"] = _interrupted_lines


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
        self._label = backend_label if backend_label is not None else status_label()
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
        self._ticker: Ticker | None = None
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
        interrupted = isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)
        if not self._finished:
            if interrupted:
                self._end(stopped=True)
            else:
                self._end(error=exc)
        if interrupted and self.recorder.stopped:
            if isinstance(exc, asyncio.CancelledError):
                _show_in_one_line(exc)
            elif not isinstance(exc, StreamInterrupted):
                raise StreamInterrupted from None
            return False
        return isinstance(exc, openai.APIError) and self._errors == "show"

    # -- following a stream ----------------------------------------------------------------

    def follow(self, stream: Iterable[ChatCompletionChunk]) -> Iterator[ChatCompletionChunk]:
        """Yield every chunk of `stream` unchanged while showing and recording it.

        An interrupt (or leaving the loop early) closes the stream, so the server stops
        generating, and keeps the text that had arrived; the interrupt then goes on as
        `StreamInterrupted`.
        """
        self._begin(stream)
        self._ticker = Ticker(self._refresh, FRAME_SECONDS)
        try:
            for chunk in stream:
                self._take(chunk, time.perf_counter())
                yield chunk
        except (KeyboardInterrupt, GeneratorExit) as exc:
            close_stream(stream)
            self._end(stopped=True)
            if isinstance(exc, KeyboardInterrupt):
                raise StreamInterrupted from None
            raise
        except Exception as exc:
            self._end(error=exc)
            if self._errors == "raise" or not isinstance(exc, openai.APIError):
                raise
            return
        self._end()

    async def afollow(
        self, stream: AsyncIterable[ChatCompletionChunk]
    ) -> AsyncIterator[ChatCompletionChunk]:
        """`follow()` for an async stream (`AsyncOpenAI`); a cancellation, how ipykernel
        interrupts an awaited cell, stops the view as an interrupt does and goes on."""
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
            if isinstance(exc, KeyboardInterrupt):
                raise StreamInterrupted from None
            if isinstance(exc, asyncio.CancelledError):
                _show_in_one_line(exc)
            raise
        except Exception as exc:
            await aclose_stream(stream)
            self._end(error=exc)
            if self._errors == "raise" or not isinstance(exc, openai.APIError):
                raise
            return
        self._end()

    # -- internals -------------------------------------------------------------------------

    def _show(self) -> None:
        if not self._shown:
            show(self)

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
        show_final_text(self._final_text(), self._message)

    def _final_text(self) -> str:
        texts = self.recorder.texts
        if len(texts) <= 1:
            return self.recorder.text
        return "\n\n".join(f"[choice {index}]\n{text}" for index, text in texts.items())

    def _status(self) -> str:
        parts = [self._label, _STATE_WORDS[self._state]]
        if self._state == "waiting":
            return " · ".join(parts)
        elapsed = self._ended_at if self._ended_at is not None else self.recorder.elapsed()
        ttft = self.recorder.ttft
        tokens = self.recorder.tokens
        parts += [
            f"{elapsed:.2f} s",
            "first token " + ("—" if ttft is None else f"{ttft:.2f} s"),
            tokens.label(),
        ]
        if elapsed > 0:
            parts.append(f"{tokens.count / elapsed:.0f} tokens/s")
        return " · ".join(parts)

    def _render(self) -> str:
        return render_view(self._title, self.recorder.texts, self._message, self._status())


_STATE_WORDS = {
    "waiting": "waiting",
    "streaming": "streaming…",
    "done": "done",
    "stopped": "stopped",
    "error": "error",
}


async def _timed_next(
    iterator: AsyncIterator[ChatCompletionChunk],
) -> tuple[ChatCompletionChunk, float]:
    chunk = await anext(iterator)
    return chunk, time.perf_counter()
