# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""OpenAPI 3.1 document of ``/api`` (served at ``GET /api/openapi.json``).

This document is the one contract between the server and the browser: the frontend's TypeScript
types are generated from it (``npm run gen:api`` writes ``viewer-frontend/src/api/schema.d.ts``) and
``tests/server/test_openapi_contract.py`` validates real responses of a running app against it. Every
object schema is closed (``additionalProperties: false``) and lists what is always sent as
``required``, so a field added, renamed or dropped on one side fails the contract test or the build.
"""

from __future__ import annotations

import re
from typing import Any

from quant import Source
from quant.regions import PANELS
from server.auth import rules
from server.reading.states import RequestState
from server.routes import (
    openapi_accounts,
    openapi_analyse,
    openapi_audit,
    openapi_dce,
    openapi_measurements,
    openapi_presets,
    openapi_pull,
    openapi_reading,
    openapi_reading_more,
    openapi_shares,
)
from server.routes.openapi_parts import STRING, TIMESTAMP, UID, closed, error, json_body, nullable, ref
from server.workflow.jobs import M0_MISSING, PARAMETERS
from server.workflow.states import TRANSITIONS, JobState

# The name of the server-sent event /api/events sends for each job change (``event: job``).
JOB_EVENT = "job"


BAD_REQUEST = error("The request is malformed (e.g. a job id that is not an integer)")
NOT_FOUND = error("No such job")
CONFLICT = error("The job's state does not allow this action")
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}
LANG = {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["zh-CN", "en"]},
        "description": "report language (default: from Accept-Language)"}
NUMBER_OR_NULL = nullable({"type": "number"})
MANUAL_ACTIONS = [t.action for t in TRANSITIONS.values() if t.manual]


def _parameter_value(spec: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of one settable parameter's value (as sent and as stored in ``overrides``)."""
    label = spec["label"] + (f" in {spec['unit']}" if spec.get("unit") else "")
    if spec["kind"] == "choice":
        return {"type": "string", "enum": spec["choices"], "description": spec["label"]}
    if spec["kind"] == "seconds_list":
        return {"oneOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}, "minItems": 1}],
                "description": f"{spec['label']} in seconds"}
    return {"type": "integer" if spec["kind"] == "integer" else "number", "description": label}


PARAMETER_PROPERTIES: dict[str, Any] = {name: _parameter_value(spec) for name, spec in PARAMETERS.items()}
TIME_UNIT = {"type": "string", "enum": ["ms", "s"]}


def _entered_value(spec: dict[str, Any]) -> dict[str, Any]:
    """As sent: a time may also be text ("1800, 2000") or {"value": ..., "unit": "ms" | "s"}."""
    stored = _parameter_value(spec)
    if not spec["kind"].startswith("seconds"):
        return {"oneOf": [stored, {"type": "null"}, {"type": "string", "enum": [""]}], "description": stored["description"]}
    value = {"oneOf": [{"type": "number"}, {"type": "string"}, {"type": "array", "items": {"type": "number"}, "minItems": 1}]}
    return {"oneOf": [value, {"type": "null"}, closed({"value": value, "unit": TIME_UNIT}, optional=("unit",))],
            "description": f"{spec['label']}: seconds unless a unit is given (1800 s is refused, never read as ms)"}


ENTERED_PROPERTIES: dict[str, Any] = {name: _entered_value(spec) for name, spec in PARAMETERS.items()}

