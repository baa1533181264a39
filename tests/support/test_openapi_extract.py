"""The OpenAPI-to-JSON-Schema extraction behind tests/data/openai-responses-schemas.json."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from tests.support import DATA
from tests.support.openapi_extract import RESPONSES_ROOTS, bundle, convert, referenced

BUNDLE = json.loads((DATA / "openai-responses-schemas.json").read_text())

SPEC: dict[str, Any] = {
    "components": {
        "schemas": {
            "Root": {
                "type": "object",
                "x-oaiMeta": {"name": "root"},
                "discriminator": {"propertyName": "kind"},
                "properties": {
                    # Property names that look like keywords stay: they are not keywords here.
                    "example": {"type": "string", "nullable": True},
                    "child": {"$ref": "#/components/schemas/Child", "nullable": True},
                    "mode": {"type": "string", "enum": ["a", "b"], "nullable": True},
                },
                "required": ["example"],
                "example": {"example": "x"},
            },
            "Child": {
                "$recursiveAnchor": True,
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$recursiveRef": "#"}}},
            },
            "Unused": {"type": "integer"},
        }
    }
}


def test_convert_turns_openapi_keywords_into_json_schema() -> None:
    root = convert(SPEC["components"]["schemas"]["Root"], "Root")
    assert set(root) == {"type", "properties", "required"}
    assert root["properties"]["example"] == {"type": ["string", "null"]}
    assert root["properties"]["child"] == {"anyOf": [{"$ref": "#/$defs/Child"}, {"type": "null"}]}
    assert root["properties"]["mode"]["anyOf"][1] == {"type": "null"}
    child = convert(SPEC["components"]["schemas"]["Child"], "Child")
    assert child["properties"]["children"]["items"] == {"$ref": "#/$defs/Child"}
    assert "$recursiveAnchor" not in child


def test_the_bundle_holds_what_the_roots_reach_and_validates() -> None:
    made = bundle(SPEC, ["Root"], {"commit": "test"})
    assert list(made["$defs"]) == ["Child", "Root"]
    assert referenced(SPEC["components"]["schemas"], ["Child"]) == ["Child"]
    validator = jsonschema.Draft202012Validator({**made, "$ref": "#/$defs/Root"})
    validator.validate({"example": None, "child": {"children": [{"children": []}]}})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"example": None, "child": {"children": [7]}})


def test_the_committed_bundle_is_a_valid_schema_with_every_root() -> None:
    jsonschema.Draft202012Validator.check_schema(BUNDLE)
    assert list(BUNDLE["x-roots"]) == list(RESPONSES_ROOTS)
    assert set(RESPONSES_ROOTS) <= set(BUNDLE["$defs"])
    text = json.dumps(BUNDLE["$defs"])
    for leftover in ('"nullable"', "#/components/", "$recursive", '"x-oai'):
        assert leftover not in text
