"""Checks of a Responses API request, answered as OpenAI does, and its chat equivalent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helpers.server.chat_request import ChatRequest
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
        raise invalid_type("body", ("object",), body)
    for name in body:
        if name not in _KINDS:
            raise _unknown(name)
    if body.get("model") is None:
        raise missing_parameter("model")
    check_kinds_and_ranges(body, _KINDS, _RANGES)
    limit = body.get("max_output_tokens")
    check_token_limit("max_output_tokens", limit, "output")
    messages = _messages(body.get("input"))
    instructions = body.get("instructions")
    if instructions is not None:
        messages.insert(0, {"role": "system", "content": instructions})
    stream = body.get("stream") is True
    options = body.get("stream_options")
    check_stream_options(options, stream, ("include_obfuscation",), _unknown)
    obfuscate = not (options and options.get("include_obfuscation") is False)
    check_metadata(body.get("metadata"))
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


def _unknown(param: str) -> OpenAIError:
    return OpenAIError(400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


def _messages(value: object) -> list[dict[str, Any]]:
    if value is None:
        raise missing_parameter("input")
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    assert isinstance(value, list), "the kind check admits only a string or an array"
    if not value:
        raise empty_array("input")
    return [_message(f"input[{index}]", item) for index, item in enumerate(value)]


def _message(param: str, item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise invalid_type(param, ("object",), item)
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
        raise missing_parameter(f"{param}.role")
    if role not in _ROLES:
        supported = ", ".join(f"'{r}'" for r in _ROLES)
        raise invalid_value(f"{param}.role", role, supported)
    content = item.get("content")
    if content is None:
        raise missing_parameter(f"{param}.content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise invalid_type(f"{param}.content", ("string", "array"), content)
    types = _PART_TYPES.get(role, _INPUT_PARTS)
    parts = [_part(f"{param}.content[{i}]", part, types) for i, part in enumerate(content)]
    return {"role": role, "content": parts}


def _part(param: str, part: Any, types: tuple[str, ...]) -> dict[str, Any]:
    kind = content_part_type(param, part, types)
    key = "refusal" if kind == "refusal" else "text"
    if kind in _CHAT_PART:
        if not isinstance(part.get(key), str):
            raise invalid_type(f"{param}.{key}", ("string",), part.get(key))
        return {"type": _CHAT_PART[kind], _CHAT_PART[kind]: part[key]}
    # Images and files keep their own type: the token count treats them as non-text parts.
    return dict(part)
