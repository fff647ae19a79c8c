# ruff: noqa: E501  (a data document: long lines read better than wrapped ones)
"""The DCE part of the OpenAPI document (merged into ``server.routes.openapi.OPENAPI``).

A DCE job's statistics (``Statistics.dce``: regional values per map, mean curves and the AIF) and
the ROI time–intensity curve endpoint. Closed object schemas, as in the rest of the document.
"""

from __future__ import annotations

from typing import Any

from server.routes.openapi_parts import INT, closed, error, nullable, ref

NUMBERS = {"type": "array", "items": {"type": "number"}}
NUMBER_OR_NULL = nullable({"type": "number"})
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": INT}

SCHEMAS: dict[str, Any] = {
    "DceStatistics": closed({
        "mask": ref("DceRegion"),
        "rois": {"type": "object", "additionalProperties": ref("DceRegion"),
                 "description": "hotspot (top decile of Ktrans in the mask), the measured AIF's arterial region (aif_region) and drawn ROIs (roi_<name>)"},
        "curves": {"type": "object", "additionalProperties": ref("DceCurve"),
                   "description": "mean curves of the mask, the arterial region (aif_region) and drawn ROIs"},
        "phase_times_s": NUMBERS,
        "aif": ref("DceAif"),
        "units": {"type": "object", "additionalProperties": {"type": "string"}, "description": "UCUM unit of each map"},
        "shape": {"type": "array", "items": INT, "description": "slices, rows, columns of the maps"},
    }, description="DCE results: Ktrans (1/min), ve, kep (1/min), vp and curve parameters by region"),
    "DceRegion": closed({
        "n_voxels": INT,
        "n_fitted": {"type": "integer", "description": "voxels of the region inside the fitted mask"},
        "maps": {"type": "object", "additionalProperties": ref("DceMapSummary"), "description": "by map name"},
    }, optional=("n_fitted",)),
    "DceMapSummary": closed({"n": INT, "mean": NUMBER_OR_NULL, "median": NUMBER_OR_NULL, "sd": NUMBER_OR_NULL,
                              "p25": NUMBER_OR_NULL, "p75": NUMBER_OR_NULL}),
    "DceCurve": closed({"signal": NUMBERS, "concentration_mM": NUMBERS}),
    "DceAif": closed({"kind": {"type": "string", "description": "parker, weinmann, measured or auto (empty: unknown)"},
                       "plasma_mM": {**NUMBERS, "description": "plasma concentration at the phase times"},
                       "region": ref("DceAifRegion")}, optional=("region",)),
    "DceAifRegion": closed({
        "how": {"type": "string", "enum": ["auto", "drawn"], "description": "detected automatically (early, high, washing-out peak) or drawn by a person"},
        "detail": {"type": "string"},
        "roi": nullable(ref("DceRoi")),
        "n_voxels": INT,
        "slices": {"type": "array", "items": INT, "description": "0-based slices holding arterial voxels"},
        "bbox": closed({"slice": {"type": "array", "items": INT}, "row": {"type": "array", "items": INT},
                         "column": {"type": "array", "items": INT}}, description="[first, last] per axis"),
        "centroid": {**NUMBERS, "description": "slice, row, column"},
        "voxels": nullable({"type": "array", "items": {"type": "array", "items": INT},
                             "description": "(slice, row, column) of every arterial voxel (null beyond 4096: see runs)"}),
        "runs": nullable({"type": "array", "items": {"type": "array", "items": INT, "minItems": 2, "maxItems": 2},
                           "description": "beyond 4096 voxels: [start, length] runs of flat (slice, row, column) indices"}),
        "series_uid": {"type": "string", "description": "the dynamic series the region lies on (the maps share its grid)"},
    }, optional=("runs", "series_uid"), description="The arterial region a measured AIF was taken from, recorded with the job"),
    "DceRoi": closed({
        "slice": {"type": "integer", "minimum": 0, "description": "0-based slice of the dynamic series (and of the maps)"},
        "x": {"type": "number", "description": "column (circle or ellipse centre, or rectangle's left edge)"},
        "y": {"type": "number", "description": "row (circle or ellipse centre, or rectangle's top edge)"},
        "r": {"type": "number", "description": "circle radius in pixels"},
        "rx": {"type": "number", "description": "ellipse half-width in pixels"},
        "ry": {"type": "number", "description": "ellipse half-height in pixels"},
        "width": {"type": "number"},
        "height": {"type": "number"},
        "points": {"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                   "minItems": 3, "description": "freehand polygon: [x, y] vertices in pixels"},
    }, optional=("x", "y", "r", "rx", "ry", "width", "height", "points")),
    "DceRoiCurve": closed({
        "job_id": INT,
        "version": {"type": "integer", "minimum": 1},
        "roi": ref("DceRoi"),
        "n_voxels": INT,
        "maps": {"type": "object", "additionalProperties": ref("DceMapSummary"),
                 "description": "the ROI's model maps (ktrans, ve, kep, vp as the job's model gives them) and curve parameters (ttp s, max_enhancement %, initial_slope and max_slope %/min, washout %, auc mmol/L.s)"},
        "phase_times_s": {**NUMBERS, "description": "from the first phase"},
        "signal": {**NUMBERS, "description": "mean signal of the ROI per phase"},
        "relative_enhancement": {**NUMBERS, "description": "signal / baseline − 1"},
        "concentration_mM": {**NUMBERS, "description": "mean contrast-agent concentration (SPGR, the run's T10 and r1)"},
        "baseline_phases": INT,
        "aif": ref("DceAif"),
    }, description="The time–intensity curve of an ROI with the job's AIF"),
}

ROI_PARAMETERS = [
    {"name": "slice", "in": "query", "schema": {"type": "integer", "minimum": 0},
     "description": "0-based slice (required unless sop names the image the ROI was drawn on)"},
    {"name": "sop", "in": "query", "schema": {"type": "string"},
     "description": "SOP Instance UID of the image the ROI was drawn on (any phase of the dynamic series, or a single-frame image on its pixel grid such as the job's MR maps): gives the slice"},
    {"name": "x", "in": "query", "schema": {"type": "number"}, "description": "column (required unless points)"},
    {"name": "y", "in": "query", "schema": {"type": "number"}, "description": "row (required unless points)"},
    {"name": "r", "in": "query", "schema": {"type": "number"}, "description": "circle radius (pixels)"},
    {"name": "rx", "in": "query", "schema": {"type": "number"}, "description": "ellipse half-width (pixels)"},
    {"name": "ry", "in": "query", "schema": {"type": "number"}, "description": "ellipse half-height (pixels)"},
    {"name": "points", "in": "query", "schema": {"type": "string"},
     "description": "freehand polygon: x1,y1;x2,y2;... (pixels, at least 3 vertices)"},
    {"name": "width", "in": "query", "schema": {"type": "number"}, "description": "rectangle width (pixels)"},
    {"name": "height", "in": "query", "schema": {"type": "number"}, "description": "rectangle height (pixels)"},
]

ROIS_BODY = {"content": {"application/json": {"schema": closed({
    "rois": {"type": "object", "additionalProperties": ref("DceRoi"), "maxProperties": 8,
             "description": "name (letters, digits, _ and -) → ROI; {} removes them"},
    "aif_roi": {**nullable(ref("DceRoi")),
                "description": "a drawn arterial region: the AIF is measured there (null removes it; absent keeps it)"},
}, optional=("aif_roi",))}}}

PATHS: dict[str, Any] = {
    "/jobs/{job_id}/dce/rois": {
        "put": {
            "summary": "Keep drawn ROIs (e.g. the tumour) with a DCE job: reported as roi_<name> in its statistics, CSV and PDF; a finished job runs again",
            "operationId": "setDceRois",
            "parameters": [JOB_ID],
            "requestBody": ROIS_BODY,
            "responses": {
                "200": {"description": "The job (queued again when it had finished)",
                        "content": {"application/json": {"schema": ref("Job")}}},
                "400": error("A malformed ROI, an ROI outside the series, or not a DCE job"),
                "404": error("No such job"),
                "409": error("The job is running"),
            }
        }
    },
    "/jobs/{job_id}/dce/curve": {
        "get": {
            "summary": "Time–intensity curve of a circle (r), ellipse (rx, ry), rectangle (width, height) or freehand polygon (points) on one slice of a DCE job's dynamic series (the series is kept loaded per process)",
            "operationId": "getDceCurve",
            "parameters": [JOB_ID, *ROI_PARAMETERS],
            "responses": {
                "200": {"description": "The ROI's curves and the AIF",
                        "content": {"application/json": {"schema": ref("DceRoiCurve")}}},
                "400": error("A malformed ROI, an ROI outside the series, or not a DCE job"),
                "404": error("No such job"),
                "409": error("The job has no result yet"),
            }
        }
    },
}