JOB_SUMMARY_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "method": {"type": "string", "enum": ["ASL", "DCE"], "description": "the analysis: ASL perfusion or DCE-MRI pharmacokinetics"},
    "state": ref("JobState"),
    "actions": {"type": "array", "items": ref("JobAction"), "uniqueItems": True,
                "description": "what a person may do in this state (the state table's manual transitions)"},
    "missing": {"type": "array", "items": {"type": "string"},
                "description": f"names of missing parameters (keys of parameter_schema) or {M0_MISSING!r} for a missing M0 series"},
    "reason": {"type": "string", "description": "why the job waits or failed (detection_failed: why the study's analysis detection failed), or notes on the result"},
    "label": STRING,
    "vendor": STRING,
    "labeling": STRING,
    "study_instance_uid": UID,
    "series_instance_uids": {"type": "array", "items": UID},
    "m0_series_instance_uid": nullable(UID),
    "t1_series_instance_uid": nullable(UID),
    "patient_name": STRING,
    "patient_id": STRING,
    "study_date": {"type": "string", "description": "YYYYMMDD or empty"},
    "study_description": STRING,
    "priority": {"type": "integer"},
    "progress": {"type": "number", "minimum": 0, "maximum": 1},
    "stage": STRING,
    "attempts": {"type": "integer"},
    "worker": nullable(STRING),
    "max_attempts": {"type": "integer"},
    "version": {"type": "integer", "minimum": 0, "description": "number of the newest result (0: none yet)"},
    "cbf_mean": nullable({"type": "number", "description": "whole-brain mean CBF of the newest result (ml/100g/min)"}),
    "qc": nullable(closed({
        "status": {"type": "string", "enum": ["pass", "warning", "fail"]},
        "flags": {"type": "array", "items": closed({"code": STRING, "severity": {"type": "string", "enum": ["info", "warning", "fail"]},
                                                     "message": STRING})},
    }, description="quality control of the newest result (the full report is statistics.qc)")),
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "queued_at": nullable(TIMESTAMP),
    "started_at": nullable(TIMESTAMP),
    "finished_at": nullable(TIMESTAMP),
}

JOB_PROPERTIES: dict[str, Any] = {
    **JOB_SUMMARY_PROPERTIES,
    "parameters": ref("JobParameters"),
    "provenance": {"type": "object", "additionalProperties": ref("DetectedParameter"),
                   "description": "every value the quantification used, with where it came from"},
    "statistics": ref("Statistics"),
    "timings": {"type": "object", "additionalProperties": {"type": "number"}, "description": "seconds per stage"},
    "diagnostic_text": STRING,
    "override_notes": {"type": "object", "additionalProperties": closed({
        "source": {"type": "string", "enum": ["user", "preset"]}, "detail": STRING, "preset_id": {"type": "integer"}},
        optional=("preset_id",)), "description": "where each override came from (a person, with the unit entered, or a preset)"},
    "protocol": nullable(ref("ProtocolIdentity")),
    "parameter_schema": {"type": "object", "properties": {name: ref("ParameterSpec") for name in PARAMETERS},
                         "required": [], "additionalProperties": False,
                         "description": "the parameters of this job's method a person may set"},
}

JOB_DETAIL_PROPERTIES: dict[str, Any] = {
    **JOB_PROPERTIES,
    "results": {"type": "array", "items": ref("JobResult"), "description": "every result version, oldest first"},
}

UPLOAD_PROPERTIES: dict[str, Any] = {
    "received": {"type": "integer", "description": "files found (archives expanded)"},
    "stored": {"type": "integer"},
    "duplicates": {"type": "integer"},
    "failed": {"type": "array", "items": ref("NamedReason"), "description": "DICOM files ingest refused"},
    "skipped": {"type": "array", "items": ref("NamedReason"), "description": "files that are not DICOM"},
    "studies": {"type": "object", "additionalProperties": ref("UploadedStudy"), "description": "by StudyInstanceUID"},
    "jobs": {"type": "array", "items": ref("JobSummary"), "description": "analysis jobs opened for the uploaded studies"},
}

