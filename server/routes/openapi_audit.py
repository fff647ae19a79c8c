# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""The ``/audit`` part of the OpenAPI document (merged into ``server.routes.openapi.OPENAPI``).

Administrators only. The same filters serve the page, the CSV export and the DICOM PS3.15 audit
message XML export (IHE ATNA); exports are oldest first, the page newest first.
"""

from __future__ import annotations

from typing import Any

from server.routes.openapi_parts import INT, STRING, closed, error, json_body, nullable, ref
from server.services.audit import AuditAction, AuditOutcome

NULLABLE_INT = nullable(INT)

FILTERS: list[dict[str, Any]] = [
    {"name": "actor", "in": "query", "schema": STRING, "description": "user name (exact)"},
    {"name": "study", "in": "query", "schema": STRING, "description": "StudyInstanceUID"},
    {"name": "patient", "in": "query", "schema": STRING, "description": "patient ID"},
    {"name": "action", "in": "query", "schema": STRING,
     "description": "comma-separated actions: " + ", ".join(AuditAction)},
    {"name": "outcome", "in": "query", "schema": {"type": "string", "enum": list(AuditOutcome)}},
    {"name": "since", "in": "query", "schema": STRING, "description": "ISO 8601 date or date and time (inclusive; UTC if no offset)"},
    {"name": "until", "in": "query", "schema": STRING, "description": "ISO 8601 date or date and time (exclusive)"},
]
COMMON = {
    "400": error("A filter is malformed (the message names it)"),
    "401": error("No credentials, or wrong ones"),
    "403": error("Not an administrator"),
}

SCHEMAS: dict[str, Any] = {
    "AuditRecord": closed({
        "id": INT,
        "at": {"type": "string", "description": "ISO 8601 date and time (UTC)"},
        "actor_user_id": NULLABLE_INT,
        "actor": {"type": "string", "description": "user name; empty when unauthenticated"},
        "acting_for_institution_id": {**NULLABLE_INT, "description": "the institution the caller acted for"},
        "token_id": NULLABLE_INT,
        "share_id": {**NULLABLE_INT, "description": "set when a patient share link was used"},
        "auth_method": {"type": "string", "description": "session, token, basic, oidc, share, dimse, system or empty"},
        "client_address": STRING,
        "action": {"type": "string", "enum": list(AuditAction)},
        "outcome": {"type": "string", "enum": list(AuditOutcome)},
        "status": {"type": "integer", "description": "HTTP status"},
        "patient_id": STRING,
        "study_uid": STRING,
        "method": STRING,
        "path": {"type": "string", "description": "path and query string"},
        "detail": {"type": "string", "description": "e.g. why a sign-in failed"},
    }, description="One audit log entry (append-only)"),
    "AuditPage": closed({"total": INT, "limit": INT, "offset": INT,
                          "records": {"type": "array", "items": ref("AuditRecord"), "description": "newest first"}}),
}

PATHS: dict[str, Any] = {
    "/audit": {"get": {
        "summary": "Query the audit log (administrators)",
        "operationId": "listAudit",
        "parameters": [*FILTERS,
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 100, "minimum": 1, "maximum": 1000}},
                       {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0, "minimum": 0}}],
        "responses": {"200": {"description": "A page of records", **json_body(ref("AuditPage"))}, **COMMON},
    }},
    "/audit/export.csv": {"get": {
        "summary": "The matching records as CSV, oldest first (one column per AuditRecord field)",
        "operationId": "exportAuditCsv",
        "parameters": FILTERS,
        "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}, **COMMON},
    }},
    "/audit/export.xml": {"get": {
        "summary": "The matching records as DICOM PS3.15 A.5 audit messages (IHE ATNA) inside one AuditMessages element",
        "operationId": "exportAuditXml",
        "parameters": FILTERS,
        "responses": {"200": {"description": "XML", "content": {"application/xml": {}}}, **COMMON},
    }},
}
