"""The simulated model: which text answers which chat messages, deterministically."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Literal

import regex

from helpers.server.limits import (
    MAX_COMPLETION_TOKENS,
    MAX_COUNT,
    MAX_ECHO_CHARS,
    MAX_NUMBER_DIGITS,
    MAX_REPEATS,
    MAX_REPLY_CHARS,
    MAX_RULE_CHARS,
)
from helpers.server.tokens import count_tokens, iter_tokens

__all__ = [
    "MODEL_ALIASES",
    "SIMULATED_MODEL",
    "WORDINGS",
    "FinishReason",
    "Reply",
    "canonical_model",
    "generate_reply",
    "number_words",
]

SIMULATED_MODEL = "gpt-4o-mini-sim"
# Code written for the real service asks for gpt-4o-mini; the simulation answers to it as well.
MODEL_ALIASES = frozenset({"gpt-4o-mini"})

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Reply:
    """One choice's answer: the text the model writes, of which at most `limit` tokens are
    sent; the tokens are found when first asked for, one at a time when streamed."""

    written: str
    limit: int

    @cached_property
    def tokens(self) -> tuple[str, ...]:
        """The tokens sent: one per streamed chunk."""
        return tuple(itertools.islice(iter_tokens(self.written), self.limit))

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @cached_property
    def finish_reason(self) -> FinishReason:
        """`length` when the limit cut the written text, else `stop`."""
        beyond = itertools.islice(iter_tokens(self.written), self.limit, None)
        return "length" if next(beyond, None) is not None else "stop"


def canonical_model(name: str) -> str | None:
    """The model id that answers to `name`, or None when the simulation has no such model."""
    return SIMULATED_MODEL if name == SIMULATED_MODEL or name in MODEL_ALIASES else None


def generate_reply(
    messages: Sequence[Mapping[str, object]],
    *,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    variant: int = 0,
    token_limit: int = MAX_COMPLETION_TOKENS,
) -> Reply:
    """Answer OpenAI-format messages; a nonzero `variant` picks another wording where one exists.

    The reply stops at `max_tokens` when the request names it, and at `token_limit` (the model's
    output limit unless the request's size lowers it) in any case.
    """
    assert max_tokens is None or max_tokens >= 1, "max_tokens must be positive"
    # The rules read a bounded start of each text, so no prompt makes them slow.
    question = next(
        (_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )[:MAX_RULE_CHARS]
    instructions = [
        _text_of(m.get("content"))[:MAX_RULE_CHARS]
        for m in messages
        if m.get("role") in _INSTRUCTING
    ]
    text = (
        _say(question)
        or _count(question)
        or _arithmetic(question, one_word=_asks_one_word([*instructions, question]))
        or _open_ended(question, variant=variant, max_tokens=max_tokens)
    )
    cuts = [text.find(s) for s in stop if s and s in text]
    if cuts:
        text = text[: min(cuts)]
    return Reply(text, min(token_limit, max_tokens or token_limit))


_INSTRUCTING = frozenset({"system", "developer"})
# Every pattern runs in time linear in the text: possessive quantifiers (`++`, `*+`) never give
# back what they matched, and a number is only tried from its first digit.
_SAY = regex.compile(
    r"\s*+(?:please\s++)?+(?:say|repeat)(?:\s++after\s++me)?+(?:\s*+[:,])?+\s", regex.IGNORECASE
)
_COUNT = regex.compile(
    r"\bcount(?:\s++(?:up|down))?+(?:\s++from\s++(?P<start>-?+\d++))?+"
    r"\s++to\s++(?P<end>-?+\d++)",
    regex.IGNORECASE,
)
_ONE_PER_LINE = regex.compile(
    r"(?<!\bno\s)\bnew\s?+lines?+\b|\bper\s++line\b|\bown\s++line\b"
    r"|\bseparate\s++lines\b",
    regex.IGNORECASE,
)
_NUMBER = r"(?<![\d.])-?+\d++(?:\.\d++)?+"
_ARITHMETIC = regex.compile(
    rf"(?P<a>{_NUMBER})\s*+"
    r"(?P<op>\+|-|\*|\u00d7|x|/|\u00f7|plus|minus|times|multiplied\s++by|divided\s++by)"
    rf"\s*+(?P<b>{_NUMBER})",
    regex.IGNORECASE,
)
_SYMBOLS = {"plus": "+", "minus": "-", "times": "*", "x": "*", "\u00d7": "*", "\u00f7": "/"}
_OPERATIONS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_ONE_WORD = regex.compile(r"\b(?:one|single|1)\s++word\b", regex.IGNORECASE)
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""


def _asks_one_word(texts: Sequence[str]) -> bool:
    return any(_ONE_WORD.search(text) for text in texts)


def _say(question: str) -> str | None:
    match = _SAY.match(question)
    if match is None:
        return None
    text = question[match.end() :].strip().rstrip(".!").rstrip()
    words = text.rsplit(maxsplit=2)
    times = 1
    if len(words) == 3 and words[2].lower() == "times" and _is_number(words[1]):
        text, times = words[0], _bounded(words[1], MAX_REPEATS)
    if not text:
        return None
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        text = text[1:-1]
    if len(text) > MAX_ECHO_CHARS:
        return (
            f"That is more than {MAX_ECHO_CHARS} characters; the simulation repeats at most "
            "that many."
        )
    times = min(times, MAX_REPLY_CHARS // (len(text) + 1))
    return " ".join([text] * max(times, 1))


def _is_number(word: str) -> bool:
    return word.isascii() and word.isdigit()


def _bounded(digits: str, most: int) -> int:
    """The number `digits` spells, or `most` if it is larger (or too long to read)."""
    return most if len(digits) > len(str(most)) else min(int(digits), most)


def _count(question: str) -> str | None:
    match = _COUNT.search(question)
    if match is None:
        return None
    too_many = f"That is more than {MAX_COUNT} numbers; the simulation counts at most that many."
    numbers = [number for number in match.group("start", "end") if number]
    if any(len(number.lstrip("-")) > MAX_NUMBER_DIGITS for number in numbers):
        return too_many
    start, end = int(match["start"] or 1), int(match["end"])
    if abs(end - start) + 1 > MAX_COUNT:
        return too_many
    step = 1 if end >= start else -1
    separator = "\n" if _ONE_PER_LINE.search(question) else ", "
    return separator.join(str(n) for n in range(start, end + step, step))


def _arithmetic(question: str, *, one_word: bool) -> str | None:
    match = _ARITHMETIC.search(question)
    if match is None:
        return None
    if any(sum(c.isdigit() for c in match[name]) > MAX_NUMBER_DIGITS for name in ("a", "b")):
        return (
            f"Those numbers are too long: the simulation calculates with at most "
            f"{MAX_NUMBER_DIGITS} digits."
        )
    a, b = Fraction(match["a"]), Fraction(match["b"])
    op = regex.sub(r"\s+", " ", match["op"].lower())
    op = {"multiplied by": "*", "divided by": "/"}.get(op, _SYMBOLS.get(op, op))
    if op == "/" and b == 0:
        return "Dividing by zero is undefined."
    result = _OPERATIONS[op](a, b)
    if one_word and result.denominator == 1 and abs(result) < 1_000_000:
        words = number_words(abs(int(result)))
        return f"{'Minus ' + words if result < 0 else words.capitalize()}."
    return f"{_format(a)} {op} {_format(b)} = {_format(result)}."


def _format(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.10g}"


_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number_words(n: int) -> str:
    """English words for 0 <= n < 1,000,000, e.g. 21 -> "twenty-one"."""
    assert 0 <= n < 1_000_000, f"number_words covers 0..999999, not {n}"
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    unit, size = ("hundred", 100) if n < 1000 else ("thousand", 1000)
    big, rest = divmod(n, size)
    return f"{number_words(big)} {unit}" + (f" {number_words(rest)}" if rest else "")


# Every wording says plainly that no language model is answering.
_OPENINGS = (
    "This reply comes from the offline simulation in the tutorial, not from a language model, "
    'so it cannot really answer "{excerpt}".',
    "No language model wrote this: the tutorial's offline simulation did, and it cannot really "
    'answer "{excerpt}".',
    "You are talking to the tutorial's offline simulation, not to a language model, so "
    '"{excerpt}" gets no real answer.',
)
_CAPABILITIES = (
    ' It can count ("Count to 20"), do simple arithmetic ("What\'s 6*7?") and repeat text '
    '("Say hello").'
)
# Open-ended replies grow by these sentences until they fill max_tokens.
_FILLER = (
    " Each token of this text travels as a chunk of its own.",
    " The pauses between chunks follow a recording of a real gpt-4o-mini stream.",
    " With max_tokens set, the reply is cut there and finish_reason says length.",
    " A stop sequence ends the reply just before the text it matches.",
    " The same request always gives the same reply, chunk for chunk.",
    " Bursts of chunks and short stalls are part of the simulated timing.",
)
_EXCERPT_CHARS = 40
WORDINGS = math.lcm(len(_OPENINGS), len(_FILLER))
"""Variants `v` and `v + WORDINGS` always give the same reply."""


def _open_ended(question: str, *, variant: int, max_tokens: int | None) -> str:
    excerpt = " ".join(question.split()) or "this request"
    if len(excerpt) > _EXCERPT_CHARS:
        excerpt = excerpt[: _EXCERPT_CHARS - 1].rstrip() + "\u2026"
    parts = [_OPENINGS[variant % len(_OPENINGS)].format(excerpt=excerpt), _CAPABILITIES]
    filler = itertools.cycle(_FILLER[variant % len(_FILLER) :] + _FILLER[: variant % len(_FILLER)])
    parts.append(next(filler))
    if max_tokens is not None:
        # Sentence boundaries split cleanly, so the running count matches the final tokenization.
        size = sum(count_tokens(part) for part in parts)
        while size <= max_tokens:
            sentence = next(filler)
            parts.append(sentence)
            size += count_tokens(sentence)
    return "".join(parts)