SCHEMAS: dict[str, Any] = {
    "Error": closed({"error": STRING, "status": {"type": "integer"},
                      "state": {"type": "string",
                                "enum": [*(s.value for s in JobState),
                                         *(s.value for s in RequestState if s.value not in set(JobState))],
                                "description": "409: the job's or reading request's current state"},
                      "problems": {"type": "array", "description": "400: each refused value, with a code and "
                                   "parameters a UI words in its own language", "items": closed(
                                       {"code": STRING, "params": {"type": "object"}, "message": STRING})}},
                     optional=("state", "problems")),
    "JobState": {"type": "string", "enum": list(JobState)},
    "JobAction": {"type": "string", "enum": MANUAL_ACTIONS},
    "JobSummary": closed(JOB_SUMMARY_PROPERTIES, description="A job as listed, in events and in upload answers"),
    "Job": closed(JOB_PROPERTIES, description="A job after an action: the summary with parameters and outcome"),
    "JobDetail": closed(JOB_DETAIL_PROPERTIES, description="GET /jobs/{job_id}: the job with its result versions"),
    "JobPage": closed({"total": {"type": "integer"}, "limit": {"type": "integer"}, "offset": {"type": "integer"},
                        "jobs": {"type": "array", "items": ref("JobSummary")}}),
    "JobResult": closed({
        "version": {"type": "integer", "minimum": 1},
        "series": {"type": "object", "additionalProperties": UID,
                   "description": "role (CBF, ATT, REPORT, ...) → SeriesInstanceUID in the job's study"},
        "superseded": {"type": "boolean"},
        "created_at": TIMESTAMP,
    }),
    "JobParameters": closed({
        "detected": {"type": "object", "additionalProperties": ref("DetectedParameter"),
                     "description": "what the server read from the headers, by parameter name"},
        "overrides": closed({**PARAMETER_PROPERTIES,
                              "rois": {"type": "object", "additionalProperties": ref("DceRoi"),
                                       "description": "DCE: drawn ROIs (PUT /jobs/{job_id}/dce/rois)"},
                              "aif_roi": ref("DceRoi")},
                             optional=(*PARAMETERS, "rois", "aif_roi"),
                             description="values a person set (POST /jobs/{job_id}/parameters)"),
        "model": {"type": "string", "enum": PARAMETERS["model"]["choices"]},
    }),
    "DetectedParameter": closed({
        "name": STRING,
        "value": {"description": "a number, a list of numbers or a text"},
        "unit": STRING,
        "source": {"type": "string", "enum": list(Source.__args__)},
        "detail": {"type": "string", "description": "e.g. the DICOM attribute it was read from"},
    }),
    "ParameterSpec": closed({
        "label": STRING,
        "kind": {"type": "string", "enum": ["seconds", "seconds_list", "number", "integer", "choice"]},
        "unit": STRING,
        "choices": {"type": "array", "items": STRING},
    }, optional=("unit", "choices")),
    "ParameterValues": closed(ENTERED_PROPERTIES, optional=tuple(PARAMETERS),
                               description="null or empty text removes an earlier value"),
    "ParameterEntry": closed({
        "parameters": ref("ParameterValues"),
        "units": {"type": "object", "properties": {n: TIME_UNIT for n, spec in PARAMETERS.items() if spec["kind"].startswith("seconds")},
                  "additionalProperties": False, "description": "the unit each time was entered in"},
        "remember": {"type": "boolean", "description": "save the entered values as the preset of this job's protocol"},
    }, optional=("units", "remember")),
    "ProtocolIdentity": closed({"manufacturer": STRING, "protocol": STRING, "sequence": STRING, "station": STRING,
                                 "key": {**STRING, "description": "normalised look-up key of presets"}, "label": STRING}),
    "Upload": closed(UPLOAD_PROPERTIES),
    "UploadRefused": closed({**UPLOAD_PROPERTIES, "error": STRING},
                             description="Nothing could be stored: the summary and the reason"),
    "NamedReason": closed({"name": STRING, "reason": STRING}),
    "UploadedStudy": closed({
        "series": {"type": "object", "additionalProperties": ref("UploadedSeries"), "description": "by SeriesInstanceUID"},
        "patient_name": STRING,
        "patient_id": STRING,
        "study_date": STRING,
        "study_description": STRING,
    }),
    "UploadedSeries": closed({
        "stored": {"type": "integer"},
        "duplicate": {"type": "integer"},
        "modality": STRING,
        "series_number": nullable({"type": "integer"}),
        "series_description": STRING,
    }),
    "Statistics": closed({
        "whole_brain": ref("RegionSummary"),
        "grey_matter_like": ref("RegionSummary"),
        "left_hemisphere": ref("HemisphereSummary"),
        "right_hemisphere": ref("HemisphereSummary"),
        "asymmetry_index_percent": nullable({"type": "number", "description": "200·(L−R)/(L+R)"}),
        "per_slice": {"type": "array", "items": ref("SliceSummary")},
        "att_whole_brain": ref("RegionSummary"),
        "model": {"type": "string", "description": "the model that computed the result"},
        "qc": ref("QualityControl"),
        "regions": ref("Regions"),
        "dce": ref("DceStatistics"),
    }, optional=("whole_brain", "grey_matter_like", "left_hemisphere", "right_hemisphere", "asymmetry_index_percent",
                 "per_slice", "att_whole_brain", "model", "qc", "regions", "dce"),
        description="CBF (ml/100g/min) and ATT (s) of the newest result by region; empty before the first result"),
    "QualityControl": closed({
        "status": {"type": "string", "enum": ["pass", "warning", "fail"],
                   "description": "the worst flag; fail means the numbers are not a normal result"},
        "flags": {"type": "array", "items": ref("QcFlag")},
        "measures": {"type": "object", "additionalProperties": nullable({"type": "number"}),
                     "description": "whole_brain_cbf, delta_m_negative_fraction, motion_max_mm, tsnr_global, ..."},
    }, description="Quality control of the result (quant.qc)"),
    "QcFlag": closed({
        "code": {"type": "string", "description": "stable identifier, e.g. cbf_implausible_high (translate by code)"},
        "severity": {"type": "string", "enum": ["info", "warning", "fail"]},
        "message": {"type": "string", "description": "an English sentence with the numbers"},
        "values": {"type": "object", "additionalProperties": nullable({"type": "number"})},
    }),
    "Regions": closed({
        "atlas": STRING,
        "reference": {"type": "string", "description": "the reference region of relative CBF (e.g. cerebellum)"},
        "reference_cbf": NUMBER_OR_NULL,
        "registration": {"type": "object", "description": "how the ASL data reached MNI space: input (T1, M0 or given), template, stages, seconds"},
        "regions": {"type": "object", "additionalProperties": ref("RegionValue"), "description": "by region key"},
        "panels": {"type": "object", "additionalProperties": {"type": "array", "items": ref("PanelRow")},
                   "description": "disease panels by key: alzheimers, cerebrovascular, metabolic"},
        "has_att": {"type": "boolean"},
        "provenance": {"type": "object", "additionalProperties": STRING},
        "warnings": {"type": "array", "items": STRING},
        "csv": {"type": "string", "description": "every region as CSV"},
        "panels_csv": {"type": "object", "additionalProperties": STRING, "description": "one CSV per panel"},
    }, description="Regional analysis in atlas space (quant.regions)"),
    "RegionValue": closed({
        "key": STRING, "base": STRING, "side": STRING, "group": STRING, "name_en": STRING, "name_zh": STRING,
        "segment": {"type": "integer"}, "n": {"type": "integer"}, "cbf_mean": NUMBER_OR_NULL,
        "cbf_median": NUMBER_OR_NULL, "cbf_sd": NUMBER_OR_NULL, "att_mean": NUMBER_OR_NULL,
        "relative_cbf": NUMBER_OR_NULL,
    }),
    "PanelRow": closed({
        "base": STRING, "name_en": STRING, "name_zh": STRING,
        "left": nullable(ref("PanelSide")), "right": nullable(ref("PanelSide")),
        "asymmetry_index_percent": NUMBER_OR_NULL,
    }),
    "PanelSide": closed({"key": STRING, "n": {"type": "integer"}, "cbf_mean": NUMBER_OR_NULL,
                          "relative_cbf": NUMBER_OR_NULL, "att_mean": NUMBER_OR_NULL}),
    "RegionSummary": closed({"n": {"type": "integer"}, "mean": nullable({"type": "number"}),
                              "median": nullable({"type": "number"}), "sd": nullable({"type": "number"})}),
    "SliceSummary": closed({"slice": {"type": "integer"}, "n": {"type": "integer"}, "mean": nullable({"type": "number"}),
                             "median": nullable({"type": "number"}), "sd": nullable({"type": "number"})}),
    "HemisphereSummary": closed({"n": {"type": "integer"}, "mean": nullable({"type": "number"})}),
    "StoredReport": closed({"series_instance_uid": UID, "sop_instance_uid": UID, "instance_number": {"type": "integer"}}),
    "JobEvent": closed({
        "event": {"const": JOB_EVENT},
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the job id"},
        "data": ref("JobSummary"),
    }, description="One message of GET /events as its fields read (event:, id:, data: JSON)"),
}


