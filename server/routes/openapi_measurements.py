# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""The ``/studies/{study}/measurements`` part of the OpenAPI document (merged into ``OPENAPI``).

The viewer's measurements (length, angle, ellipse, rectangle, freehand, probe) in DICOM pixel
coordinates, stored as a TID 1500 Measurement Report in the study (read back via DICOMweb).
"""

from __future__ import annotations

from typing import Any

from server.measurements.report import MAX_MEASUREMENTS, MAX_POINTS, TOOLS, UNITS
from server.routes.openapi_parts import INT, STRING, UID, closed, error, json_body, ref

STUDY = {"name": "study", "in": "path", "required": True, "schema": STRING, "description": "Study Instance UID"}
NUMBER = {"type": "number"}
VALUE_NAMES = sorted({v for t in TOOLS.values() for v in t.values})

SCHEMAS: dict[str, Any] = {
    "ViewerMeasurement": closed({
        "tool": {"type": "string", "enum": list(TOOLS)},
        "uid": {**STRING, "description": "the viewer's annotation id (a UUID or a DICOM UID): the SR's Tracking UID"},
        "label": {**STRING, "maxLength": 64},
        "series_instance_uid": UID, "sop_instance_uid": UID,
        "frame": {**INT, "minimum": 1, "description": "frame number of a multi-frame image (1 otherwise)"},
        "points": {"type": "array", "minItems": 1, "maxItems": MAX_POINTS,
                   "items": {"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2},
                   "description": "[column, row] in DICOM pixel coordinates (top-left corner of the image is 0,0): length 2 points, angle 3 (end, vertex, end), ellipse 4 (axis ends), rectangle 4 corners, freehand 3 or more, probe 1"},
        "values": {"type": "object", "properties": {n: NUMBER for n in VALUE_NAMES}, "additionalProperties": False,
                   "description": "length (mm), angle (deg), area (mm2), mean/sd/min/max (pixel unit), value (probe)"},
        "units": {"type": "object", "properties": {n: {"type": "string", "enum": list(UNITS)} for n in VALUE_NAMES},
                  "additionalProperties": False, "description": "unit of each value; the pixel unit ('HU', 'ml/100g/min', '' for none)"},
    }, optional=("uid", "label", "frame", "values", "units")),
    "ViewerMeasurementReport": closed({
        "measurements": {"type": "array", "maxItems": MAX_MEASUREMENTS, "items": ref("ViewerMeasurement"),
                         "description": "every measurement of the study the viewer holds (an empty list clears them)"},
    }),
    "SavedViewerMeasurements": closed({
        "study_instance_uid": UID, "series_instance_uid": UID, "sop_instance_uid": UID,
        "instance_number": {**INT, "description": "the report's number in the study's measurement series (newest is current)"},
        "count": {**INT, "description": "measurements in the report"},
    }),
    "KeyImageMark": closed({
        "series_instance_uid": UID, "sop_instance_uid": UID,
        "frame": {**INT, "minimum": 1, "description": "frame number of a multi-frame image (1 otherwise)"},
        "note": {**STRING, "description": "the doctor's note (Key Object Description)"},
    }, optional=("frame", "note")),
    "MarkedKeyImage": closed({
        "study_instance_uid": UID, "series_instance_uid": UID, "sop_instance_uid": UID,
        "instance_number": {**INT, "description": "the document's number in the study's key-object series"},
    }),
}

PATHS: dict[str, Any] = {
    "/studies/{study}/measurements": {
        "post": {"summary": "Store the viewer's measurements as a DICOM SR (TID 1500) in the study",
                 "operationId": "saveMeasurements", "parameters": [STUDY], "requestBody": json_body(ref("ViewerMeasurementReport")),
                 "responses": {"200": {"description": "Stored: a new SR instance", **json_body(ref("SavedViewerMeasurements"))},
                               "400": error("Malformed measurements, an image not in the study, a point outside its image (names it)"),
                               "404": error("No such study (or not visible to the caller)"),
                               "409": error("The SR could not be stored")}},
    },
    "/studies/{study}/key-images": {
        "post": {"summary": "Mark a key image: a Key Object Selection document (Of Interest) in the study",
                 "operationId": "markKeyImage", "parameters": [STUDY], "requestBody": json_body(ref("KeyImageMark")),
                 "responses": {"200": {"description": "Stored: a new KOS instance", **json_body(ref("MarkedKeyImage"))},
                               "400": error("An image not in the study, a bad UID or frame (names it)"),
                               "404": error("No such study (or not visible to the caller)"),
                               "409": error("The document could not be stored")}},
    },
}
