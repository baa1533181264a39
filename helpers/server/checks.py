"""The request checks chat and Responses share, answering bad input as OpenAI does: the JSON
kinds a parameter accepts, numeric ranges, content part types, metadata, and the error each
problem gets (status, message, param, code)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from helpers.server.errors import OpenAIError
from helpers.server.limits import MAX_COMPLETION_TOKENS

__all__ = [
    "Kinds",
    "Ranges",
    "accepts",
    "check_kinds_and_ranges",
    "check_metadata",
    "check_range",
    "check_stream_options",
    "check_token_limit",
    "content_part_type",
    "empty_array",
    "invalid_type",
    "invalid_value",
    "json_kind",
    "missing_parameter",
    "parse_json_body",
    "stream_options_without_stream",
]

_MAX_METADATA = 16
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# How OpenAI's messages name each JSON kind.
_NOUNS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a decimal",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}

# Parameter name -> the JSON kinds it accepts (null is accepted by all).
Kinds = Mapping[str, tuple[str, ...]]
# Parameter name -> its (lowest, highest) allowed value.
Ranges = Mapping[str, tuple[float, float]]


def parse_json_body(raw: bytes) -> object:
    """The request body as JSON, or OpenAI's answer to a body that is not JSON.

    JSON may spell half of a surrogate pair (`"\\ud800"`), which no UTF-8 text can hold: each
    one becomes U+FFFD, so that everything written or hashed later is valid text.
    """
    try:
        return _whole_text(json.loads(raw, parse_constant=_reject_constant))
    except (ValueError, RecursionError):
        raise OpenAIError(
            400,
            "We could not parse the JSON body of your request. The API expects a JSON payload, "
            "but what was sent was not valid JSON.",
        ) from None


def json_kind(value: object) -> str:
    """The JSON kind of a parsed value: string, integer, number, boolean, array, object, null."""
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


def accepts(kinds: tuple[str, ...], value: object) -> bool:
    """Whether `value` is one of `kinds`; an integer is also a number."""
    kind = json_kind(value)
    return kind in kinds or (kind == "integer" and "number" in kinds)


def invalid_type(param: str, kinds: tuple[str, ...], value: object) -> OpenAIError:
    expected = " or ".join(_NOUNS[kind] for kind in kinds)
    return OpenAIError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got "
        f"{_NOUNS[json_kind(value)]} instead.",
        param=param,
        code="invalid_type",
    )


def invalid_value(param: str, value: object, supported: str) -> OpenAIError:
    message = f"Invalid value: '{value}'. Supported values are: {supported}."
    return OpenAIError(400, message, param=param, code="invalid_value")


def missing_parameter(param: str) -> OpenAIError:
    message = f"Missing required parameter: '{param}'."
    return OpenAIError(400, message, param=param, code="missing_required_parameter")


def empty_array(param: str) -> OpenAIError:
    return OpenAIError(
        400,
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
        "but got an empty array instead.",
        param=param,
        code="empty_array",
    )


def stream_options_without_stream() -> OpenAIError:
    message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    return OpenAIError(400, message, param="stream_options", code="invalid_value")


def check_range(name: str, value: float, kinds: tuple[str, ...], low: float, high: float) -> None:
    """Refuse `value` outside [low, high]; `kinds` says whether to call it an integer."""
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


def check_kinds_and_ranges(body: Mapping[str, Any], kinds: Kinds, ranges: Ranges) -> None:
    """Check every parameter of `kinds` that `body` sets: its JSON kind, then its range."""
    for name, accepted in kinds.items():
        value = body.get(name)
        if value is None:
            continue
        if not accepts(accepted, value):
            raise invalid_type(name, accepted, value)
        if name in ranges:
            check_range(name, value, accepted, *ranges[name])


def check_token_limit(name: str, value: int | None, unit: str) -> None:
    """Refuse a token limit above what the model can produce; `unit` names its tokens."""
    if value is not None and value > MAX_COMPLETION_TOKENS:
        raise OpenAIError(
            400,
            f"{name} is too large: {value}. This model supports at most "
            f"{MAX_COMPLETION_TOKENS} {unit} tokens, whereas you provided {value}.",
            param=name,
            code="invalid_value",
        )


def check_stream_options(
    options: Mapping[str, Any] | None,
    stream: bool,
    known: tuple[str, ...],
    unknown: Callable[[str], OpenAIError],
) -> None:
    """Check `stream_options`: allowed only with `stream`, only `known` keys (anything else gets
    the error `unknown` builds), each a boolean."""
    if options is None:
        return
    if not stream:
        raise stream_options_without_stream()
    for key, value in options.items():
        param = f"stream_options.{key}"
        if key not in known:
            raise unknown(param)
        if not isinstance(value, bool):
            raise invalid_type(param, ("boolean",), value)


def check_metadata(metadata: Mapping[str, Any] | None) -> None:
    """At most 16 string values, keys up to 64 characters and values up to 512."""
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
            raise invalid_type(f"metadata.{key}", ("string",), value)
        if len(key) > 64 or len(value) > 512:
            raise OpenAIError(
                400,
                f"Invalid 'metadata.{key[:64]}': keys may have up to 64 characters and values up "
                "to 512.",
                param="metadata",
                code="string_above_max_length",
            )


def content_part_type(param: str, part: object, types: tuple[str, ...]) -> str:
    """The `type` of a content part, which must be an object of one of `types`."""
    if not isinstance(part, dict):
        raise invalid_type(param, ("object",), part)
    kind = part.get("type")
    if kind not in types:
        supported = ", ".join(f"'{t}'" for t in types)
        raise invalid_value(f"{param}.type", kind, supported)
    return str(kind)


def _whole_text(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_whole_text(item) for item in value]
    if isinstance(value, dict):
        return {_whole_text(key): _whole_text(item) for key, item in value.items()}
    return value


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")
