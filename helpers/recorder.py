"""Record when each chunk of a chat stream arrives, passing the chunks on unchanged.

Responses API streams work too: their typed events are recorded as chunks of choice 0, from
`response.output_item.added` (the role chunk's counterpart) to `response.output_item.done` (the
finish chunk's), with each `response.output_text.delta` as text; the final response's usage is
kept as it came, with input and output tokens.

The clock (`time.perf_counter`) starts at `Recorder.start()`; call it just before
`client.chat.completions.create(...)` so the timings include the wait for the response headers.
Without it the clock starts when `record()` is first iterated, after `create()` has returned, and
every timing leaves out that wait.

A chunk of an `openai` stream is timed when the read from the connection that completed it
returned, before the client parses it: chunks that came in one read share one time. Chunks from
any other iterable are timed as they come out of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseUsage

from helpers.chunk_event import ChunkEvent
from helpers.metrics import StreamMetrics, TokenCount, TokenTally
from helpers.openai_internals import DecoderWatch, watch_decoder

__all__ = ["Recorder", "aclose_stream", "close_stream"]


def close_stream(stream: object) -> None:
    """Release a sync stream's connection, if it has one to release."""
    close = getattr(stream, "close", None)
    if callable(close):
        close()


class Recorder:
    """Wraps one chat stream, sync or async, recording a `ChunkEvent` per chunk and choice."""

    def __init__(self) -> None:
        self.events: list[ChunkEvent] = []
        self.usage: CompletionUsage | ResponseUsage | None = None
        """Chat usage, or a Responses API stream's usage with input and output tokens."""
        self.model: str | None = None
        """The model as the stream names it (its first chunk, or a Responses stream's response)."""
        self.stopped = False
        """True when the stream was interrupted or abandoned before its end."""
        self.error: BaseException | None = None
        """The exception that ended the stream, if one did."""
        self.finished = False
        """True once the stream has ended, however it ended."""
        self._start: float | None = None
        self._chunks = 0
        self._pieces = 0
        self._first_text: float | None = None
        self._texts: dict[int, list[str]] = {}
        self._finish: dict[int, str] = {}
        self._watch: DecoderWatch | None = None
        self._used = False
        self._typed = _TypedEnding()
        self._tally: TokenTally | None = None

    def start(self) -> None:
        """Start the clock now: call it just before `create()`."""
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the clock started (0 before it starts)."""
        return 0.0 if self._start is None else time.perf_counter() - self._start

    def begin(self, stream: object) -> None:
        """Prepare to record `stream`: start the clock unless started, watch for `[DONE]`."""
        assert not self._used, "a Recorder records one stream: make a new Recorder for the next"
        self._used = True
        if self._start is None:
            self.start()
        self._watch = watch_decoder(stream)

    def add(self, chunk: ChatCompletionChunk, arrived: float) -> None:
        """Record `chunk`, which arrived at `arrived` (a `time.perf_counter()` reading); for an
        openai stream the time its bytes were read is used instead, when known."""
        assert self._start is not None, "call begin() before add()"
        position = self._chunks
        # Chunk n is the client's parse of event n: the stream yields one per event but [DONE].
        if self._watch is not None and position < len(self._watch.read_at):
            arrived = self._watch.read_at[position]
        seconds = arrived - self._start
        self._chunks += 1
        # Read from the fields: a missing attribute costs a pydantic model a caught exception.
        fields = getattr(chunk, "__dict__", {})
        if self.model is None:
            self.model = _name(fields.get("model"))
        kind = fields.get("type")
        if isinstance(kind, str):
            self._add_typed(chunk, kind, seconds, position)
            return
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        # Engines send `choices` as [], null or not at all on usage and keep-alive chunks.
        choices = getattr(chunk, "choices", None) or ()
        if not choices:
            self.events.append(ChunkEvent(seconds, position, None, "", None, None, usage))
        for choice in choices:
            index = getattr(choice, "index", None) or 0
            delta = getattr(choice, "delta", None)
            text = (getattr(delta, "content", None) or "") if delta is not None else ""
            finish = getattr(choice, "finish_reason", None)
            self.events.append(
                ChunkEvent(
                    seconds,
                    position,
                    index,
                    text,
                    getattr(delta, "role", None),
                    finish,
                    usage,
                    _reasoning(delta),
                )
            )
            self._texts.setdefault(index, []).append(text)
            if text or self.events[-1].reasoning:
                self._pieces += 1
            if text and self._first_text is None:
                self._first_text = seconds
            if finish is not None:
                self._finish[index] = finish

    def _add_typed(self, event: object, kind: str, seconds: float, position: int) -> None:
        # A Responses API event; see the module docstring for how it maps onto chunks.
        self._typed.seen = True
        text = ""
        finish = None
        if kind == "response.output_text.delta":
            text = getattr(event, "delta", None) or ""
        elif kind == "response.output_item.done":
            finish = _ITEM_FINISH.get(getattr(getattr(event, "item", None), "status", ""))
        elif kind in _FINAL_EVENTS:
            self._typed.final = kind
            response = getattr(event, "response", None)
            usage = getattr(response, "usage", None)
            if isinstance(usage, ResponseUsage):
                self.usage = usage
            error = getattr(response, "error", None)
            if error is not None:
                self._typed.failure = getattr(error, "message", None) or str(error)
        elif kind == "response.created" and self.model is None:
            self.model = _name(getattr(getattr(event, "response", None), "model", None))
        elif kind == "error":
            self._typed.failure = getattr(event, "message", None) or "an error event arrived"
        index = 0 if kind in _OUTPUT_EVENTS else None
        role = "assistant" if kind == "response.output_item.added" else None
        self.events.append(ChunkEvent(seconds, position, index, text, role, finish, None))
        if index is None:
            return
        self._texts.setdefault(0, []).append(text)
        if text:
            self._pieces += 1
            if self._first_text is None:
                self._first_text = seconds
        if finish is not None:
            self._finish[0] = finish

    def end(self, error: BaseException | None = None, stopped: bool = False) -> None:
        """Mark the stream ended: normally, by `error`, or `stopped` by the reader."""
        self.error = error
        self.stopped = stopped
        self.finished = True

    def record(self, stream: Iterable[ChatCompletionChunk]) -> Iterator[ChatCompletionChunk]:
        """Yield every chunk of `stream` unchanged, recording its arrival.

        An exception ends the recording and is raised again; an interrupt (or leaving the loop
        early) also closes the stream, so the server stops generating.
        """
        self.begin(stream)
        try:
            for chunk in stream:
                self.add(chunk, time.perf_counter())
                yield chunk
        except (KeyboardInterrupt, GeneratorExit):
            close_stream(stream)
            self.end(stopped=True)
            raise
        except Exception as exc:
            self.end(error=exc)
            raise
        self.end()

    async def arecord(
        self, stream: AsyncIterable[ChatCompletionChunk]
    ) -> AsyncIterator[ChatCompletionChunk]:
        """`record()` for an async stream (`AsyncOpenAI`)."""
        self.begin(stream)
        try:
            async for chunk in stream:
                self.add(chunk, time.perf_counter())
                yield chunk
        except (KeyboardInterrupt, GeneratorExit, asyncio.CancelledError):
            await aclose_stream(stream)
            self.end(stopped=True)
            raise
        except Exception as exc:
            self.end(error=exc)
            raise
        self.end()

    @property
    def texts(self) -> dict[int, str]:
        """The text of each choice, by index."""
        return {index: "".join(parts) for index, parts in sorted(self._texts.items())}

    @property
    def text(self) -> str:
        """The text of choice 0."""
        return "".join(self._texts.get(0, ()))

    @property
    def reasoning(self) -> str:
        """Reasoning text that an engine streamed apart from the answer (choice 0)."""
        return "".join(event.reasoning for event in self.events if event.index == 0)

    @property
    def ttft(self) -> float | None:
        """Seconds to the first chunk with text so far; `metrics` has the full set."""
        return self._first_text

    @property
    def chunk_count(self) -> int:
        return self._chunks

    @property
    def text_chunks(self) -> int:
        """Choices' deltas that carried text or reasoning: about one per token from most servers."""
        return self._pieces

    @property
    def finish_reasons(self) -> dict[int, str]:
        return dict(sorted(self._finish.items()))

    @property
    def done_seen(self) -> bool | None:
        """Whether `data: [DONE]` arrived; None when that cannot be known for this stream."""
        if self._watch is None or not self._watch.used:
            return None
        return self._watch.seen

    @property
    def tokens(self) -> TokenCount:
        """Output tokens so far: from usage once it came, else estimated as `metrics` does it,
        so the count does not jump when the stream ends. Cheap enough to ask every frame."""
        usage = _chat_usage(self.usage)
        if usage is not None:
            return TokenCount(usage.completion_tokens, "usage")
        if self._tally is None or self._tally.model != self.model:
            self._tally = TokenTally(self.model)
        return TokenCount(self._tally.count(self.events), self._tally.source)

    @property
    def metrics(self) -> StreamMetrics:
        return StreamMetrics.from_events(self.events, _chat_usage(self.usage), self.model)

    @property
    def problems(self) -> list[str]:
        """Sentences about failures that raise no exception, once the stream has ended."""
        if not self.finished or self.stopped or self.error is not None:
            return []
        if self._chunks == 0:
            return [
                "No chunk arrived: the server answered without streaming (for example plain "
                "JSON to a stream=True request), so there was nothing to record."
            ]
        if self._typed.seen:
            return self._typed.problems(self._finish.get(0))
        found = []
        unfinished = [index for index in sorted(self._texts) if index not in self._finish]
        if not self._texts:
            found.append("Chunks arrived but none carried a choice, so there is no answer text.")
        elif unfinished:
            found.append(
                f"No finish_reason arrived for choice {_listed(unfinished)}: the answer may have "
                "been cut off."
            )
        cut = [index for index, reason in sorted(self._finish.items()) if reason == "length"]
        if cut:
            found.append(
                f"Choice {_listed(cut)} stopped at the token limit (finish_reason 'length'): "
                "raise max_completion_tokens for a complete answer."
            )
        filtered = [i for i, reason in sorted(self._finish.items()) if reason == "content_filter"]
        if filtered:
            found.append(
                f"Choice {_listed(filtered)} was cut short by the content filter "
                "(finish_reason 'content_filter')."
            )
        if self.done_seen is False:
            found.append(
                "The stream ended without its closing [DONE] event: the connection may have "
                "closed early."
            )
        return found

    def __repr__(self) -> str:
        state = (
            "recording" if not self.finished
            else "stopped" if self.stopped
            else f"failed: {type(self.error).__name__}" if self.error is not None
            else "finished"
        )
        preview = self.text if len(self.text) <= 40 else self.text[:39] + "…"
        return f"Recorder({state}, {self._chunks} chunks, text={preview!r})"


