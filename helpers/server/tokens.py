"""An o200k-style pre-tokenizer: token splits and counts close to OpenAI's, with no vocabulary."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping

import regex

__all__ = [
    "MAX_PIECE_CHARS",
    "NON_TEXT_PART_TOKENS",
    "count_prompt_tokens",
    "count_tokens",
    "iter_tokens",
    "pretokenize",
]

# The o200k_base pre-tokenization pattern, as published in tiktoken (tiktoken_ext/openai_public.py).
_O200K = regex.compile(
    "|".join(
        [
            r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
            r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
            r"\p{N}{1,3}",
            r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
            r"\s*[\r\n]+",
            r"\s+(?!\S)",
            r"\s+",
        ]
    )
)
_LETTER = regex.compile(r"\p{L}")

# Without the vocabulary a long word is a guess: the real merges seldom keep more than this many
# characters of a word (its leading space included) in one token, e.g. " newlines" is two.
MAX_PIECE_CHARS = 8
# The chat format: each message costs 3 tokens of framing plus 1 for its role (and 1 for a name);
# 3 more prime the assistant's reply (the figures in OpenAI's token-counting cookbook).
_PER_MESSAGE = 3
_PER_ROLE = 1
_PER_NAME = 1
_REPLY_PRIMING = 3
# Images, audio and files cannot be measured offline; 85 is OpenAI's figure for a low-detail image.
NON_TEXT_PART_TOKENS = 85


def iter_tokens(text: str) -> Iterator[str]:
    """Tokens of `text` one at a time, found as they are asked for."""
    # `concurrent` lets other threads run while the pattern scans a long text.
    for match in _O200K.finditer(text, concurrent=True):
        piece = match.group()
        if len(piece) > MAX_PIECE_CHARS and _LETTER.search(piece):
            yield from _split_evenly(piece, math.ceil(len(piece) / MAX_PIECE_CHARS))
        else:
            yield piece


def pretokenize(text: str) -> list[str]:
    """Split text into tokens; joined again they give back the text unchanged."""
    return list(iter_tokens(text))


def count_tokens(text: str) -> int:
    """How many tokens `text` is."""
    return sum(1 for _ in iter_tokens(text))


def count_prompt_tokens(messages: Iterable[Mapping[str, object]]) -> int:
    """Prompt tokens of OpenAI-format chat messages, framing included, as `usage` reports them."""
    total = _REPLY_PRIMING
    for message in messages:
        total += _PER_MESSAGE + _PER_ROLE + _content_tokens(message.get("content"))
        name = message.get("name")
        if isinstance(name, str):
            total += _PER_NAME + count_tokens(name)
    return total


def _content_tokens(content: object) -> int:
    if isinstance(content, str):
        return count_tokens(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for part in content:
        # Text-like parts keep their text under the key named by their type ("text", "refusal").
        text = part.get(part.get("type")) if isinstance(part, Mapping) else None
        total += count_tokens(text) if isinstance(text, str) else NON_TEXT_PART_TOKENS
    return total


def _split_evenly(piece: str, parts: int) -> list[str]:
    size, extra = divmod(len(piece), parts)
    out: list[str] = []
    start = 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        out.append(piece[start:end])
        start = end
    return out
