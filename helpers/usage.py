"""The usage panel: the token counts a response reported, or an estimate when it reported none.

A stream's completion tokens are estimated as its metrics estimate them (`helpers.metrics`); a
whole response's, and prompt tokens, with the o200k pre-tokenizer, which says so when the model
is not one that tokenizes as o200k does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion
from openai.types.responses import Response, ResponseUsage
from pydantic import BaseModel

from helpers.metrics import TokenCount, uses_o200k
from helpers.recorder import Recorder
from helpers.server.tokens import count_prompt_tokens, count_tokens
from helpers.table import Table

__all__ = ["show_usage"]

_REPORTED = "Token usage, as the server reported it"
_ASK_FOR_USAGE = 'a stream sends it when asked: stream_options={"include_usage": True}'


def show_usage(
    source: CompletionUsage | ResponseUsage | Recorder | ChatCompletion | Response,
    messages: Iterable[Mapping[str, object]] | None = None,
) -> Table:
    """A panel of prompt, completion and total tokens with their details (input and output
    tokens for the Responses API).

    `source` is a usage object, a Recorder, a ChatCompletion or a Response. Without usage in
    it, completion tokens are estimated, and prompt tokens from `messages` when given; each
    figure says how.
    """
    assert isinstance(
        source, CompletionUsage | ResponseUsage | Recorder | ChatCompletion | Response
    ), (
        "show_usage takes a usage object, a Recorder, a ChatCompletion or a Response, "
        f"not {type(source).__name__}"
    )
    if isinstance(source, CompletionUsage | ResponseUsage):
        return Table(_reported(source), title=_REPORTED)
    if source.usage is not None:
        return Table(_reported(source.usage), title=_REPORTED)
    return _estimated(source, messages)


def _reported(usage: CompletionUsage | ResponseUsage) -> list[tuple[str, str]]:
    counts: list[tuple[str, int, BaseModel | None]] = (
        [
            ("input tokens", usage.input_tokens, usage.input_tokens_details),
            ("output tokens", usage.output_tokens, usage.output_tokens_details),
        ]
        if isinstance(usage, ResponseUsage)
        else [
            ("prompt tokens", usage.prompt_tokens, usage.prompt_tokens_details),
            ("completion tokens", usage.completion_tokens, usage.completion_tokens_details),
        ]
    )
    rows: list[tuple[str, str]] = []
    for label, count, details in counts:
        rows += [(label, str(count)), *_details(details)]
    rows.append(("total tokens", str(usage.total_tokens)))
    return rows


def _details(details: BaseModel | None) -> list[tuple[str, str]]:
    """One indented row per count the details object carries (engines add their own)."""
    if details is None:
        return []
    return [
        (f"  {name.replace('_', ' ')}", str(value))
        for name, value in details.model_dump(exclude_none=True).items()
        if isinstance(value, int)
    ]


def _completion(source: Recorder | ChatCompletion | Response) -> tuple[int, str]:
    """The estimated completion tokens, and how the panel shows them."""
    if isinstance(source, Recorder):
        tokens = source.tokens
        return tokens.count, tokens.value()
    if isinstance(source, Response):
        text = source.output_text
    else:
        text = "".join(choice.message.content or "" for choice in source.choices)
    count = count_tokens(text)
    return count, _pretokenized(count, source.model)


def _pretokenized(count: int, model: str | None) -> str:
    shown = TokenCount(count, "o200k").value()
    return shown if uses_o200k(model) else f"{shown} (OpenAI's; this model's may count otherwise)"


def _estimated(
    source: Recorder | ChatCompletion | Response, messages: Iterable[Mapping[str, object]] | None
) -> Table:
    completion, shown = _completion(source)
    if messages is None:
        rows = [
            ("prompt tokens", "unknown: pass messages= to estimate them"),
            ("completion tokens", shown),
        ]
    else:
        prompt = count_prompt_tokens(messages)
        rows = [
            ("prompt tokens", _pretokenized(prompt, source.model)),
            ("completion tokens", shown),
            ("total tokens", f"≈{prompt + completion}"),
        ]
    title = f"Token usage, estimated: the server sent none ({_ASK_FOR_USAGE})"
    return Table(rows, title=title)
