# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""The ``/api/reading`` part of the OpenAPI document (merged into ``server.routes.openapi.OPENAPI``).

Closed object schemas, as in the rest of the document; the states and actions come from the state
table (``server.reading.states``) and the list names from ``server.reading.worklists``.
"""

from __future__ import annotations

from typing import Any

from server.reading.states import TRANSITIONS, RequestState
from server.reading.worklists import LISTS, PRESETS
from server.routes.openapi_parts import INT, STRING, TIMESTAMP, UID, closed, error, json_body, nullable, ref
from server.routes.openapi_reading_more import PDF_POST

REQUEST_ID = {"name": "request_id", "in": "path", "required": True, "schema": INT}
LANG = {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["zh-CN", "en"]},
        "description": "report language (default: from Accept-Language)"}
BAD = error("A malformed id, body or filter (the message names it)")
FORBIDDEN = error("The caller's role or side of the request does not allow this")
MISSING = error("No such request (or not visible to the caller)")
CONFLICT = error("Not allowed in the request's current state (`state` names it) or the lock is held by another doctor")
ACTIONS = list(TRANSITIONS)
# POST /reading/requests/{id}/{segment}: every transition but create and save (they have their own paths).
ACTION_SEGMENTS = [a.replace("_", "-") for a in TRANSITIONS if a not in ("create", "save")]

INSTITUTION = closed({"id": INT, "name": STRING})
SUMMARY: dict[str, Any] = {
    "id": INT,
    "number": {"type": "string", "description": "diagnosis number (诊断号): date and id"},
    "state": ref("ReadingState"),
    "mode": {"type": "string", "enum": ["self", "superior"]},
    "patient_name": STRING, "patient_id": STRING, "patient_sex": STRING, "patient_age": STRING,
    "modality": STRING, "body_part": STRING, "examination": STRING,
    "requesting_institution": ref("InstitutionRef"),
    "reading_institution": ref("InstitutionRef"),
    "assisting_institution": nullable(ref("InstitutionRef")),
    "requester_name": STRING, "reporter_name": STRING, "reviewer_name": STRING,
    "reason": {"type": "string", "description": "of the last return, send back, cancel or assistance request"},
    "lock": nullable(ref("ReadingLock")),
    "report_version": {"type": "integer", "minimum": 0, "description": "newest report version (0: none)"},
    "revision": INT,
    "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "approved_at": nullable(TIMESTAMP),
}
MEASUREMENT = closed({"name": STRING, "value": {"type": "number"},
                       "unit": {"type": "string", "description": "UCUM, e.g. ml/(100.g.min)"},
                       "unit_label": STRING, "source": STRING}, optional=("unit_label", "source"))
KEY_IMAGE = closed({"study_instance_uid": UID, "series_instance_uid": UID, "sop_instance_uid": UID,
                     "sop_class_uid": STRING, "frame": {"type": "integer", "minimum": 1},
                     "window_center": nullable({"type": "number"}), "window_width": nullable({"type": "number"}),
                     "label": STRING,
                     "capture": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                                 "description": "SHA-256 of the viewport capture (POST .../key-images): printed in the report"}},
                    optional=("sop_class_uid", "frame", "window_center", "window_width", "label", "capture"))
DIFF_LINES = {"type": "array", "items": closed({"op": {"type": "string", "enum": ["=", "-", "+"]}, "text": STRING})}

SCHEMAS: dict[str, Any] = {
    "ReadingState": {"type": "string", "enum": [s.value for s in RequestState]},
    "ReadingAction": {"type": "string", "enum": ACTIONS},
    "InstitutionRef": INSTITUTION,
    "ReadingLock": closed({"mine": {"type": "boolean", "description": "the caller holds the lock"},
                            "holder_name": STRING, "holder_user_id": nullable(INT), "holder_institution_id": INT,
                            "acquired_at": TIMESTAMP, "expires_at": TIMESTAMP,
                            "expired": {"type": "boolean", "description": "another doctor may take it over"}}),
    "ReadingSummary": closed(SUMMARY, description="A request as listed"),
    "ReadingRequest": closed({
        **SUMMARY,
        "clinical_history": STRING, "chief_complaint": STRING,
        "parties": {"type": "array", "items": {"type": "string", "enum": ["requester", "reader"]},
                    "description": "the caller's sides of the request"},
        "actions": {"type": "array", "items": ref("ReadingAction"), "description": "what the caller may do now (the state table)"},
        "studies": {"type": "array", "items": ref("LinkedStudy")},
        "attachments": {"type": "array", "items": ref("ReadingAttachment")},
        "versions": {"type": "array", "items": ref("ReportVersion"), "description": "the versions the caller may see, oldest first"},
        "events": {"type": "array", "items": ref("ReadingEvent")},
    }, description="One request with its material, report versions and history"),
    "ReadingPage": closed({"total": INT, "limit": INT, "offset": INT,
                            "requests": {"type": "array", "items": ref("ReadingSummary")}}),
    "ReadingCounts": closed({name: INT for name in LISTS}, description="requests per worklist"),
    "ReadingInstitutions": closed({
        "superiors": {"type": "array", "items": closed({"id": INT, "name": STRING, "superior": {"type": "boolean"},
                                                        "parent_id": nullable(INT)}),
                      "description": "the caller's hospital and its superiors, nearest first"},
        "requesting": {"type": "array", "items": INSTITUTION, "description": "hospitals whose requests the caller sees"},
    }),
    "LinkedStudy": closed({"study_instance_uid": UID, "patient_name": STRING, "patient_id": STRING,
                            "study_date": STRING, "study_description": STRING,
                            "modalities": {"type": "array", "items": STRING}}),
    "ReadingAttachment": closed({"id": INT, "filename": STRING, "media_type": STRING, "size": INT,
                                  "uploaded_by": STRING, "created_at": TIMESTAMP}),
    "ReportVersion": closed({
        "number": {"type": "integer", "minimum": 1},
        "status": {"type": "string", "enum": ["draft", "submitted", "returned", "approved"]},
        "findings": STRING, "impression": STRING,
        "fields": {"type": "object", "additionalProperties": STRING},
        "measurements": {"type": "array", "items": ref("Measurement")},
        "key_images": {"type": "array", "items": ref("KeyImage")},
        "template_id": STRING, "author_name": STRING, "reviewer_name": STRING, "review_comment": STRING,
        "signed_at": nullable(TIMESTAMP),
        "sr_sop_instance_uid": {"type": "string", "description": "the SR stored in the study on approval ('' before)"},
        "pdf_sop_instance_uid": {"type": "string", "description": "the Encapsulated PDF stored on approval ('' before)"},
        "created_at": TIMESTAMP,
    }),
    "ReportVersions": closed({"versions": {"type": "array", "items": ref("ReportVersion")}}),
    "ReportDiff": closed({"from": {"type": "integer", "description": "0: against an empty report"}, "to": INT,
                           "findings": DIFF_LINES, "impression": DIFF_LINES, "measurements": DIFF_LINES}),
    "ReadingEvent": closed({"action": STRING, "from_state": STRING, "to_state": STRING, "actor_name": STRING,
                             "detail": STRING, "created_at": TIMESTAMP}),
    "Measurement": MEASUREMENT,
    "KeyImage": KEY_IMAGE,
    "ReadingKeyImageCapture": closed({"capture": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "width": INT,
                                       "height": INT, "size": INT, "url": STRING}),
    "ReportContent": closed({
        "findings": STRING, "impression": STRING, "fields": {"type": "object", "additionalProperties": STRING},
        "measurements": {"type": "array", "items": ref("Measurement")},
        "key_images": {"type": "array", "items": ref("KeyImage")}, "template_id": STRING,
    }, optional=("findings", "impression", "fields", "measurements", "key_images", "template_id")),
    "NewReadingRequest": closed({
        "study_uids": {"type": "array", "items": UID, "description": "linked studies (StudyInstanceUIDs from the archive)"},
        "mode": {"type": "string", "enum": ["self", "superior"]},
        "reading_institution_id": nullable(INT),
        "patient_name": STRING, "patient_id": STRING, "patient_sex": STRING, "patient_age": STRING,
        "modality": STRING, "body_part": STRING, "examination": STRING,
        "clinical_history": STRING, "chief_complaint": STRING,
    }, optional=("study_uids", "mode", "reading_institution_id", "patient_name", "patient_id", "patient_sex",
                 "patient_age", "modality", "body_part", "examination", "clinical_history", "chief_complaint")),
    "ReadingActionBody": closed({
        "reason": {"type": "string", "description": "required for return and send-back"},
        "comment": {"type": "string", "description": "approve: the reviewer's comment"},
        "institution_id": {"type": "integer", "description": "request-assistance: the higher hospital"},
    }, optional=("reason", "comment", "institution_id")),
    "Quantities": closed({"job_id": nullable(INT), "study_instance_uid": nullable(UID),
                           "measurements": {"type": "array", "items": ref("Measurement")}},
                          description="The newest finished ASL analysis of the linked studies"),
}

ONE = {"200": {"description": "The request", **json_body(ref("ReadingRequest"))}}

PATHS: dict[str, Any] = {
    "/reading/requests": {
        "get": {
            "summary": "A worklist: the requests of one list the caller sees, filtered, newest first",
            "operationId": "listReadingRequests",
            "parameters": [
                {"name": "list", "in": "query", "schema": {"type": "string", "enum": list(LISTS), "default": "all"}},
                {"name": "state", "in": "query", "schema": STRING, "description": "comma-separated states"},
                {"name": "preset", "in": "query", "schema": {"type": "string", "enum": list(PRESETS), "default": "all"}},
                {"name": "from", "in": "query", "schema": STRING, "description": "custom range start YYYY-MM-DD"},
                {"name": "to", "in": "query", "schema": STRING, "description": "custom range end YYYY-MM-DD (inclusive)"},
                {"name": "tz", "in": "query", "schema": INT, "description": "the caller's minutes east of UTC (days of the presets)"},
                {"name": "digit", "in": "query", "schema": STRING, "description": "last digit of the diagnosis number"},
                {"name": "requesting", "in": "query", "schema": INT, "description": "requesting hospital id"},
                {"name": "q", "in": "query", "schema": STRING, "description": "patient name, patient ID or diagnosis number"},
                {"name": "exact", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50, "minimum": 1, "maximum": 200}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0, "minimum": 0}},
            ],
            "responses": {"200": {"description": "A page", **json_body(ref("ReadingPage"))}, "400": BAD},
        },
        "post": {
            "summary": "Create a request (申请单): self-diagnosis or a superior hospital (which is granted the linked studies)",
            "operationId": "createReadingRequest",
            "requestBody": json_body(ref("NewReadingRequest")),
            "responses": {"201": {"description": "The new request", **json_body(ref("ReadingRequest"))},
                          "400": BAD, "403": FORBIDDEN},
        },
    },
    "/reading/counts": {"get": {"summary": "Requests per worklist", "operationId": "readingCounts",
                                "responses": {"200": {"description": "Counts", **json_body(ref("ReadingCounts"))}}}},
    "/reading/institutions": {"get": {"summary": "Reading hospitals to choose and requesting hospitals to filter by",
                                      "operationId": "readingInstitutions",
                                      "responses": {"200": {"description": "Institutions",
                                                            **json_body(ref("ReadingInstitutions"))}}}},
    "/reading/requests/{request_id}": {
        "get": {"summary": "One request", "operationId": "getReadingRequest", "parameters": [REQUEST_ID],
                "responses": {**ONE, "400": BAD, "404": MISSING}},
    },
    "/reading/requests/{request_id}/studies": {
        "post": {"summary": "Link more studies (requester, while to report or sent back)", "operationId": "linkReadingStudies",
                 "parameters": [REQUEST_ID], "requestBody": json_body(closed({"study_uids": {"type": "array", "items": UID}})),
                 "responses": {**ONE, "400": BAD, "403": FORBIDDEN, "404": MISSING, "409": CONFLICT}},
    },
    "/reading/requests/{request_id}/studies/{study}": {
        "delete": {"summary": "Unlink a study (its grant is removed)", "operationId": "unlinkReadingStudy",
                   "parameters": [REQUEST_ID, {"name": "study", "in": "path", "required": True, "schema": UID}],
                   "responses": {**ONE, "400": BAD, "403": FORBIDDEN, "404": MISSING, "409": CONFLICT}},
    },
    "/reading/requests/{request_id}/attachments": {
        "post": {"summary": "Attach one file (the raw body; ?filename=, its Content-Type kept)", "operationId": "addReadingAttachment",
                 "parameters": [REQUEST_ID, {"name": "filename", "in": "query", "required": True, "schema": STRING}],
                 "requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                 "responses": {"201": {"description": "The attachment", **json_body(ref("ReadingAttachment"))},
                               "400": BAD, "403": FORBIDDEN, "404": MISSING, "409": CONFLICT,
                               "413": error("Larger than the attachment limit")}},
    },
    "/reading/requests/{request_id}/attachments/{attachment_id}": {
        "get": {"summary": "An attachment's bytes", "operationId": "getReadingAttachment",
                "parameters": [REQUEST_ID, {"name": "attachment_id", "in": "path", "required": True, "schema": INT}],
                "responses": {"200": {"description": "The file", "content": {"*/*": {}}}, "400": BAD, "404": MISSING}},
    },
    "/reading/requests/{request_id}/report": {
        "put": {"summary": "Save the report (autosave): a new version when it changed (201), the same one otherwise (200); the lock holder only, renews the lock",
                "operationId": "saveReadingReport", "parameters": [REQUEST_ID], "requestBody": json_body(ref("ReportContent")),
                "responses": {"200": {"description": "Unchanged: the newest version", **json_body(ref("ReportVersion"))},
                              "201": {"description": "The new version", **json_body(ref("ReportVersion"))},
                              "400": BAD, "403": FORBIDDEN, "404": MISSING, "409": CONFLICT}},
    },
    "/reading/requests/{request_id}/versions": {
        "get": {"summary": "The report versions the caller may see", "operationId": "listReportVersions",
                "parameters": [REQUEST_ID],
                "responses": {"200": {"description": "Versions", **json_body(ref("ReportVersions"))}, "400": BAD, "404": MISSING}},
    },
    "/reading/requests/{request_id}/versions/{number}/diff": {
        "get": {"summary": "A version against another (default: the one before it), line by line", "operationId": "diffReportVersions",
                "parameters": [REQUEST_ID, {"name": "number", "in": "path", "required": True, "schema": INT},
                               {"name": "against", "in": "query", "schema": INT}],
                "responses": {"200": {"description": "The diff", **json_body(ref("ReportDiff"))}, "400": BAD, "404": MISSING}},
    },
    "/reading/requests/{request_id}/report.pdf": {
        "get": {"summary": "The printable report (A4 PDF) of a version (default: the newest the caller sees)", "operationId": "readingReportPdf",
                "parameters": [REQUEST_ID, LANG, {"name": "version", "in": "query", "schema": INT}],
                "responses": {"200": {"description": "PDF", "content": {"application/pdf": {}}}, "400": BAD, "404": MISSING}},
        "post": PDF_POST,
    },
    "/reading/requests/{request_id}/quantities": {
        "get": {"summary": "Numbers to insert: the newest finished ASL analysis of the linked studies", "operationId": "readingQuantities",
                "parameters": [REQUEST_ID],
                "responses": {"200": {"description": "Measurements", **json_body(ref("Quantities"))}, "400": BAD, "404": MISSING}},
    },
    "/reading/requests/{request_id}/key-images": {
        "post": {"summary": "A key image captured from the viewport (the raw PNG body) for the report being written; the lock holder only. Name its `capture` in the report's key_images",
                 "operationId": "addReadingKeyImage",
                 "parameters": [REQUEST_ID],
                 "requestBody": {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
                 "responses": {"201": {"description": "The stored capture", **json_body(ref("ReadingKeyImageCapture"))},
                               "400": BAD, "403": FORBIDDEN, "404": MISSING, "409": CONFLICT,
                               "413": error("Larger than the key image limit")}},
    },
    "/reading/requests/{request_id}/key-images/{digest}": {
        "get": {"summary": "A key image capture (PNG): for the reading side, and for whoever sees a version naming it",
                "operationId": "getReadingKeyImage",
                "parameters": [REQUEST_ID, {"name": "digest", "in": "path", "required": True, "schema": STRING}],
                "responses": {"200": {"description": "The PNG", "content": {"image/png": {}}}, "400": BAD, "404": MISSING}},
    },
    "/reading/requests/{request_id}/{action}": {
        "post": {"summary": "A transition of the state table: " + ", ".join(ACTION_SEGMENTS)
                 + " (approve stores the SR and the PDF in the study)",
                 "operationId": "readingAction",
                 "parameters": [REQUEST_ID, {"name": "action", "in": "path", "required": True,
                                             "schema": {"type": "string", "enum": list(ACTION_SEGMENTS)}}, LANG],
                 "requestBody": json_body(ref("ReadingActionBody")),
                 "responses": {**ONE, "400": BAD, "403": FORBIDDEN, "404": MISSING, "409": CONFLICT}},
    },
}
