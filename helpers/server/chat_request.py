"""Checks of a chat request that answer bad input as OpenAI does: status, message, param, code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helpers.server.chat_wire import JSON, error_body
from helpers.server.model import canonical_model

__all__ = [
    "MAX_COMPLETION_TOKENS",
    "ChatRequest",
    "OpenAIError",
    "parse_json_body",
    "validate_chat_request",
]

# gpt-4o-mini's output limit.
MAX_COMPLETION_TOKENS = 16_384
_MAX_STOP = 4
_MAX_METADATA = 16


class OpenAIError(Exception):
    """A condition the API answers with an HTTP status and OpenAI's error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> JSON:
        return error_body(self.message, self.type, self.param, self.code)


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


# Every parameter of the API's CreateChatCompletionRequest (plus this simulation's own
# `simulation`), with the JSON kinds it accepts; null is accepted by all of them. Those the
# simulation cannot act on are only type-checked (difference 3 in _server.py).
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
_NOUNS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a decimal",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def parse_json_body(raw: bytes) -> object:
    """The request body as JSON, or OpenAI's answer to a body that is not JSON."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise OpenAIError(
            400,
            "We could not parse the JSON body of your request. The API expects a JSON payload, "
            "but what was sent was not valid JSON.",
        ) from None


def validate_chat_request(body: object) -> ChatRequest:
    """Check a parsed body against the API's rules; raise OpenAIError for the first problem."""
    if not isinstance(body, dict):
        raise _invalid_type("body", ("object",), body)
    for name in body:
        if name not in _KINDS and name not in ("model", "messages"):
            raise OpenAIError(400, f"Unrecognized request argument supplied: {name}")
    model = body.get("model")
    if model is None:
        raise OpenAIError(400, "you must provide a model parameter")
    if not isinstance(model, str):
        raise _invalid_type("model", ("string",), model)
    messages = _check_messages(body.get("messages"))
    for name, kinds in _KINDS.items():
        value = body.get(name)
        if value is not None and not _accepts(kinds, value):
            raise _invalid_type(name, kinds, value)
        if value is not None and name in _RANGES:
            _check_range(name, value, *_RANGES[name])
    max_tokens = _max_tokens(body)
    stream = body.get("stream") is True
    options = body.get("stream_options")
    if options is not None:
        _check_stream_options(options, stream)
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(_check_stop(stop or []))
    _check_metadata(body.get("metadata"))
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


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _accepts(kinds: tuple[str, ...], value: object) -> bool:
    kind = _kind(value)
    return kind in kinds or (kind == "integer" and "number" in kinds)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _invalid_type(param: str, kinds: tuple[str, ...], value: object) -> OpenAIError:
    expected = " or ".join(_NOUNS[kind] for kind in kinds)
    return OpenAIError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_NOUNS[_kind(value)]} instead.",
        param=param,
        code="invalid_type",
    )


def _invalid_value(param: str, value: object, supported: str) -> OpenAIError:
    message = f"Invalid value: '{value}'. Supported values are: {supported}."
    return OpenAIError(400, message, param=param, code="invalid_value")


def _missing(param: str) -> OpenAIError:
    message = f"Missing required parameter: '{param}'."
    return OpenAIError(400, message, param=param, code="missing_required_parameter")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    noun = "integer" if _KINDS[name] == ("integer",) else "decimal"
    if value < low:
        raise OpenAIError(
            400,
            f"Invalid '{name}': {noun} below minimum value. "
            f"Expected a value >= {low:g}, but got {value} instead.",
            param=name,
            code=f"{noun}_below_min_value",
        )
    if value > high:
        raise OpenAIError(
            400,
            f"Invalid '{name}': {noun} above maximum value. "
            f"Expected a value <= {high:g}, but got {value} instead.",
            param=name,
            code=f"{noun}_above_max_value",
        )


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    # Both limits given: the tighter one wins (difference 4 in _server.py).
    limits = {
        name: body[name]
        for name in ("max_tokens", "max_completion_tokens")
        if body.get(name) is not None
    }
    for name, value in limits.items():
        if value > MAX_COMPLETION_TOKENS:
            raise OpenAIError(
                400,
                f"{name} is too large: {value}. This model supports at most "
                f"{MAX_COMPLETION_TOKENS} completion tokens, whereas you provided {value}.",
                param=name,
                code="invalid_value",
            )
    return min(limits.values()) if limits else None


