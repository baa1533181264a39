"""Extracts a self-contained JSON Schema bundle (draft 2020-12) from OpenAI's OpenAPI spec.

The tests only read the committed bundle; this module records how it was made, and can make it
again from a copy of the spec (tests/data/README.md says which one):

    python tests/openapi_extract.py openai-openapi.yaml > tests/data/openai-responses-schemas.json

What changes on the way: `#/components/schemas/X` references become `#/$defs/X`, `nullable: true`
becomes a union with null, `$recursiveRef: "#"` a plain reference to the schema it sits in, and
OpenAPI-only keywords (`x-*`, `discriminator`, `example`, `examples`, `xml`, `externalDocs`) are
dropped; every schema a root reaches comes along.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["RESPONSES_ROOTS", "bundle", "convert", "main", "referenced"]

_PREFIX = "#/components/schemas/"
# Keywords whose value maps names to schemas: those names are property names, never keywords.
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
_OPENAPI_ONLY = frozenset({"discriminator", "example", "examples", "xml", "externalDocs"})
_DROPPED = frozenset({"nullable", "$recursiveAnchor"})
# Keywords whose value is data, copied as it is.
_LITERAL = frozenset({"enum", "const", "default", "required"})

# What the Responses endpoint is tested against: the request, the response object, every event
# the embedded server sends, the union of all stream events, usage and errors.
RESPONSES_ROOTS = (
    "CreateResponse",
    "Response",
    "ResponseStreamEvent",
    "ResponseCreatedEvent",
    "ResponseInProgressEvent",
    "ResponseOutputItemAddedEvent",
    "ResponseContentPartAddedEvent",
    "ResponseTextDeltaEvent",
    "ResponseTextDoneEvent",
    "ResponseContentPartDoneEvent",
    "ResponseOutputItemDoneEvent",
    "ResponseCompletedEvent",
    "ResponseIncompleteEvent",
    "ResponseFailedEvent",
    "ResponseErrorEvent",
    "ResponseUsage",
    "ErrorResponse",
)


def convert(schema: Any, home: str) -> Any:
    """The component schema `home` (or a part of it) as JSON Schema 2020-12 (pure)."""
    if isinstance(schema, list):
        return [convert(item, home) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-") or key in _OPENAPI_ONLY or key in _DROPPED:
            continue
        if key == "$recursiveRef":
            # 2019-09 recursion, which 2020-12 dropped: every use in the spec points home.
            assert value == "#", f"unexpected $recursiveRef {value!r} in {home}"
            out["$ref"] = f"#/$defs/{home}"
        elif key == "$ref":
            assert value.startswith(_PREFIX), f"only component schemas are bundled: {value}"
            out[key] = "#/$defs/" + value[len(_PREFIX) :]
        elif key in _LITERAL:
            out[key] = value
        elif key in _NAMED_SCHEMAS:
            out[key] = {name: convert(sub, home) for name, sub in value.items()}
        else:
            out[key] = convert(value, home)
    if schema.get("nullable") is True:
        return _or_null(out)
    return out


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema and "enum" not in schema:
        return {**schema, "type": [kind, "null"]}
    # An enum or a reference must let null through as a whole alternative.
    return {"anyOf": [schema, {"type": "null"}]}


def referenced(schemas: Mapping[str, Any], roots: Iterable[str]) -> list[str]:
    """Names of the roots and of every component schema they reach, in a stable order."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        assert name in schemas, f"the spec has no schema named {name!r}"
        seen.add(name)
        todo.extend(_refs(schemas[name]))
    return sorted(seen)


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_PREFIX):
                yield value[len(_PREFIX) :]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def bundle(
    spec: Mapping[str, Any], roots: Sequence[str], source: Mapping[str, str]
) -> dict[str, Any]:
    """The bundle: `$defs` holding every schema the roots reach, `x-roots` naming the roots."""
    schemas = spec["components"]["schemas"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:openai-responses-schemas",
        "title": "OpenAI Responses API schemas (extracted from the official OpenAPI spec)",
        "description": (
            "Validate with {'$defs': <this $defs>, '$ref': '#/$defs/<Name>'}. Made by "
            "tests/openapi_extract.py: `nullable: true` turned into null unions; x-*, "
            "discriminator and example keywords dropped."
        ),
        "x-source": dict(source),
        "x-roots": {name: f"#/$defs/{name}" for name in roots},
        "$defs": {name: convert(schemas[name], name) for name in referenced(schemas, roots)},
    }


def main(argv: list[str]) -> int:
    """`python tests/openapi_extract.py SPEC.yaml`: print the Responses bundle as JSON."""
    import yaml  # only the extraction needs it; the tests read JSON

    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    raw = Path(argv[0]).read_bytes()
    spec = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    source = {
        "repository": "https://github.com/openai/openai-openapi",
        "commit": "f85dbe223d40e1a31cba812ab2d755c7e98a92a3",
        "info.version": str(spec["info"]["version"]),
        "openapi": str(spec["openapi"]),
        "license": "MIT, Copyright (c) OpenAI",
        "spec_sha256": hashlib.sha256(raw).hexdigest(),
    }
    json.dump(bundle(spec, RESPONSES_ROOTS, source), sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
