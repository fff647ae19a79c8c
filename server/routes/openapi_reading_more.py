# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""More of the reading workflow's OpenAPI part: report templates, saved filter sets, the printed
report with a share link, and the hospital logo (merged into ``server.routes.openapi.OPENAPI``)."""

from __future__ import annotations

from typing import Any

from server.routes.openapi_parts import INT, STRING, TIMESTAMP, closed, error, json_body, nullable, ref

BAD = error("A malformed id or body (the message names it)")
FORBIDDEN = error("The caller's role does not allow this")
KEY = {"name": "key", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}}
REQUEST_ID = {"name": "request_id", "in": "path", "required": True, "schema": INT}
INSTITUTION_ID = {"name": "institution_id", "in": "path", "required": True, "schema": INT}
FIELDS = {"type": "array", "items": STRING, "maxItems": 20}
TEMPLATE_BODY = closed({"key": STRING, "name": STRING, "modality": STRING, "body_part": STRING, "findings": STRING,
                        "impression": STRING, "fields": FIELDS},
                       optional=("key", "modality", "body_part", "findings", "impression", "fields"))
FILTERS = {"type": "object", "additionalProperties": STRING,
           "description": "the worklist's query parameters (list, state, preset, from, to, digit, requesting, q, exact)"}

SCHEMAS: dict[str, Any] = {
    "ReadingLiveEvent": closed({"stamp": {"type": "string", "description": "changes whenever a visible request changes"},
                            "counts": ref("ReadingCounts")}),
    "ReportTemplate": closed({
        "key": STRING, "name": STRING,
        "modality": {"type": "string", "description": "blank: any modality"},
        "body_part": {"type": "string", "description": "blank: any body part"},
        "findings": STRING, "impression": STRING, "fields": FIELDS,
        "builtin": {"type": "boolean", "description": "a built-in template (an edit of it can be deleted to restore it)"},
        "edited": {"type": "boolean", "description": "stored by an admin (a new one, or an edited built-in)"},
        "updated_by": STRING, "updated_at": nullable(TIMESTAMP)}),
    "ReportTemplateList": closed({"templates": {"type": "array", "items": ref("ReportTemplate")}}),
    "SavedFilter": closed({"id": INT, "name": STRING, "filters": FILTERS, "created_at": TIMESTAMP}),
    "SavedFilterList": closed({"filters": {"type": "array", "items": ref("SavedFilter")}}),
    "InstitutionLogo": closed({"institution_id": INT, "media_type": {"type": "string", "enum": ["image/png", "image/jpeg"]},
                               "width": INT, "height": INT, "size": INT, "url": STRING}),
}

PATHS: dict[str, Any] = {
    "/reading/events": {
        "get": {"summary": "Server-sent `reading` events: the caller's list counts (ReadingLiveEvent) whenever a request it sees changes, in any process",
                "operationId": "readingEvents",
                "parameters": [{"name": "max_seconds", "in": "query", "schema": {"type": "number"},
                                "description": "end the stream after this long (long polling)"}],
                "responses": {"200": {"description": "Event stream of ReadingLiveEvent messages",
                                      # Each event: `event: reading`, an `id` and `data` (a ReadingLiveEvent as JSON).
                                      "content": {"text/event-stream": {"schema": {
                                          "type": "object", "required": ["data"],
                                          "properties": {"event": {"type": "string", "enum": ["reading"]},
                                                         "id": STRING, "data": STRING}}}},
                                      "x-event-schema": ref("ReadingLiveEvent")},
                              "400": error("max_seconds is not a number from 0 to 86400")}},
    },
    "/reading/templates": {
        "get": {"summary": "Report templates (built-in and the admin's) that apply to a modality and body part, specific ones first",
                "operationId": "listReportTemplates",
                "parameters": [{"name": "modality", "in": "query", "schema": STRING},
                               {"name": "body_part", "in": "query", "schema": STRING}],
                "responses": {"200": {"description": "Templates", **json_body(ref("ReportTemplateList"))}, "400": BAD}},
        "post": {"summary": "A new template (the alliance admin)", "operationId": "createReportTemplate",
                 "requestBody": json_body(TEMPLATE_BODY),
                 "responses": {"201": {"description": "The template", **json_body(ref("ReportTemplate"))}, "400": BAD,
                               "403": FORBIDDEN, "409": error("A template with this key exists")}},
    },
    "/reading/templates/{key}": {
        "put": {"summary": "Edit a template (a built-in one is stored as the admin's edit)", "operationId": "saveReportTemplate",
                "parameters": [KEY], "requestBody": json_body(TEMPLATE_BODY),
                "responses": {"200": {"description": "The template", **json_body(ref("ReportTemplate"))}, "400": BAD,
                              "403": FORBIDDEN, "404": error("No such template")}},
        "delete": {"summary": "Delete an admin's template (an edited built-in goes back to its built-in text)",
                   "operationId": "deleteReportTemplate", "parameters": [KEY],
                   "responses": {"204": {"description": "Deleted"}, "400": BAD, "403": FORBIDDEN,
                                 "404": error("No such template"), "409": error("A built-in template cannot be deleted")}},
    },
    "/reading/filters": {
        "get": {"summary": "The caller's saved worklist filter sets", "operationId": "listSavedFilters",
                "responses": {"200": {"description": "Saved sets", **json_body(ref("SavedFilterList"))}}},
        "post": {"summary": "Save a filter set under a name (the same name replaces it: 200)", "operationId": "saveFilter",
                 "requestBody": json_body(closed({"name": STRING, "filters": FILTERS})),
                 "responses": {"201": {"description": "Saved", **json_body(ref("SavedFilter"))},
                               "200": {"description": "Replaced", **json_body(ref("SavedFilter"))}, "400": BAD,
                               "409": error("Too many saved sets")}},
    },
    "/reading/filters/{filter_id}": {
        "delete": {"summary": "Delete one of the caller's saved filter sets", "operationId": "deleteSavedFilter",
                   "parameters": [{"name": "filter_id", "in": "path", "required": True, "schema": INT}],
                   "responses": {"204": {"description": "Deleted"}, "400": BAD, "404": error("No such set of the caller's")}},
    },
    "/institutions/{institution_id}/logo": {
        "get": {"summary": "The hospital's logo (printed on its reports)", "operationId": "getInstitutionLogo",
                "parameters": [INSTITUTION_ID],
                "responses": {"200": {"description": "The image", "content": {"image/png": {}, "image/jpeg": {}}},
                              "400": BAD, "404": error("No such institution, or it has no logo")}},
        "put": {"summary": "Set the hospital's logo: the raw PNG or JPEG body (at most 512 KiB, 2000×2000 px); its own admins or the alliance admin",
                "operationId": "putInstitutionLogo", "parameters": [INSTITUTION_ID],
                "requestBody": {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}},
                                            "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {"200": {"description": "The stored logo", **json_body(ref("InstitutionLogo"))}, "400": BAD,
                              "403": FORBIDDEN, "404": error("No such institution"), "413": error("Larger than the logo limit")}},
        "delete": {"summary": "Remove the hospital's logo", "operationId": "deleteInstitutionLogo", "parameters": [INSTITUTION_ID],
                   "responses": {"204": {"description": "Removed"}, "400": BAD, "403": FORBIDDEN,
                                 "404": error("No such institution, or it has no logo")}},
    },
}

# POST on the report PDF path (merged into openapi_reading's GET of the same path).
PDF_POST: dict[str, Any] = {
    "summary": "The report PDF with the patient's share link printed in it (its QR code and access code): the print view sends the link it made and its code",
    "operationId": "readingReportPdfWithShare",
    "parameters": [REQUEST_ID, {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["zh-CN", "en"]}}],
    "requestBody": json_body(closed({"share": STRING, "code": STRING, "version": INT}, optional=("version",))),
    "responses": {"200": {"description": "PDF", "content": {"application/pdf": {}}},
                  "400": error("A malformed body, a link that is not of the request's studies or not active, or a wrong code"),
                  "404": error("No such request or share link (or not visible to the caller)")},
}
