"""One chunk's arrival as recorded: what the recorder writes and the metrics read."""

from __future__ import annotations

from typing import NamedTuple

from openai.types import CompletionUsage

__all__ = ["ChunkEvent"]


class ChunkEvent(NamedTuple):
    """One choice's part of one chunk, or the whole chunk when it carries no choice.

    A named tuple because a stream makes one per token: it is several times cheaper to create
    than a frozen dataclass.
    """

    seconds: float
    """Arrival, in seconds since the recorder's clock started."""
    chunk: int
    """Position of the chunk in the stream, from 0; the choices of one chunk share it."""
    # Named as in the API (`choice.index`), hiding tuple.index, which no one calls on an event.
    index: int | None  # type: ignore[assignment]
    """The choice index; None for a chunk without choices (`[]`, null or missing)."""
    text: str
    """`delta.content`, "" when null or absent."""
    role: str | None
    finish_reason: str | None
    usage: CompletionUsage | None
    """The chunk's usage: OpenAI sends it on a last chunk without choices, some engines on the
    finish chunk, many not at all."""
    reasoning: str = ""
    """`delta.reasoning_content` or `delta.reasoning`, which vLLM, llama.cpp and Ollama stream."""
