"""Every private part of the `openai` client this project touches, in one place.

`openai.Stream._decoder` and `openai.AsyncStream._decoder` (an `SSEDecoder`, read when the stream
is first iterated, through `iter_bytes` / `aiter_bytes`): the recorder swaps in a watcher to learn
whether `data: [DONE]` arrived and when each event's bytes were read. If an upgrade renames the
attribute, `watch_decoder` returns None and the recorder reports `[DONE]` as unknown and times
chunks after parsing; tests/helpers/test_openai_internals.py fails so the upgrade is noticed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai

__all__ = ["DecoderWatch", "watch_decoder"]


class DecoderWatch:
    """Stands in for an openai stream's SSE decoder, which sees what the client hides.

    1. Whether `data: [DONE]` arrived: the client ends a stream silently both at `[DONE]` and
       when the body just stops.
    2. When the bytes of each event were read from the connection: the client then parses the
       JSON into a model, which takes longer than the gap inside a burst of tokens, so a
       timestamp taken after parsing would spread a burst out.
    """

    def __init__(self, decoder: Any) -> None:
        self._decoder = decoder
        self.used = False
        self.seen = False
        self.read_at: list[float] = []
        """For each event but `[DONE]`, in order: when the read that completed it returned."""
        self._last_read = 0.0

    def _timed(self, parts: Iterator[bytes]) -> Iterator[bytes]:
        for part in parts:
            self._last_read = time.perf_counter()
            yield part

    async def _atimed(self, parts: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for part in parts:
            self._last_read = time.perf_counter()
            yield part

    def _note(self, sse: Any) -> None:
        # An event comes out of the decoder as soon as the read holding its end is fed in.
        if sse.data.startswith("[DONE]"):
            self.seen = True
        else:
            self.read_at.append(self._last_read)

    def iter_bytes(self, iterator: Iterator[bytes]) -> Iterator[Any]:
        self.used = True
        for sse in self._decoder.iter_bytes(self._timed(iterator)):
            self._note(sse)
            yield sse

    async def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[Any]:
        self.used = True
        async for sse in self._decoder.aiter_bytes(self._atimed(iterator)):
            self._note(sse)
            yield sse


def watch_decoder(stream: object) -> DecoderWatch | None:
    # The decoder is only read when the stream is first iterated, so swapping it in before that
    # is enough; `used` tells afterwards whether the swap took effect.
    if not isinstance(stream, openai.Stream | openai.AsyncStream):
        return None
    decoder = getattr(stream, "_decoder", None)
    if decoder is None:
        return None
    watch = DecoderWatch(decoder)
    stream._decoder = watch
    return watch