# Responses API events from the output message's opening to its closing count as choice 0.
_OUTPUT_EVENTS = frozenset(
    {
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    }
)
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
# An output item's final status, as the finish_reason a chat stream would have sent.
_ITEM_FINISH = {"completed": "stop", "incomplete": "length"}


class _TypedEnding:
    """How a Responses API stream ended: its final event, and any failure it reported."""

    def __init__(self) -> None:
        self.seen = False
        self.final: str | None = None
        self.failure: str | None = None

    def problems(self, finish: str | None) -> list[str]:
        if self.failure is not None:
            return [f"The response failed: {self.failure}"]
        if self.final is None:
            return [
                "The stream ended without its final response.completed event: the connection "
                "may have closed early."
            ]
        if finish == "length":
            return [
                "The response is incomplete: it stopped at max_output_tokens; raise that limit "
                "for a complete answer."
            ]
        return []


def _chat_usage(usage: CompletionUsage | ResponseUsage | None) -> CompletionUsage | None:
    """Usage under the chat names the metrics use (input tokens are prompt tokens)."""
    if not isinstance(usage, ResponseUsage):
        return usage
    return CompletionUsage(
        prompt_tokens=usage.input_tokens,
        completion_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
    )


def _reasoning(delta: object) -> str:
    # Vendor fields sit in pydantic's extras. Asking a pydantic model for a field it lacks
    # raises and catches an AttributeError inside, which costs more than all the rest of add().
    extra = getattr(delta, "model_extra", None)
    if not extra:
        return ""
    for name in ("reasoning_content", "reasoning"):
        value = extra.get(name)
        if isinstance(value, str):
            return value
    return ""


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _listed(indexes: list[int]) -> str:
    return ", ".join(str(index) for index in indexes)


async def aclose_stream(stream: object) -> None:
    """Release an async stream's connection, if it has one to release."""
    close = getattr(stream, "close", None)
    if callable(close):
        result = close()
        if hasattr(result, "__await__"):
            await result
