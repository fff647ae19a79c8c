# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""The ``/presets`` part of the OpenAPI document (merged into ``server.routes.openapi.OPENAPI``).

Protocol presets are made from a job (``POST /jobs/{job_id}/parameters`` with ``remember``) and
applied to later studies of the same protocol (provenance ``preset``). Administrators list, edit and
delete them (institution administrators those of their institution).
"""

from __future__ import annotations

from typing import Any

from server.routes.openapi_parts import INT, STRING, TIMESTAMP, closed, error, json_body, ref
from server.workflow.parameters import PARAMETERS, PRESET_PARAMETERS

PRESET_ID = {"name": "preset_id", "in": "path", "required": True, "schema": {"type": "integer"}}
NOT_FOUND = error("No such preset (or one of another institution)")
VALUE = {"description": "a number (times in seconds), a list of numbers or a text (labeling type)"}

SCHEMAS: dict[str, Any] = {
    "Preset": closed({
        "id": INT, "institution_id": INT,
        "protocol_key": {**STRING, "description": "manufacturer|protocol|sequence|station, normalised"},
        "manufacturer": STRING, "protocol": STRING, "sequence": STRING, "station": STRING,
        "values": {"type": "object", "properties": {n: VALUE for n in PRESET_PARAMETERS}, "additionalProperties": False,
                   "description": "the engine's units: times in seconds"},
        "times_used": {**INT, "description": "later jobs that started from this preset"},
        "created_by": STRING, "updated_by": STRING, "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
    }),
    "PresetList": closed({"presets": {"type": "array", "items": ref("Preset")}}),
    "PresetUpdate": closed({
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
                "responses": {"200": {"description": "The presets", **json_body(ref("PresetList"))}}},
    },
    "/presets/{preset_id}": {
        "get": {"summary": "One protocol preset", "operationId": "getPreset", "parameters": [PRESET_ID],
                "responses": {"200": {"description": "The preset", **json_body(ref("Preset"))},
                              "400": error("The id is not an integer"), "404": NOT_FOUND}},
        "patch": {"summary": "Change a preset's values (times with their unit, as on a job; null removes a value)",
                  "operationId": "updatePreset", "parameters": [PRESET_ID],
                  "requestBody": json_body(ref("PresetUpdate")),
                  "responses": {"200": {"description": "The preset", **json_body(ref("Preset"))},
                                "400": error("Unknown parameters or implausible values (all named)"), "404": NOT_FOUND}},
        "delete": {"summary": "Delete a preset (later studies of its protocol wait for parameters again)",
                   "operationId": "deletePreset", "parameters": [PRESET_ID],
                   "responses": {"204": {"description": "Deleted"}, "400": error("The id is not an integer"),
                                 "404": NOT_FOUND}},
    },
}
