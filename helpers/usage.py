"""The usage panel: the token counts a response reported, or an estimate when it reported none."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion
from openai.types.responses import Response, ResponseUsage
from pydantic import BaseModel

from helpers.recorder import Recorder
from helpers.server.tokens import count_prompt_tokens, count_tokens
from helpers.table import Table

__all__ = ["show_usage"]

_ASK_FOR_USAGE = 'a stream sends it when asked: stream_options={"include_usage": True}'


def show_usage(
    source: CompletionUsage | ResponseUsage | Recorder | ChatCompletion | Response,
    messages: Iterable[Mapping[str, object]] | None = None,
) -> Table:
    """A panel of prompt, completion and total tokens with their details (input and output
    tokens for the Responses API).

    `source` is a usage object, a Recorder, a ChatCompletion or a Response. Without usage in
    it, completion tokens are estimated from the text, and prompt tokens from `messages` when
    given; the panel says so.
    """
    assert isinstance(
        source, CompletionUsage | ResponseUsage | Recorder | ChatCompletion | Response
    ), (
        "show_usage takes a usage object, a Recorder, a ChatCompletion or a Response, "
        f"not {type(source).__name__}"
    )
    usage = source if isinstance(source, CompletionUsage | ResponseUsage) else source.usage
    if usage is not None:
        return Table(_reported(usage), title="Token usage, as the server reported it")
    return _estimated(_reply_text(source), messages)


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


def _reply_text(source: object) -> str:
    if isinstance(source, Recorder):
        return "".join(source.texts.values())
    if isinstance(source, Response):
        return source.output_text
    assert isinstance(source, ChatCompletion)
    return "".join(choice.message.content or "" for choice in source.choices)


def _estimated(text: str, messages: Iterable[Mapping[str, object]] | None) -> Table:
    completion = count_tokens(text)
    if messages is None:
        rows = [
            ("prompt tokens", "unknown: pass messages= to estimate them"),
            ("completion tokens", f"≈{completion}"),
        ]
    else:
        prompt = count_prompt_tokens(messages)
        rows = [
            ("prompt tokens", f"≈{prompt}"),
            ("completion tokens", f"≈{completion}"),
            ("total tokens", f"≈{prompt + completion}"),
        ]
    title = f"Token usage, estimated: the server sent none ({_ASK_FOR_USAGE})"
    return Table(rows, title=title)
