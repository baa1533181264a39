"""The request checks chat and Responses share, with OpenAI's exact messages and codes."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.server.checks import (
    accepts,
    check_kinds_and_ranges,
    check_metadata,
    check_range,
    check_stream_options,
    check_token_limit,
    content_part_type,
    empty_array,
    invalid_type,
    invalid_value,
    json_kind,
    missing_parameter,
    parse_json_body,
    stream_options_without_stream,
)
from helpers.server.errors import OpenAIError


def raised(call: Any, *args: Any) -> OpenAIError:
    with pytest.raises(OpenAIError) as caught:
        call(*args)
    return caught.value


def fields(error: OpenAIError) -> tuple[int, str, str | None, str | None]:
    return error.status, error.message, error.param, error.code


@pytest.mark.parametrize(
    ("value", "kind"),
    [(True, "boolean"), (3, "integer"), (3.0, "number"), ("x", "string"), ([], "array"),
     ({}, "object"), (None, "null")],
)
def test_json_kinds(value: object, kind: str) -> None:
    assert json_kind(value) == kind


def test_an_integer_is_a_number_but_a_boolean_is_not() -> None:
    assert accepts(("number",), 2)
    assert accepts(("number",), 2.5)
    assert not accepts(("integer",), 2.5)
    assert not accepts(("integer",), True)
    assert not accepts(("number",), False)
    assert accepts(("string", "array"), ["a"])


def test_a_wrong_kind_gets_openais_message() -> None:
    assert fields(invalid_type("n", ("integer",), "2")) == (
        400,
        "Invalid type for 'n': expected an integer, but got a string instead.",
        "n",
        "invalid_type",
    )
    assert invalid_type("stop", ("string", "array"), 1.5).message == (
        "Invalid type for 'stop': expected a string or an array, but got a decimal instead."
    )


def test_value_missing_and_empty_array_errors() -> None:
    assert fields(invalid_value("messages[0].role", "robot", "'user'")) == (
        400, "Invalid value: 'robot'. Supported values are: 'user'.", "messages[0].role",
        "invalid_value",
    )
    assert fields(missing_parameter("input")) == (
        400, "Missing required parameter: 'input'.", "input", "missing_required_parameter",
    )
    assert fields(empty_array("messages")) == (
        400,
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
        "empty array instead.",
        "messages",
        "empty_array",
    )
    assert fields(stream_options_without_stream()) == (
        400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        "stream_options", "invalid_value",
    )


def test_a_value_below_the_range() -> None:
    error = raised(check_range, "n", 0, ("integer",), 1, 128)
    assert fields(error) == (
        400,
        "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
        "n",
        "integer_below_min_value",
    )


def test_a_value_above_the_range() -> None:
    error = raised(check_range, "temperature", 2.5, ("number",), 0, 2)
    assert fields(error) == (
        400,
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 "
        "instead.",
        "temperature",
        "decimal_above_max_value",
    )


@pytest.mark.parametrize("value", [0, 1, 2, 0.5])
def test_the_bounds_are_inside_the_range(value: float) -> None:
    check_range("temperature", value, ("number",), 0, 2)


def test_kinds_then_ranges_of_every_parameter_set() -> None:
    kinds = {"n": ("integer",), "top_p": ("number",), "user": ("string",)}
    ranges = {"n": (1.0, 128.0), "top_p": (0.0, 1.0)}
    check_kinds_and_ranges({"n": 3, "top_p": 1, "user": None, "other": 1}, kinds, ranges)
    assert raised(check_kinds_and_ranges, {"user": 5}, kinds, ranges).code == "invalid_type"
    assert raised(check_kinds_and_ranges, {"n": 200}, kinds, ranges).code == (
        "integer_above_max_value"
    )
    assert raised(check_kinds_and_ranges, {"top_p": -1}, kinds, ranges).code == (
        "decimal_below_min_value"
    )


def test_a_token_limit_above_the_models() -> None:
    check_token_limit("max_tokens", 16_384, "completion")
    check_token_limit("max_tokens", None, "completion")
    assert fields(raised(check_token_limit, "max_output_tokens", 16_385, "output")) == (
        400,
        "max_output_tokens is too large: 16385. This model supports at most 16384 output tokens, "
        "whereas you provided 16385.",
        "max_output_tokens",
        "invalid_value",
    )


def test_stream_options() -> None:
    def unknown(param: str) -> OpenAIError:
        return OpenAIError(400, f"unknown {param}", param=param)

    known = ("include_usage",)
    check_stream_options(None, False, known, unknown)
    check_stream_options({"include_usage": True}, True, known, unknown)
    assert raised(check_stream_options, {}, False, known, unknown).param == "stream_options"
    assert raised(check_stream_options, {"x": True}, True, known, unknown).message == (
        "unknown stream_options.x"
    )
    assert raised(check_stream_options, {"include_usage": 1}, True, known, unknown).message == (
        "Invalid type for 'stream_options.include_usage': expected a boolean, but got an "
        "integer instead."
    )


def test_metadata() -> None:
    check_metadata(None)
    check_metadata({f"k{i}": "v" for i in range(16)})
    assert fields(raised(check_metadata, {f"k{i}": "v" for i in range(17)})) == (
        400,
        "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
        "but got an object with 17 properties instead.",
        "metadata",
        "object_above_max_properties",
    )
    assert raised(check_metadata, {"k": 1}).message == (
        "Invalid type for 'metadata.k': expected a string, but got an integer instead."
    )
    assert fields(raised(check_metadata, {"k": "v" * 513})) == (
        400,
        "Invalid 'metadata.k': keys may have up to 64 characters and values up to 512.",
        "metadata",
        "string_above_max_length",
    )


def test_content_part_type() -> None:
    assert content_part_type("c[0]", {"type": "text"}, ("text", "refusal")) == "text"
    assert raised(content_part_type, "c[0]", "text", ("text",)).message == (
        "Invalid type for 'c[0]': expected an object, but got a string instead."
    )
    assert fields(raised(content_part_type, "c[0]", {"type": "image"}, ("text", "refusal"))) == (
        400,
        "Invalid value: 'image'. Supported values are: 'text', 'refusal'.",
        "c[0].type",
        "invalid_value",
    )


@pytest.mark.parametrize("raw", [b"{", b"", b"NaN", b'{"a": Infinity}', b"[" * 100_000])
def test_a_body_that_is_not_json(raw: bytes) -> None:
    assert fields(raised(parse_json_body, raw)) == (
        400,
        "We could not parse the JSON body of your request. The API expects a JSON payload, but "
        "what was sent was not valid JSON.",
        None,
        None,
    )


def test_a_json_body_is_parsed() -> None:
    assert parse_json_body(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
