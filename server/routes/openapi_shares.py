# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""The share-link part of the OpenAPI document (``/studies/{study}/shares``, ``/shares/...``), merged
into ``server.routes.openapi.OPENAPI``. Closed object schemas, as in the rest of the document.

Staff of the owning institution create, list, print and revoke links (a session or API token with
the ``write`` scope). ``/shares/{share}/exchange`` is public: the access code is the credential, and
wrong codes lock the link (423) and the client address (429). ``/view`` and ``/documents`` take the
exchanged token as ``Authorization: Bearer shr_...``; with it the DICOMweb routes of the shared study
(QIDO within it, metadata, rendered, thumbnail; retrieve only when downloads are allowed) answer too.
"""

from __future__ import annotations

from typing import Any

from server.routes.openapi_parts import INT, STRING, TIMESTAMP, closed, error, json_body, nullable, ref
from server.shares.codes import CodeKind

BOOL = {"type": "boolean"}
NUMBER = {"type": "number"}
UNAUTHENTICATED = error("No valid credentials (or an expired or revoked share token)")
FORBIDDEN = error("The credential lacks the write scope, the role may not share, or the study belongs to another institution")
NOT_FOUND = error("No such study or share link (or not visible to the caller)")
STUDY = {"name": "study", "in": "path", "required": True, "schema": STRING, "description": "Study Instance UID"}
SHARE = {"name": "share", "in": "path", "required": True, "schema": STRING, "description": "the link's public id"}
SOP = {"name": "sop", "in": "path", "required": True, "schema": STRING, "description": "SOP Instance UID"}

LINK_FIELDS: dict[str, Any] = {
    "id": {**STRING, "description": "public id, the last segment of the URL"},
    "url": {**STRING, "description": "the patient's page, {public base}/s/{id}; the QR codes encode only this"},
    "study_uid": STRING, "series_uid": nullable(STRING),
    "code_kind": {"type": "string", "enum": [k.value for k in CodeKind]},
    "allow_download": BOOL, "expires_at": TIMESTAMP, "revoked_at": nullable(TIMESTAMP),
    "last_opened_at": nullable(TIMESTAMP), "created_at": TIMESTAMP, "created_by": STRING,
    "state": {"type": "string", "enum": ["active", "expired", "revoked"]},
}

SCHEMAS: dict[str, Any] = {
    "ShareLink": closed(LINK_FIELDS),
    "NewShareLink": closed({**LINK_FIELDS,
                             "code": {**STRING, "description": "the access code: shown this once, stored hashed"},
                             "qr_png": STRING, "qr_svg": STRING}),
    "ShareLinkList": closed({"shares": {"type": "array", "items": ref("ShareLink")}}),
    "NewShare": closed({
        "expires_in_days": {**NUMBER, "description": "at most 90; this or expires_at is required"},
        "expires_at": TIMESTAMP,
        "code_kind": {"type": "string", "enum": [k.value for k in CodeKind], "description": "6 digits (default) or 8 letters"},
        "allow_download": BOOL,
        "series_uid": {**nullable(STRING), "description": "share one series of the study only"},
    }, optional=("expires_in_days", "expires_at", "code_kind", "allow_download", "series_uid")),
    "ShareSession": closed({"token": {**STRING, "description": "shr_...; send as Authorization: Bearer"},
                             "token_type": {"type": "string", "enum": ["Bearer"]}, "expires_at": TIMESTAMP,
                             "study_uid": STRING, "series_uid": nullable(STRING), "allow_download": BOOL}),
    "ShareSeries": closed({"series_uid": STRING, "modality": STRING, "number": nullable(INT), "description": STRING,
                            "window": closed({"center": nullable(NUMBER), "width": nullable(NUMBER)}),
                            "instances": {"type": "array", "items": closed({"sop_instance_uid": STRING, "frames": INT})}}),
    "ShareReport": closed({"number": STRING, "version": INT, "examination": STRING, "modality": STRING,
                            "findings": STRING, "impression": STRING,
                            "fields": {"type": "object", "additionalProperties": STRING},
                            "reporter": STRING, "reviewer": STRING, "signed_at": nullable(TIMESTAMP),
                            "hospital": STRING, "pdf_sop_instance_uid": nullable(STRING)}),
    "ShareView": closed({
        "id": STRING,
        "study": closed({"study_uid": STRING, "patient_name": STRING, "study_date": STRING, "description": STRING,
                          "modalities": {"type": "array", "items": STRING}}),
        "series": {"type": "array", "items": ref("ShareSeries")},
        "report": {**nullable(ref("ShareReport")), "description": "the newest approved report, null before one exists"},
        "documents": {"type": "array", "items": closed({"sop_instance_uid": STRING, "series_uid": STRING, "url": STRING})},
        "allow_download": BOOL, "expires_at": TIMESTAMP,
    }),
}

PATHS: dict[str, Any] = {
    "/studies/{study}/shares": {
        "parameters": [STUDY],
        "post": {"summary": "Share the study with the patient: a link, an access code (shown once) and QR codes",
                 "operationId": "createShare", "requestBody": json_body(ref("NewShare")),
                 "responses": {"201": {"description": "Created", **json_body(ref("NewShareLink"))},
                               "400": error("No expiry, one over 90 days, an unknown code kind or series (names it)"),
                               "401": UNAUTHENTICATED, "403": FORBIDDEN, "404": NOT_FOUND}},
        "get": {"summary": "The study's share links (never their codes)", "operationId": "listShares",
                "responses": {"200": {"description": "Links, newest first", **json_body(ref("ShareLinkList"))},
                              "400": error("The study UID in the URL is not a valid UID"),
                              "401": UNAUTHENTICATED, "403": FORBIDDEN, "404": NOT_FOUND}},
    },
    "/shares/{share}": {
        "parameters": [SHARE],
        "delete": {"summary": "Revoke the link: its tokens stop working at once", "operationId": "revokeShare",
                   "responses": {"200": {"description": "Revoked", **json_body(ref("ShareLink"))},
                                 "403": FORBIDDEN, "404": NOT_FOUND}},
    },
    "/shares/{share}/qr.png": {
        "parameters": [SHARE],
        "get": {"summary": "QR code of the link's URL (PNG, for printing)", "operationId": "shareQrPng",
                "responses": {"200": {"description": "PNG", "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
                              "403": FORBIDDEN, "404": NOT_FOUND}},
    },
    "/shares/{share}/qr.svg": {
        "parameters": [SHARE],
        "get": {"summary": "QR code of the link's URL (SVG)", "operationId": "shareQrSvg",
                "responses": {"200": {"description": "SVG", "content": {"image/svg+xml": {"schema": STRING}}},
                              "404": NOT_FOUND}},
    },
    "/shares/{share}/exchange": {
        "parameters": [SHARE],
        "post": {"summary": "The access code for a short-lived token bound to the shared study (public)",
                 "operationId": "exchangeShareCode",
                 "requestBody": json_body(closed({"code": STRING})),
                 "responses": {"200": {"description": "The token", **json_body(ref("ShareSession"))},
                               "400": error("No code given"),
                               "403": error("Wrong access code (says how many attempts are left)"),
                               "404": error("No such share link"),
                               "410": error("The link has expired or was revoked"),
                               "423": error("The link is locked after 5 wrong codes (Retry-After: seconds)"),
                               "429": error("Too many wrong codes from this client address (Retry-After: seconds)")}},
    },
    "/shares/{share}/view": {
        "parameters": [SHARE],
        "get": {"summary": "The share page: study, image series, report and documents (Bearer shr_...)",
                "operationId": "shareView",
                "responses": {"200": {"description": "What the link opens", **json_body(ref("ShareView"))},
                              "401": UNAUTHENTICATED,
                              "404": error("Not this link's token (or no share token at all)")}},
    },
    "/shares/{share}/documents/{sop}": {
        "parameters": [SHARE, SOP],
        "get": {"summary": "A report PDF of the shared study (Encapsulated PDF content; Bearer shr_...)",
                "operationId": "shareDocument",
                "responses": {"200": {"description": "PDF", "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                              "404": error("No such document in the shared study")}},
    },
}

# Path parameters are written once per path above and repeated on each operation, the form the
# rest of the document (and its contract test) uses.
for _item in PATHS.values():
    _params = _item.pop("parameters")
    for _op in _item.values():
        _op["parameters"] = _params
