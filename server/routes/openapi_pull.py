# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""The PACS pull part of the OpenAPI document (``/pull/...``), merged into ``server.routes.openapi.OPENAPI``.

Sources are the alliance administrator's; institution administrators manage their institution's
rules and see its queue and decision log; staff (not read-only) request "pull this study now" for
their institution. Filters are in the language of ``server/gateway/rules.py`` (DICOM keywords as
fields; ``=`` ``!=`` ``~`` ``!~`` ``<`` ``<=`` ``>`` ``>=``; ``;`` between alternative rules).
"""

from __future__ import annotations

from typing import Any

from server.pull.states import SUMMARIES, PullState
from server.routes.openapi_parts import TIMESTAMP, closed, error, json_body, nullable, ref


def _ok(status: str, description: str, schema: str) -> dict[str, Any]:
    return {status: {"description": description, **json_body(ref(schema))}}


STRING, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
SOURCE = {"name": "source", "in": "path", "required": True, "schema": STRING, "description": "the source's id"}
RULE = {"name": "rule", "in": "path", "required": True, "schema": STRING, "description": "the rule's id"}
BAD = error("A field is missing, of the wrong type, unknown, or a filter term is not understood (named)")
NO_SOURCE = error("No such pull source")
NO_RULE = error("No such pull rule (or one of another institution)")
CLASH = error("The name is taken")
OPEN_BODY = {"required": True, **json_body({"type": "object"})}

SOURCE_FIELDS: dict[str, Any] = {
    "id": INT, "name": STRING, "ae_title": {**STRING, "description": "the remote PACS's AE title (called AE)"},
    "host": STRING, "port": INT, "find_study": BOOL, "find_series": {**BOOL, "description": "answers series-level C-FIND"},
    "retrieve": {"type": "string", "enum": ["move", "get"]},
    "move_mode": {"type": "string", "enum": ["sync", "async"],
                  "description": "C-MOVE: sync waits for the final response; async judges completion by the counts of what arrives"},
    "utc_offset_minutes": {**INT, "description": "the PACS's clock, minutes east of UTC"},
    "mirror_group": {**STRING, "description": "sources of one group hold the same studies (failover)"},
    "enabled": BOOL, "last_polled_at": nullable(TIMESTAMP), "last_error": STRING,
}
RULE_FIELDS: dict[str, Any] = {
    "id": INT, "name": STRING, "institution": {**STRING, "description": "owner of what the rule pulls"},
    "priority": {**INT, "description": "higher first"}, "enabled": BOOL,
    "days_back": {**INT, "description": "query window: the source's today and this many days before"},
    "study_filter": STRING, "series_filter": STRING, "receive_filter": STRING,
    "repull_new_series": {**BOOL, "description": "pull a taken study again, its new series only, when the PACS later shows series the rule takes"},
}
STUDY_FIELDS: dict[str, Any] = {
    "study_uid": STRING, "accession_number": STRING, "state": {"type": "string", "enum": [s.value for s in PullState]},
    "urgent": BOOL, "priority": INT, "rule_id": nullable(INT), "source_id": nullable(INT), "modalities": STRING,
    "description": STRING, "exam_at": nullable(TIMESTAMP), "remote_count": nullable(INT), "expected_count": INT,
    "received_count": INT, "skipped_count": INT, "series_uids": {"type": "array", "items": STRING},
    "attempts": INT, "last_error": STRING, "updated_at": TIMESTAMP,
}

HINT_FIELDS: dict[str, Any] = {
    "id": INT, "accession_number": STRING, "patient_id": STRING,
    "body_part": {**STRING, "description": "added to BodyPartExamined (and HintBodyPart) for the rules of the uploader's institution"},
    "priority": {"type": "string", "enum": ["routine", "urgent"]}, "uploaded_by": STRING, "uploaded_at": TIMESTAMP,
}
HINT_UPLOAD = {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "description": "a header row naming accession_number, patient_id, body_part, priority; then one order per line"}},
    "application/json": {"schema": {"type": "object", "properties": {"orders": {"type": "array", "items": {"type": "object"}}}}},
}}

SCHEMAS: dict[str, Any] = {
    "PullSource": closed(SOURCE_FIELDS),
    "PullSourceList": closed({"sources": {"type": "array", "items": ref("PullSource")}}),
    "PullRule": closed(RULE_FIELDS),
    "PullRuleList": closed({"rules": {"type": "array", "items": ref("PullRule")}}),
    "PullRuleVerdict": closed({
        "rule": STRING, "taken": BOOL, "reason": STRING,
        "series": {"type": "array", "items": closed({"series_uid": STRING, "taken": BOOL, "reason": STRING})},
    }),
    "PullStudy": closed(STUDY_FIELDS),
    "PullHint": closed(HINT_FIELDS),
    "PullHintList": closed({"hints": {"type": "array", "items": ref("PullHint")}, "total": INT}),
    "PullHintUpload": closed({"added": INT, "updated": INT, "replaced": BOOL, "total": {**INT, "description": "orders of the institution now"}}),
    "PullQueue": closed({"studies": {"type": "array", "items": ref("PullStudy")}}),
    "PullWhy": closed({
        "study_uid": STRING, "stored_instances": INT, "summary": {**STRING, "description": "in English"},
        "summary_code": {"type": "string", "enum": list(SUMMARIES),
                         "description": "the summary as a code for the UI to word in its language, with summary_params"},
        "summary_params": {"type": "object", "additionalProperties": STRING},
        "pull": nullable(ref("PullStudy")),
        "hints": {"type": "array", "items": ref("PullHint"), "description": "RIS/HIS orders matching the study (the caller's institution's)"},
        "events": {"type": "array", "items": closed({
            "at": TIMESTAMP, "kind": STRING, "detail": STRING, "rule_id": nullable(INT), "source_id": nullable(INT)})},
    }),
}

PATHS: dict[str, Any] = {
    "/pull/sources": {
        "get": {"summary": "The remote PACS sources", "operationId": "listPullSources",
                "responses": _ok("200", "Sources", "PullSourceList")},
        "post": {"summary": "Add a source", "operationId": "createPullSource", "requestBody": OPEN_BODY,
                 "responses": {**_ok("201", "The source", "PullSource"), "400": BAD, "409": CLASH}},
    },
    "/pull/sources/{source}": {
        "put": {"summary": "Change a source (fields given replace)", "operationId": "updatePullSource", "parameters": [SOURCE],
                "requestBody": OPEN_BODY, "responses": {**_ok("200", "The source", "PullSource"), "400": BAD,
                                                         "404": NO_SOURCE}},
        "delete": {"summary": "Remove a source", "operationId": "deletePullSource", "parameters": [SOURCE],
                   "responses": {"204": {"description": "Removed"}, "400": BAD, "404": NO_SOURCE}},
    },
    "/pull/rules": {
        "get": {"summary": "The pull rules (an institution admin: their institution's)", "operationId": "listPullRules",
                "responses": _ok("200", "Rules, highest priority first", "PullRuleList")},
        "post": {"summary": "Add a rule", "operationId": "createPullRule", "requestBody": OPEN_BODY,
                 "responses": {**_ok("201", "The rule", "PullRule"), "400": BAD, "409": CLASH}},
    },
    "/pull/rules/{rule}": {
        "put": {"summary": "Change a rule", "operationId": "updatePullRule", "parameters": [RULE], "requestBody": OPEN_BODY,
                "responses": {**_ok("200", "The rule", "PullRule"), "400": BAD, "404": NO_RULE}},
        "delete": {"summary": "Remove a rule", "operationId": "deletePullRule", "parameters": [RULE],
                   "responses": {"204": {"description": "Removed"}, "400": BAD, "404": NO_RULE}},
    },
    "/pull/rules/{rule}/test": {
        "post": {"summary": "Would this rule take a study, and why not", "operationId": "testPullRule", "parameters": [RULE],
                 "description": "Body: study (DICOM keyword → value) and optionally series (a list of such), or study_uid of a study a poll saw.",
                 "requestBody": OPEN_BODY,
                 "responses": {**_ok("200", "The verdict", "PullRuleVerdict"), "400": BAD,
                               "404": error("No such rule, or no poll saw the study")}},
    },
    "/pull/queue": {
        "get": {"summary": "Pull states: the queue in pull order, then the rest", "operationId": "pullQueue",
                "parameters": [{"name": "state", "in": "query", "schema": STRING, "description": "only this state"}],
                "responses": {**_ok("200", "Studies", "PullQueue"), "400": error("Unknown state")}},
    },
    "/pull/requests": {
        "post": {"summary": "Pull this study now (for the caller's institution; queued first)",
                 "operationId": "requestPull", "requestBody": OPEN_BODY,
                 "responses": {**_ok("202", "Queued", "PullStudy"), "400": BAD,
                               "404": error("No poll saw the accession number, or the study is pulled for another institution")}},
    },
    "/pull/hints": {
        "get": {"summary": "The RIS/HIS order hints (an institution admin: their institution's), newest first",
                "operationId": "listPullHints", "responses": _ok("200", "Orders (at most 500) and their total", "PullHintList")},
        "post": {"summary": "Upload RIS/HIS orders (CSV or JSON) for the caller's institution",
                 "description": "Orders select studies their DICOM attributes misdescribe: the order's body part is a further BodyPartExamined value for the institution's rules; urgent orders are queued first.",
                 "operationId": "uploadPullHints",
                 "parameters": [{"name": "replace", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]},
                                 "description": "drop the institution's earlier orders first"}],
                 "requestBody": HINT_UPLOAD,
                 "responses": {**_ok("200", "Stored", "PullHintUpload"), "400": BAD,
                               "413": error("Larger than 8 MiB"), "415": error("Neither CSV nor JSON")}},
    },
    "/pull/why": {
        "get": {"summary": "Why don't we have study X: every query that saw it, every rejection, every attempt",
                "operationId": "pullWhy",
                "parameters": [{"name": "study", "in": "query", "schema": STRING, "description": "StudyInstanceUID"},
                               {"name": "accession", "in": "query", "schema": STRING, "description": "AccessionNumber"}],
                "responses": {**_ok("200", "The explanation", "PullWhy"), "400": error("Give exactly one of study and accession"),
                              "404": error("No poll saw the accession number")}},
    },
}
