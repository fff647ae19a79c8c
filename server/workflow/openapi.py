# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""OpenAPI 3.1 document of ``/api`` (served at ``GET /api/openapi.json``)."""

from __future__ import annotations

from typing import Any

from server.workflow.jobs import PARAMETERS
from server.workflow.states import JobState


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


ERROR = {"description": "Error", **_json_body(_ref("Error"))}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _job_op(summary: str, action: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "operationId": f"{action}Job",
            "parameters": [JOB_ID],
            "responses": {"200": {"description": "The job", **_json_body(_ref("Job"))}, "404": ERROR, "409": ERROR},
        }
    }


PARAMETER_PROPERTIES: dict[str, Any] = {}
for _name, _spec in PARAMETERS.items():
    if _spec["kind"] == "choice":
        PARAMETER_PROPERTIES[_name] = {"type": "string", "enum": _spec["choices"], "description": _spec["label"]}
    elif _spec["kind"] == "seconds_list":
        PARAMETER_PROPERTIES[_name] = {
            "oneOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}],
            "description": f"{_spec['label']} in seconds",
        }
    else:
        PARAMETER_PROPERTIES[_name] = {
            "type": "integer" if _spec["kind"] == "integer" else "number",
            "description": _spec["label"] + (f" in {_spec['unit']}" if _spec.get("unit") else ""),
        }

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Cirrus API",
        "version": "1",
        "description": "Uploads and ASL analysis jobs. DICOMweb (QIDO/WADO/STOW) lives under /dicom-web.",
    },
    "servers": [{"url": "/api"}],
    "paths": {
        "/uploads": {
            "post": {
                "summary": "Upload ZIP archives and/or DICOM files (multipart/form-data, any field names)",
                "operationId": "upload",
                "parameters": [
                    {"name": "analyse", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]},
                     "description": "0 stores without opening analysis jobs"}
                ],
                "requestBody": {
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"files": {"type": "array", "items": {"type": "string",
                                                                                  "format": "binary"}}},
                            }
                        }
                    }
                },
                "responses": {
                    "200": {"description": "What was stored and the jobs opened", **_json_body(_ref("Upload"))},
                    "400": ERROR,
                    "413": ERROR,
                    "422": ERROR,
                },
            }
        },
        "/uploads/stream": {
            "post": {
                "summary": "Upload one ZIP or DICOM file as the raw request body (large uploads)",
                "operationId": "uploadStream",
                "parameters": [{"name": "filename", "in": "query", "schema": {"type": "string"}}],
                "requestBody": {"content": {"application/zip": {"schema": {"type": "string",
                                                                           "format": "binary"}},
                                            "application/dicom": {"schema": {"type": "string",
                                                                             "format": "binary"}}}},
                "responses": {"200": {"description": "As /uploads", **_json_body(_ref("Upload"))},
                              "400": ERROR, "413": ERROR, "422": ERROR},
            }
        },
        "/jobs": {
            "get": {
                "summary": "List analysis jobs, newest first",
                "operationId": "listJobs",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string"},
                     "description": "comma-separated states: " + ", ".join(JobState)},
                    {"name": "patient", "in": "query", "schema": {"type": "string"},
                     "description": "patient name or ID; * or % match any text, ? one character"},
                    {"name": "study", "in": "query", "schema": {"type": "string"},
                     "description": "StudyInstanceUID"},
                    {"name": "date", "in": "query", "schema": {"type": "string"},
                     "description": "study date or DICOM range YYYYMMDD-YYYYMMDD"},
                    {"name": "date_from", "in": "query", "schema": {"type": "string"}},
                    {"name": "date_to", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50,
                                                                "maximum": 500}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0}},
                ],
                "responses": {"200": {"description": "A page of jobs", **_json_body(_ref("JobPage"))},
                              "400": ERROR},
            }
        },
        "/jobs/{job_id}": {
            "get": {"summary": "One job with parameters, provenance, statistics, timings and results",
                    "operationId": "getJob", "parameters": [JOB_ID],
                    "responses": {"200": {"description": "The job", **_json_body(_ref("Job"))}, "404": ERROR}},
            "delete": {"summary": "Delete a job that is not running (its derived series stay in the study)",
                       "operationId": "deleteJob", "parameters": [JOB_ID],
                       "responses": {"204": {"description": "Deleted"}, "404": ERROR, "409": ERROR}},
        },
        "/jobs/{job_id}/parameters": {
            "post": {
                "summary": "Set acquisition parameters (seconds); queues the job once nothing is missing",
                "operationId": "setJobParameters",
                "parameters": [JOB_ID],
                "requestBody": _json_body({"type": "object", "properties": PARAMETER_PROPERTIES,
                                           "additionalProperties": False}),
                "responses": {"200": {"description": "The job", **_json_body(_ref("Job"))},
                              "400": ERROR, "404": ERROR, "409": ERROR},
            }
        },
        "/jobs/{job_id}/start": {
            "post": {
                **_job_op("Queue a job now (manual priority; urgent=1 puts it before every other job)", "start")["post"],
                "parameters": [JOB_ID, {"name": "urgent", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}}],
            }
        },
        "/jobs/{job_id}/cancel": _job_op("Cancel a waiting, queued or running job", "cancel"),
        "/jobs/{job_id}/rerun": _job_op("Run a finished job again (writes a new result version)", "rerun"),
        "/jobs/{job_id}/diagnosis": {
            "post": {
                "summary": "Set the editable diagnostic information printed in the PDF report",
                "operationId": "setDiagnosis",
                "parameters": [JOB_ID],
                "requestBody": _json_body({"type": "object", "properties": {"diagnostic_text": {"type": "string"}}}),
                "responses": {"200": {"description": "The job", **_json_body(_ref("Job"))}, "404": ERROR},
            }
        },
        "/jobs/{job_id}/report.pdf": {
            "get": {
                "summary": "PDF report of the newest result (lang=zh-CN or en)",
                "operationId": "getReportPdf",
                "parameters": [JOB_ID, {"name": "lang", "in": "query",
                                        "schema": {"type": "string", "enum": ["zh-CN", "en"]}}],
                "responses": {"200": {"description": "PDF", "content": {"application/pdf": {}}},
                              "404": ERROR, "409": ERROR},
            }
        },
        "/jobs/{job_id}/report": {
            "post": {
                "summary": "Store the current PDF report (with the edited diagnostic text) in the study as a new Encapsulated PDF instance",
                "operationId": "storeReport",
                "parameters": [JOB_ID, {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["zh-CN", "en"]}}],
                "responses": {"201": {"description": "The stored instance", **_json_body({"type": "object"})}, "404": ERROR, "409": ERROR},
            }
        },
        "/jobs/{job_id}/report.csv": {
            "get": {"summary": "Regional values of the newest result as CSV", "operationId": "getReportCsv",
                    "parameters": [JOB_ID],
                    "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}},
                                  "404": ERROR, "409": ERROR}},
        },
        "/events": {
            "get": {
                "summary": "Live job changes as server-sent events (event: job, data: brief job JSON)",
                "operationId": "jobEvents",
                "parameters": [
                    {"name": "job", "in": "query", "schema": {"type": "integer"}},
                    {"name": "max_seconds", "in": "query", "schema": {"type": "number"},
                     "description": "end the stream after this long (long polling)"},
                ],
                "responses": {"200": {"description": "Event stream", "content": {"text/event-stream": {}}}},
            }
        },
        "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                  "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    },
    "components": {
        "schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}},
            "Job": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "state": {"type": "string", "enum": list(JobState)},
                    "actions": {"type": "array", "items": {"type": "string"}},
                    "missing": {"type": "array", "items": {"type": "string"}},
                    "reason": {"type": "string"},
                    "label": {"type": "string"},
                    "study_instance_uid": {"type": "string"},
                    "series_instance_uids": {"type": "array", "items": {"type": "string"}},
                    "patient_name": {"type": "string"},
                    "patient_id": {"type": "string"},
                    "progress": {"type": "number"},
                    "version": {"type": "integer"},
                    "parameters": {"type": "object"},
                    "provenance": {"type": "object"},
                    "statistics": {"type": "object"},
                    "timings": {"type": "object"},
                    "results": {"type": "array", "items": {"type": "object"}},
                },
            },
            "JobPage": {
                "type": "object",
                "properties": {"total": {"type": "integer"}, "limit": {"type": "integer"},
                               "offset": {"type": "integer"}, "jobs": {"type": "array", "items": _ref("Job")}},
            },
            "Upload": {
                "type": "object",
                "properties": {
                    "received": {"type": "integer"},
                    "stored": {"type": "integer"},
                    "duplicates": {"type": "integer"},
                    "failed": {"type": "array", "items": {"type": "object"}},
                    "skipped": {"type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "reason": {"type": "string"}}}},
                    "studies": {"type": "object"},
                    "jobs": {"type": "array", "items": _ref("Job")},
                },
            },
        }
    },
}