def _stream_options_without_stream() -> OpenAIError:
    message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    return OpenAIError(400, message, param="stream_options", code="invalid_value")


def _check_stream_options(options: Mapping[str, Any], stream: bool) -> None:
    if not stream:
        raise _stream_options_without_stream()
    for key, value in options.items():
        param = f"stream_options.{key}"
        if key not in ("include_usage", "include_obfuscation"):
            raise OpenAIError(400, f"Unrecognized request argument supplied: {param}", param=param)
        if not isinstance(value, bool):
            raise _invalid_type(param, ("boolean",), value)


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
            raise _invalid_type(f"stop[{index}]", ("string",), item)
    return stop


def _check_metadata(metadata: Mapping[str, Any] | None) -> None:
    if metadata is None:
        return
    if len(metadata) > _MAX_METADATA:
        raise OpenAIError(
            400,
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{_MAX_METADATA} properties, but got an object with {len(metadata)} properties "
            "instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise _invalid_type(f"metadata.{key}", ("string",), value)
        if len(key) > 64 or len(value) > 512:
            raise OpenAIError(
                400,
                f"Invalid 'metadata.{key[:64]}': keys may have up to 64 characters and values up "
                "to 512.",
                param="metadata",
                code="string_above_max_length",
            )


def _check_messages(messages: object) -> tuple[Mapping[str, Any], ...]:
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _invalid_type("messages", ("array",), messages)
    if not messages:
        raise OpenAIError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        _check_message(f"messages[{index}]", message)
    return tuple(messages)


def _check_message(param: str, message: object) -> None:
    if not isinstance(message, dict):
        raise _invalid_type(param, ("object",), message)
    role = message.get("role")
    if role is None:
        raise _missing(f"{param}.role")
    if role not in _ROLES:
        supported = ", ".join(f"'{r}'" for r in _ROLES[:-1]) + f", and '{_ROLES[-1]}'"
        raise _invalid_value(f"{param}.role", role, supported)
    content = message.get("content")
    if content is None and role not in ("assistant", "function"):
        raise _missing(f"{param}.content")
    if content is not None:
        _check_content(f"{param}.content", content, _PART_TYPES.get(role, ("text",)))
    for key in ("name", "tool_call_id"):
        value = message.get(key)
        if value is not None and not isinstance(value, str):
            raise _invalid_type(f"{param}.{key}", ("string",), value)
    if role == "tool" and message.get("tool_call_id") is None:
        raise _missing(f"{param}.tool_call_id")


def _part_type(param: str, part: object, types: tuple[str, ...]) -> str:
    """The `type` of a content part, which must be an object of one of `types`."""
    if not isinstance(part, dict):
        raise _invalid_type(param, ("object",), part)
    kind = part.get("type")
    if kind not in types:
        supported = ", ".join(f"'{t}'" for t in types)
        raise _invalid_value(f"{param}.type", kind, supported)
    return str(kind)


def _check_content(param: str, content: object, part_types: tuple[str, ...]) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _invalid_type(param, ("string", "array"), content)
    if not content:
        raise OpenAIError(
            400,
            f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param=param,
            code="empty_array",
        )
    for index, part in enumerate(content):
        where = f"{param}[{index}]"
        kind = _part_type(where, part, part_types)
        if kind in ("text", "refusal") and not isinstance(part.get(kind), str):
            raise _invalid_type(f"{where}.{kind}", ("string",), part.get(kind))
