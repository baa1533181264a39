"""Checks of a Responses API request, answered as OpenAI does, and its chat equivalent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helpers.server.chat_request import (
    MAX_COMPLETION_TOKENS,
    ChatRequest,
    OpenAIError,
    _accepts,
    _check_metadata,
    _invalid_type,
    _invalid_value,
    _missing,
    _part_type,
    _stream_options_without_stream,
)
from helpers.server.model import canonical_model

__all__ = ["MIN_OUTPUT_TOKENS", "ResponsesRequest", "validate_responses_request"]

# The API refuses a smaller `max_output_tokens` (CreateResponse in the OpenAPI spec).
MIN_OUTPUT_TOKENS = 16

# Every parameter of the API's CreateResponse (plus this simulation's `simulation`), with the
# JSON kinds it accepts; null is accepted by all. The ones the simulation cannot act on (tools,
# conversation state, background mode, ...) are only type-checked.
_KINDS: dict[str, tuple[str, ...]] = {
    "background": ("boolean",),
    "context_management": ("array",),
    "conversation": ("string", "object"),
    "include": ("array",),
    "input": ("string", "array"),
    "instructions": ("string",),
    "max_output_tokens": ("integer",),
    "max_tool_calls": ("integer",),
    "metadata": ("object",),
    "model": ("string",),
    "moderation": ("object",),
    "parallel_tool_calls": ("boolean",),
    "previous_response_id": ("string",),
    "prompt": ("object",),
    "prompt_cache_key": ("string",),
    "prompt_cache_options": ("object",),
    "prompt_cache_retention": ("string",),
    "reasoning": ("object",),
    "safety_identifier": ("string",),
    "service_tier": ("string",),
    "simulation": ("object",),
    "store": ("boolean",),
    "stream": ("boolean",),
    "stream_options": ("object",),
    "temperature": ("number",),
    "text": ("object",),
    "tool_choice": ("string", "object"),
    "tools": ("array",),
    "top_logprobs": ("integer",),
    "top_p": ("number",),
    "truncation": ("string",),
    "user": ("string",),
}
_RANGES: dict[str, tuple[float, float]] = {
    "max_output_tokens": (MIN_OUTPUT_TOKENS, float("inf")),
    "temperature": (0, 2),
    "top_logprobs": (0, 20),
    "top_p": (0, 1),
}
_ROLES = ("user", "assistant", "system", "developer")
# Input content parts by role, and the chat part each becomes (so token counts agree).
_PART_TYPES = {
    "assistant": ("output_text", "refusal"),
}
_INPUT_PARTS = ("input_text", "input_image", "input_file")
_CHAT_PART = {"input_text": "text", "output_text": "text", "refusal": "refusal"}


@dataclass(frozen=True)
class ResponsesRequest:
    """A checked Responses request: the chat request the simulated model answers, and what
    the response object echoes back."""

    chat: ChatRequest
    instructions: str | None
    max_output_tokens: int | None
    echo: Mapping[str, Any]
    include_obfuscation: bool = True

    @property
    def model(self) -> str:
        return self.chat.model

    @property
    def stream(self) -> bool:
        return self.chat.stream

    @property
    def simulation(self) -> Mapping[str, Any] | None:
        return self.chat.simulation


def validate_responses_request(body: object) -> ResponsesRequest:
    """Check a parsed body against the API's rules; raise OpenAIError for the first problem."""
    if not isinstance(body, dict):
        raise _invalid_type("body", ("object",), body)
    for name in body:
        if name not in _KINDS:
            raise OpenAIError(400, f"Unknown parameter: '{name}'.", param=name,
                              code="unknown_parameter")
    if body.get("model") is None:
        raise _missing("model")
    for name, kinds in _KINDS.items():
        value = body.get(name)
        if value is not None and not _accepts(kinds, value):
            raise _invalid_type(name, kinds, value)
        if value is not None and name in _RANGES:
            _check_range(name, value, kinds, *_RANGES[name])
    limit = body.get("max_output_tokens")
    if limit is not None and limit > MAX_COMPLETION_TOKENS:
        raise OpenAIError(
            400,
            f"max_output_tokens is too large: {limit}. This model supports at most "
            f"{MAX_COMPLETION_TOKENS} output tokens, whereas you provided {limit}.",
            param="max_output_tokens",
            code="invalid_value",
        )
    messages = _messages(body.get("input"))
    instructions = body.get("instructions")
    if instructions is not None:
        messages.insert(0, {"role": "system", "content": instructions})
    stream = body.get("stream") is True
    obfuscate = _stream_options(body.get("stream_options"), stream)
    _check_metadata(body.get("metadata"))
    model = canonical_model(body["model"])
    if model is None:
        raise OpenAIError(
            404,
            f"The model `{body['model']}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    temperature = body.get("temperature")
    chat = ChatRequest(
        model=model,
        messages=tuple(messages),
        stream=stream,
        max_tokens=limit,
        temperature=float(1.0 if temperature is None else temperature),
        simulation=body.get("simulation"),
    )
    echo = {name: body.get(name) for name in _ECHOED}
    return ResponsesRequest(chat, instructions, limit, echo, obfuscate)


# Parameters the response object repeats as they were sent (null when absent).
_ECHOED = (
    "metadata",
    "previous_response_id",
    "prompt_cache_key",
    "safety_identifier",
    "store",
    "temperature",
    "top_p",
    "user",
)


def _check_range(name: str, value: float, kinds: tuple[str, ...], low: float, high: float) -> None:
    if low <= value <= high:
        return
    noun = "integer" if kinds == ("integer",) else "decimal"
    below = value < low
    side, sign, bound = ("below minimum", ">=", low) if below else ("above maximum", "<=", high)
    raise OpenAIError(
        400,
        f"Invalid '{name}': {noun} {side} value. "
        f"Expected a value {sign} {bound:g}, but got {value} instead.",
        param=name,
        code=f"{noun}_{'below_min' if below else 'above_max'}_value",
    )


def _stream_options(options: Mapping[str, Any] | None, stream: bool) -> bool:
    if options is None:
        return True
    if not stream:
        raise _stream_options_without_stream()
    for key, value in options.items():
        param = f"stream_options.{key}"
        if key != "include_obfuscation":
            raise OpenAIError(400, f"Unknown parameter: '{param}'.", param=param,
                              code="unknown_parameter")
        if not isinstance(value, bool):
            raise _invalid_type(param, ("boolean",), value)
    return options.get("include_obfuscation") is not False


def _messages(value: object) -> list[dict[str, Any]]:
    if value is None:
        raise _missing("input")
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    assert isinstance(value, list), "the kind check admits only a string or an array"
    if not value:
        raise OpenAIError(
            400,
            "Invalid 'input': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="input",
            code="empty_array",
        )
    return [_message(f"input[{index}]", item) for index, item in enumerate(value)]


def _message(param: str, item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _invalid_type(param, ("object",), item)
    kind = item.get("type", "message")
    if kind != "message":
        # Tool calls and their outputs need a model that calls tools (difference 3).
        raise OpenAIError(
            400,
            f"Invalid value: '{kind}'. The simulated model reads only 'message' input items.",
            param=f"{param}.type",
            code="invalid_value",
        )
    role = item.get("role")
    if role is None:
        raise _missing(f"{param}.role")
    if role not in _ROLES:
        supported = ", ".join(f"'{r}'" for r in _ROLES)
        raise _invalid_value(f"{param}.role", role, supported)
    content = item.get("content")
    if content is None:
        raise _missing(f"{param}.content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise _invalid_type(f"{param}.content", ("string", "array"), content)
    types = _PART_TYPES.get(role, _INPUT_PARTS)
    parts = [_part(f"{param}.content[{i}]", part, types) for i, part in enumerate(content)]
    return {"role": role, "content": parts}


def _part(param: str, part: Any, types: tuple[str, ...]) -> dict[str, Any]:
    kind = _part_type(param, part, types)
    key = "refusal" if kind == "refusal" else "text"
    if kind in _CHAT_PART:
        if not isinstance(part.get(key), str):
            raise _invalid_type(f"{param}.{key}", ("string",), part.get(key))
        return {"type": _CHAT_PART[kind], _CHAT_PART[kind]: part[key]}
    # Images and files keep their own type: the token count treats them as non-text parts.
    return dict(part)