def _job_op(summary: str, action: str, *extra_parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "operationId": f"{action}Job",
            "parameters": [JOB_ID, *extra_parameters],
            "responses": {"200": {"description": "The job", **json_body(ref("Job"))},
                          "400": BAD_REQUEST, "404": NOT_FOUND, "409": CONFLICT},
        }
    }


def _upload_responses() -> dict[str, Any]:
    return {
        "200": {"description": "What was stored and the jobs opened", **json_body(ref("Upload"))},
        "400": error("Not a readable upload (no boundary, no files, empty body)"),
        "413": error("Larger than CIRRUS_MAX_UPLOAD_BYTES"),
        "429": error("The client has CIRRUS_MAX_CONCURRENT_UPLOADS uploads in progress, or started "
                     "CIRRUS_UPLOADS_PER_MINUTE this minute (Retry-After: seconds)"),
        "422": {"description": "Nothing could be stored", **json_body(ref("UploadRefused"))},
    }


ANALYSE = {"name": "analyse", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]},
           "description": "0 stores without opening analysis jobs"}

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
REFUSALS = {"401": error("No valid credentials"),
            "403": error("The credential lacks the scope, or the caller's role may not do this (or a missing CSRF token)")}


def with_refusals(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation the access rule table does not make public may answer 401 and 403 (the
    authentication middleware refuses before the route runs); add what an operation does not say."""
    for template, item in paths.items():
        concrete = "/api" + re.sub(r"\{[^}]+\}", "x", template)
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None or rules.is_public(method.upper(), concrete):
                continue
            rule = rules.rule_for(method.upper(), concrete)
            # A read any signed-in caller may make is never refused with 403 (every credential reads;
            # no role or CSRF check).
            anyone_reads = (method in ("get", "head") and rule.scope in (None, rules.Scope.READ)
                            and rule.roles == rules.ALL_ROLES)
            for status, response in REFUSALS.items():
                if not (status == "403" and anyone_reads):
                    operation["responses"].setdefault(status, response)
    return paths


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Cirrus API",
        "version": "1",
        "description": "Uploads, ASL and DCE analysis jobs and the reading workflow (requests, worklists, reports). DICOMweb (QIDO/WADO/STOW) lives under /dicom-web. "
                       "Errors answer {\"error\": message, \"status\": code}.",
    },
    "servers": [{"url": "/api"}],
    "paths": with_refusals({
        "/uploads": {
            "post": {
                "summary": "Upload ZIP archives and/or DICOM files (multipart/form-data, any field names)",
                "operationId": "upload",
                "parameters": [ANALYSE],
                "requestBody": {
                    "content": {
                        "multipart/form-data": {
                            "schema": {"type": "object", "properties": {
                                "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}},
                        }
                    }
                },
                "responses": _upload_responses(),
            }
        },
        "/uploads/stream": {
            "post": {
                "summary": "Upload one ZIP or DICOM file as the raw request body (large uploads; PUT works too)",
                "operationId": "uploadStream",
                "parameters": [{"name": "filename", "in": "query", "schema": STRING}, ANALYSE],
                "requestBody": {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}},
                                            "application/dicom": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": _upload_responses(),
            }
        },
        "/jobs": {
            "get": {
                "summary": "List analysis jobs, newest first",
                "operationId": "listJobs",
                "parameters": [
                    {"name": "status", "in": "query", "schema": STRING,
                     "description": "comma-separated states: " + ", ".join(JobState)},
                    {"name": "patient", "in": "query", "schema": STRING,
                     "description": "patient name or ID; * or % match any text, ? one character"},
                    {"name": "study", "in": "query", "schema": STRING, "description": "StudyInstanceUID"},
                    {"name": "date", "in": "query", "schema": STRING,
                     "description": "study date or DICOM range YYYYMMDD-YYYYMMDD"},
                    {"name": "date_from", "in": "query", "schema": STRING},
                    {"name": "date_to", "in": "query", "schema": STRING},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50, "minimum": 1, "maximum": 500}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0, "minimum": 0}},
                ],
                "responses": {"200": {"description": "A page of jobs", **json_body(ref("JobPage"))},
                              "400": error("A filter is malformed")},
            }
        },
        "/jobs/{job_id}": {
            "get": {"summary": "One job with parameters, provenance, statistics, timings and results",
                    "operationId": "getJob", "parameters": [JOB_ID],
                    "responses": {"200": {"description": "The job", **json_body(ref("JobDetail"))},
                                  "400": BAD_REQUEST, "404": NOT_FOUND}},
            "delete": {"summary": "Delete a job that is not running (its derived series stay in the study)",
                       "operationId": "deleteJob", "parameters": [JOB_ID],
                       "responses": {"204": {"description": "Deleted"}, "400": BAD_REQUEST, "404": NOT_FOUND,
                                     "409": CONFLICT}},
        },
        "/jobs/{job_id}/parameters": {
            "post": {
                "summary": "Set acquisition parameters (times in ms or s, the unit given); queues the job once nothing is missing; remember saves them for the protocol; on a job that ran (a preset's value edited for this study) it runs again, the new result superseding the old",
                "operationId": "setJobParameters",
                "parameters": [JOB_ID],
                "requestBody": json_body({"oneOf": [ref("ParameterEntry"), ref("ParameterValues")]}),
                "responses": {"200": {"description": "The job", **json_body(ref("Job"))},
                              "400": error("Unknown parameters or implausible values (all of them named); remember without values a preset may hold"), "404": NOT_FOUND,
                              "409": CONFLICT},
            }
        },
        "/jobs/{job_id}/start": _job_op(
            "Queue a job now (manual priority; urgent=1 puts it before every other job)", "start",
            {"name": "urgent", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
        ),
        "/jobs/{job_id}/cancel": _job_op("Cancel a waiting, queued or running job", "cancel"),
        "/jobs/{job_id}/rerun": _job_op("Run a finished job again (writes a new result version)", "rerun"),
        "/jobs/{job_id}/diagnosis": {
            "post": {
                "summary": "Set the editable diagnostic information printed in the PDF report (PUT works too)",
                "operationId": "setDiagnosis",
                "parameters": [JOB_ID],
                "requestBody": json_body(closed({"diagnostic_text": STRING})),
                "responses": {"200": {"description": "The job", **json_body(ref("Job"))},
                              "400": error("Not a text, or longer than 20000 characters"), "404": NOT_FOUND},
            }
        },
        "/jobs/{job_id}/report.pdf": {
            "get": {
                "summary": "PDF report of the newest result",
                "operationId": "getReportPdf",
                "parameters": [JOB_ID, LANG],
                "responses": {"200": {"description": "PDF", "content": {"application/pdf": {}}},
                              "400": BAD_REQUEST, "404": NOT_FOUND, "409": error("The job has no result yet")},
            }
        },
        "/jobs/{job_id}/report": {
            "post": {
                "summary": "Store the current PDF report (with the edited diagnostic text) in the study as a new Encapsulated PDF instance",
                "operationId": "storeReport",
                "parameters": [JOB_ID, LANG],
                "responses": {"201": {"description": "The stored instance", **json_body(ref("StoredReport"))},
                              "400": BAD_REQUEST, "404": NOT_FOUND, "409": error("The job has no result yet")},
            }
        },
        "/jobs/{job_id}/report.csv": {
            "get": {"summary": "Regional values of the newest result as CSV", "operationId": "getReportCsv",
                    "parameters": [JOB_ID],
                    "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}},
                                  "400": BAD_REQUEST, "404": NOT_FOUND, "409": error("The job has no result yet")}},
        },
        "/jobs/{job_id}/panels/{panel}.csv": {
            "get": {"summary": "One disease panel (alzheimers, cerebrovascular, metabolic) of the newest result as CSV: "
                               "regions, left/right CBF, relative CBF, asymmetry index (and ATT where measured)",
                    "operationId": "getPanelCsv",
                    "parameters": [JOB_ID, {"name": "panel", "in": "path", "required": True,
                                            "schema": {"type": "string", "enum": list(PANELS)}}],
                    "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}},
                                  "400": BAD_REQUEST, "404": NOT_FOUND,
                                  "409": error("The job has no result yet, or no regional analysis")}},
        },
        "/events": {
            "get": {
                "summary": f"Live job changes as server-sent events: `event: {JOB_EVENT}`, `id:` the job id, `data:` a JobSummary (see the JobEvent schema)",
                "operationId": "jobEvents",
                "parameters": [
                    {"name": "job", "in": "query", "schema": {"type": "integer"}, "description": "only this job"},
                    {"name": "max_seconds", "in": "query", "schema": {"type": "number"},
                     "description": "end the stream after this long (long polling)"},
                ],
                "responses": {
                    "200": {"description": "Event stream of JobEvent messages",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                            "x-event-schema": ref("JobEvent")},
                    "400": error("job is not an integer or max_seconds not a number"),
                },
            }
        },
        **openapi_analyse.PATHS,
        **openapi_dce.PATHS,
        **openapi_reading.PATHS,
        **openapi_reading_more.PATHS,
        **openapi_accounts.PATHS,
        **openapi_shares.PATHS,
        **openapi_pull.PATHS,
        **openapi_audit.PATHS,
        **openapi_presets.PATHS,
        **openapi_measurements.PATHS,
        "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                  "responses": {"200": {"description": "OpenAPI 3.1",
                                                        **json_body({"type": "object"})}}}},
    }),
    "components": {"schemas": {**SCHEMAS, **openapi_analyse.SCHEMAS, **openapi_dce.SCHEMAS, **openapi_reading.SCHEMAS, **openapi_reading_more.SCHEMAS,
                               **openapi_accounts.SCHEMAS,
                               **openapi_shares.SCHEMAS, **openapi_pull.SCHEMAS, **openapi_audit.SCHEMAS,
                               **openapi_presets.SCHEMAS, **openapi_measurements.SCHEMAS}},
}


if __name__ == "__main__":  # `python -m server.routes.openapi`: the document on stdout (npm run gen:api reads it)
    import json
    import sys

    json.dump(OPENAPI, sys.stdout, ensure_ascii=False, indent=1)
