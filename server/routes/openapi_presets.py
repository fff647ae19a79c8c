# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""The ``/presets`` part of the OpenAPI document (merged into ``server.routes.openapi.OPENAPI``).

Protocol presets are made from a job (``POST /jobs/{job_id}/parameters`` with ``remember``) and
applied to later studies of the same protocol (provenance ``preset``). Administrators list, edit and
delete them (institution administrators those of their institution).
"""

from __future__ import annotations

from typing import Any

from server.workflow.parameters import PARAMETERS, PRESET_PARAMETERS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _closed(properties: dict[str, Any], optional: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": [n for n in properties if n not in optional], "additionalProperties": False, **extra}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **_json_body(_ref("Error"))}


STRING = {"type": "string"}
INT = {"type": "integer"}
TIMESTAMP = {"type": "string", "description": "ISO 8601 date and time"}
PRESET_ID = {"name": "preset_id", "in": "path", "required": True, "schema": {"type": "integer"}}
NOT_FOUND = _error("No such preset (or one of another institution)")
VALUE = {"description": "a number (times in seconds), a list of numbers or a text (labeling type)"}

SCHEMAS: dict[str, Any] = {
    "Preset": _closed({
        "id": INT, "institution_id": INT,
        "protocol_key": {**STRING, "description": "manufacturer|protocol|sequence|station, normalised"},
        "manufacturer": STRING, "protocol": STRING, "sequence": STRING, "station": STRING,
        "values": {"type": "object", "properties": {n: VALUE for n in PRESET_PARAMETERS}, "additionalProperties": False,
                   "description": "the engine's units: times in seconds"},
        "times_used": {**INT, "description": "later jobs that started from this preset"},
        "created_by": STRING, "updated_by": STRING, "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
    }),
    "PresetList": _closed({"presets": {"type": "array", "items": _ref("Preset")}}),
    "PresetUpdate": _closed({
        "values": {"type": "object", "properties": {
            n: {"description": f"{PARAMETERS[n]['label']}; null removes it"} for n in PRESET_PARAMETERS},
            "additionalProperties": False},
        "units": {"type": "object", "properties": {n: {"type": "string", "enum": ["ms", "s"]} for n in PRESET_PARAMETERS
                                                   if PARAMETERS[n]["kind"].startswith("seconds")},
                  "additionalProperties": False},
    }, optional=("units",)),
}

PATHS: dict[str, Any] = {
    "/presets": {
        "get": {"summary": "List protocol presets (administrators: all; institution administrators: their own)",
                "operationId": "listPresets",
                "responses": {"200": {"description": "The presets", **_json_body(_ref("PresetList"))}}},
    },
    "/presets/{preset_id}": {
        "get": {"summary": "One protocol preset", "operationId": "getPreset", "parameters": [PRESET_ID],
                "responses": {"200": {"description": "The preset", **_json_body(_ref("Preset"))},
                              "400": _error("The id is not an integer"), "404": NOT_FOUND}},
        "patch": {"summary": "Change a preset's values (times with their unit, as on a job; null removes a value)",
                  "operationId": "updatePreset", "parameters": [PRESET_ID],
                  "requestBody": _json_body(_ref("PresetUpdate")),
                  "responses": {"200": {"description": "The preset", **_json_body(_ref("Preset"))},
                                "400": _error("Unknown parameters or implausible values (all named)"), "404": NOT_FOUND}},
        "delete": {"summary": "Delete a preset (later studies of its protocol wait for parameters again)",
                   "operationId": "deletePreset", "parameters": [PRESET_ID],
                   "responses": {"204": {"description": "Deleted"}, "400": _error("The id is not an integer"),
                                 "404": NOT_FOUND}},
    },
}
