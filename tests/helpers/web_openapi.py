"""The web viewer's OpenAPI document, to check real responses against (JSON Schema 2020-12, its $refs resolved)."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.helpers.processes import REPO

DOCUMENT = REPO / "vodtender" / "web" / "openapi.json"
BASE = "https://vodtender.invalid/api/openapi.json"  # a base URI, so the embedded status schema's $id resolves


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return loaded


@cache
def registry() -> Registry:
    return Registry().with_resource(BASE, DRAFT202012.create_resource(document()))


def response_of(given: dict[str, Any]) -> dict[str, Any]:
    """A response of the document, a `$ref` to components/responses followed."""
    if "$ref" not in given:
        return given
    named: dict[str, Any] = document()["components"]["responses"][given["$ref"].rsplit("/", 1)[1]]
    return named


def json_responses() -> list[tuple[str, str, str]]:
    """(path template, method, status) of every response the document says is JSON."""
    return [
        (path, method, status)
        for path, operations in document()["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if "application/json" in response_of(response).get("content", {})
    ]


def template_of(url: str) -> str:
    """`/api/vods/3/chat?from=1` -> `/api/vods/{id}/chat`."""
    path = url.split("?", 1)[0]
    for template in document()["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"{path} is not in the OpenAPI document")


def problems(url: str, method: str, status: int, body: Any) -> list[str]:
    """What is wrong with this answer by the document (empty: it matches)."""
    template = template_of(url)
    responses = document()["paths"][template][method]["responses"]
    if str(status) not in responses:
        return [f"{method.upper()} {template} answered {status}, which the document does not list"]
    schema = response_of(responses[str(status)])["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = {"$ref": BASE + schema["$ref"]}  # resolved in the document
    validator = Draft202012Validator(schema, registry=registry())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}" for e in validator.iter_errors(body)]
