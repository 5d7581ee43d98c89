"""The web viewer's OpenAPI document, to check real responses against (JSON Schema 2020-12, its $refs resolved).

Its Status schema is schemas/status.schema.json embedded (its `#/$defs/` references pointed into the
document), and Recording is that schema's recording plus `vod_id`.  After a change to the status
schema, `python -m tests.helpers.web_openapi` writes both into vodtender/web/openapi.json again.
"""

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
STATUS_SCHEMA = REPO / "schemas" / "status.schema.json"
STATUS_DEFS = "#/components/schemas/Status/$defs/"
VOD_ID = {"type": ["integer", "null"], "description": "the VOD page of the recording's stream"}
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


def embedded_status() -> dict[str, Any]:
    """schemas/status.schema.json as the document holds it: its own $schema and $id left out, its refs made the
    document's."""
    shipped = {k: v for k, v in json.loads(STATUS_SCHEMA.read_text()).items() if k not in ("$schema", "$id")}
    embedded: dict[str, Any] = json.loads(json.dumps(shipped).replace('"#/$defs/', f'"{STATUS_DEFS}'))
    return embedded


def recording_schema(status: dict[str, Any]) -> dict[str, Any]:
    recording: dict[str, Any] = json.loads(json.dumps(status["$defs"]["recording"]))
    recording["description"] = (
        "a live recording as `vodtender status` lists it (status.schema.json $defs/recording), plus vod_id"
    )
    recording["required"] = [*recording["required"], "vod_id"]
    recording["properties"]["vod_id"] = VOD_ID
    return recording


def write_status_schemas() -> None:
    doc = json.loads(DOCUMENT.read_text())
    status = embedded_status()
    doc["components"]["schemas"]["Status"] = status
    doc["components"]["schemas"]["Recording"] = recording_schema(status)
    DOCUMENT.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write_status_schemas()
