# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""The "analyse this study" part of the OpenAPI document, merged into ``server.routes.openapi.OPENAPI``.

``POST /studies/{study}/analyse`` runs the analysis detection of one study now;
``POST /jobs/{job_id}/retry-detection`` does the same for the study of a ``detection_failed`` row
of the queue. Both answer an ``Analysis``: the study's jobs and the new ones, or why there are none.
"""

from __future__ import annotations

from typing import Any

from server.routes.openapi_parts import closed, error, json_body, ref
from server.workflow.analyse import FAILED, NONE, OPENED, OUTCOMES

SCHEMAS: dict[str, Any] = {
    "Analysis": closed({
        "study_instance_uid": {"type": "string", "maxLength": 64},
        "outcome": {"type": "string", "enum": list(OUTCOMES),
                    "description": f"{OPENED}: the study has analysis jobs; {NONE}: it holds no ASL or DCE "
                                   f"acquisition (reason says why); {FAILED}: the detection failed (reason; the queue shows it)"},
        "jobs": {"type": "array", "items": ref("JobSummary"), "description": "every analysis job of the study"},
        "created": {"type": "array", "items": {"type": "integer"}, "description": "ids of the jobs this run opened"},
        "reason": {"type": "string", "description": "why there are no jobs (empty when there are)"},
        "detection_failure": {"oneOf": [ref("JobSummary"), {"type": "null"}],
                              "description": "the queue's detection_failed row when the detection failed"},
    }, description="What an analysis detection run found"),
}

_ANSWERS = {"200": {"description": "What the detection found", **json_body(ref("Analysis"))},
            "400": error("A malformed UID or job id"),
            "403": error("The caller's role, or an institution that does not own the study")}

PATHS: dict[str, Any] = {
    "/studies/{study}/analyse": {
        "post": {
            "summary": "Analyse this study: run the ASL/DCE detection now; answers the jobs that exist or were opened, or why there are none",
            "operationId": "analyseStudy",
            "parameters": [{"name": "study", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "StudyInstanceUID"}],
            "responses": {**_ANSWERS, "404": error("No such study (or not visible to the caller)")},
        }
    },
    "/jobs/{job_id}/retry-detection": {
        "post": {
            "summary": "Retry the failed analysis detection of a detection_failed row (removed once the detection succeeds)",
            "operationId": "retryDetectionJob",
            "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {**_ANSWERS, "404": error("No such job"),
                          "409": error("The job is not a failed detection")},
        }
    },
}
