"""Checks of a chat request that answer bad input as OpenAI does: status, message, param, code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helpers.server.checks import (
    check_kinds_and_ranges,
    check_metadata,
    check_stream_options,
    check_token_limit,
    content_part_type,
    empty_array,
    invalid_type,
    invalid_value,
    missing_parameter,
)
from helpers.server.errors import OpenAIError
from helpers.server.limits import MAX_COMPLETION_TOKENS, MAX_REQUEST_TOKENS
from helpers.server.model import canonical_model

__all__ = ["ChatRequest", "validate_chat_request"]

_MAX_STOP = 4


@dataclass(frozen=True)
class ChatRequest:
    """A checked chat request: what the simulation honours, with defaults filled in."""

    model: str
    messages: tuple[Mapping[str, Any], ...]
    stream: bool = False
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    temperature: float = 1.0
    seed: int | None = None
    include_usage: bool = False
    include_obfuscation: bool = True
    simulation: Mapping[str, Any] | None = None

    @property
    def token_limit(self) -> int:
        """The most tokens each choice may produce: `max_tokens` when named, else the model's
        output limit, lowered so that all `n` choices together stay within the request's."""
        if self.max_tokens is not None:
            return self.max_tokens
        return min(MAX_COMPLETION_TOKENS, MAX_REQUEST_TOKENS // self.n)


# Every parameter of the API's CreateChatCompletionRequest (plus this simulation's own
# `simulation`), with the JSON kinds it accepts; null is accepted by all of them. Those the
# simulation cannot act on are only type-checked (difference 3 in helpers.server.app).
_KINDS: dict[str, tuple[str, ...]] = {
    "audio": ("object",),
    "frequency_penalty": ("number",),
    "function_call": ("string", "object"),
    "functions": ("array",),
    "logit_bias": ("object",),
    "logprobs": ("boolean",),
    "max_completion_tokens": ("integer",),
    "max_tokens": ("integer",),
    "metadata": ("object",),
    "modalities": ("array",),
    "moderation": ("object",),
    "n": ("integer",),
    "parallel_tool_calls": ("boolean",),
    "prediction": ("object",),
    "presence_penalty": ("number",),
    "prompt_cache_key": ("string",),
    "prompt_cache_options": ("object",),
    "prompt_cache_retention": ("string",),
    "reasoning_effort": ("string",),
    "response_format": ("object",),
    "safety_identifier": ("string",),
    "seed": ("integer",),
    "service_tier": ("string",),
    "simulation": ("object",),
    "stop": ("string", "array"),
    "store": ("boolean",),
    "stream": ("boolean",),
    "stream_options": ("object",),
    "temperature": ("number",),
    "tool_choice": ("string", "object"),
    "tools": ("array",),
    "top_logprobs": ("integer",),
    "top_p": ("number",),
    "user": ("string",),
    "verbosity": ("string",),
    "web_search_options": ("object",),
}
_RANGES: dict[str, tuple[float, float]] = {
    "frequency_penalty": (-2, 2),
    "max_completion_tokens": (1, float("inf")),
    "max_tokens": (1, float("inf")),
    "n": (1, 128),
    "presence_penalty": (-2, 2),
    "temperature": (0, 2),
    "top_logprobs": (0, 20),
    "top_p": (0, 1),
}
_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_PART_TYPES = {
    "user": ("text", "image_url", "input_audio", "file"),
    "assistant": ("text", "refusal"),
}


def _check_request_tokens(n: int, max_tokens: int | None) -> None:
    """Refuse `n` choices whose named limit adds up to more than one request may produce."""
    if max_tokens is not None and n * max_tokens > MAX_REQUEST_TOKENS:
        raise OpenAIError(
            400,
            f"Invalid 'n': {n} choices of up to {max_tokens} tokens each ask for "
            f"{n * max_tokens} tokens; this simulated server produces at most "
            f"{MAX_REQUEST_TOKENS} tokens per request. Lower n or the token limit.",
            param="n",
            code="invalid_value",
        )


def validate_chat_request(body: object) -> ChatRequest:
    """Check a parsed body against the API's rules; raise OpenAIError for the first problem."""
    if not isinstance(body, dict):
        raise invalid_type("body", ("object",), body)
    for name in body:
        if name not in _KINDS and name not in ("model", "messages"):
            raise OpenAIError(400, f"Unrecognized request argument supplied: {name}")
    model = body.get("model")
    if model is None:
        raise OpenAIError(400, "you must provide a model parameter")
    if not isinstance(model, str):
        raise invalid_type("model", ("string",), model)
    messages = _check_messages(body.get("messages"))
    check_kinds_and_ranges(body, _KINDS, _RANGES)
    max_tokens = _max_tokens(body)
    _check_request_tokens(body.get("n") or 1, max_tokens)
    stream = body.get("stream") is True
    options = body.get("stream_options")
    check_stream_options(
        options, stream, ("include_usage", "include_obfuscation"), _unrecognized
    )
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(_check_stop(stop or []))
    check_metadata(body.get("metadata"))
    temperature = body.get("temperature")
    canonical = canonical_model(model)
    if canonical is None:
        raise OpenAIError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    return ChatRequest(
        model=canonical,
        messages=messages,
        stream=stream,
        max_tokens=max_tokens,
        stop=stops,
        n=body.get("n") or 1,
        temperature=float(1.0 if temperature is None else temperature),
        seed=body.get("seed"),
        include_usage=bool(options and options.get("include_usage")),
        include_obfuscation=not (options and options.get("include_obfuscation") is False),
        simulation=body.get("simulation"),
    )


def _unrecognized(param: str) -> OpenAIError:
    """A stream option chat does not know (the body's own unknown names get no `param`)."""
    return OpenAIError(400, f"Unrecognized request argument supplied: {param}", param=param)


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    # Both limits given: the tighter one wins (difference 4 in helpers.server.app).
    limits = {
        name: body[name]
        for name in ("max_tokens", "max_completion_tokens")
        if body.get(name) is not None
    }
    for name, value in limits.items():
        check_token_limit(name, value, "completion")
    return min(limits.values()) if limits else None


def _check_stop(stop: list[Any]) -> list[str]:
    if len(stop) > _MAX_STOP:
        raise OpenAIError(
            400,
            f"Invalid 'stop': array too long. Expected an array with maximum length {_MAX_STOP}, "
            f"but got an array with length {len(stop)} instead.",
            param="stop",
            code="array_above_max_length",
        )
    for index, item in enumerate(stop):
        if not isinstance(item, str):
            raise invalid_type(f"stop[{index}]", ("string",), item)
    return stop


def _check_messages(messages: object) -> tuple[Mapping[str, Any], ...]:
    if messages is None:
        raise missing_parameter("messages")
    if not isinstance(messages, list):
        raise invalid_type("messages", ("array",), messages)
    if not messages:
        raise empty_array("messages")
    for index, message in enumerate(messages):
        _check_message(f"messages[{index}]", message)
    return tuple(messages)


def _check_message(param: str, message: object) -> None:
    if not isinstance(message, dict):
        raise invalid_type(param, ("object",), message)
    role = message.get("role")
    if role is None:
        raise missing_parameter(f"{param}.role")
    if role not in _ROLES:
        supported = ", ".join(f"'{r}'" for r in _ROLES[:-1]) + f", and '{_ROLES[-1]}'"
        raise invalid_value(f"{param}.role", role, supported)
    content = message.get("content")
    if content is None and role not in ("assistant", "function"):
        raise missing_parameter(f"{param}.content")
    if content is not None:
        _check_content(f"{param}.content", content, _PART_TYPES.get(role, ("text",)))
    for key in ("name", "tool_call_id"):
        value = message.get(key)
        if value is not None and not isinstance(value, str):
            raise invalid_type(f"{param}.{key}", ("string",), value)
    if role == "tool" and message.get("tool_call_id") is None:
        raise missing_parameter(f"{param}.tool_call_id")


def _check_content(param: str, content: object, part_types: tuple[str, ...]) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid_type(param, ("string", "array"), content)
    if not content:
        raise empty_array(param)
    for index, part in enumerate(content):
        where = f"{param}[{index}]"
        kind = content_part_type(where, part, part_types)
        if kind in ("text", "refusal") and not isinstance(part.get(kind), str):
            raise invalid_type(f"{where}.{kind}", ("string",), part.get(kind))
