"""The building blocks every part of the OpenAPI document uses (``openapi.py`` and the
``openapi_*.py`` parts merged into it): schema references, JSON bodies, closed object schemas,
nullable values, error answers and the plain value schemas."""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def closed(properties: dict[str, Any], optional: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """An object schema that names every property and requires all but ``optional``."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
        **extra,
    }


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


def error(description: str) -> dict[str, Any]:
    """An answer whose body is the document's ``Error`` schema."""
    return {"description": description, **json_body(ref("Error"))}


STRING = {"type": "string"}
INT = {"type": "integer"}
UID = {"type": "string", "maxLength": 64}
TIMESTAMP = {"type": "string", "description": "ISO 8601 date and time"}
