"""DCE-specific JSON API: the time–intensity curve of an ROI drawn on a DCE job's dynamic series,
and the ROIs (e.g. the tumour) kept with the job and reported in its statistics, CSV and PDF.

``GET /api/jobs/{job_id}/dce/curve?slice=k&x=col&y=row&r=radius`` (a circle), ``...&rx=a&ry=b``
(an ellipse around x, y), ``...&width=w&height=h`` (a rectangle from its top-left corner) or
``?slice=k&points=x1,y1;x2,y2;...`` (a freehand polygon), pixel coordinates of the dynamic series
(the derived maps share its grid); the series is loaded once per process (``dce_cache``).
``PUT /api/jobs/{job_id}/dce/rois`` with ``{"rois": {"tumour": {...}}, "aif_roi": {...}}`` keeps
the regions and the drawn arterial region (a finished job runs again). Mounted under ``/api``;
documented in ``openapi_dce.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from quant import QuantError
from server.app_errors import InvalidInput
from server.http import ctx_of, json_response, principal_of
from server.workflow import dce, dce_cache, dce_jobs, dce_params, jobs

ROI_FIELDS = ("slice", "x", "y", "r", "rx", "ry", "width", "height")
MAX_POINTS = 2000


def _job_id(request: Request) -> int:
    raw = request.path_params["job_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # ids are 32-bit (INTEGER on PostgreSQL)
        raise InvalidInput(f"job id must be a positive integer, got {raw[:40]!r}")
    return int(raw)


def _points(raw: str) -> list[list[float]]:
    pairs = [p for p in raw.split(";") if p.strip()]
    if len(pairs) > MAX_POINTS:
        raise InvalidInput(f"points: at most {MAX_POINTS} vertices")
    out = []
    for pair in pairs:
        xy = pair.split(",")
        try:
            if len(xy) != 2:
                raise ValueError
            out.append([float(xy[0]), float(xy[1])])
        except ValueError:
            raise InvalidInput(f"points must be x,y;x,y;... pixel coordinates, got {pair[:40]!r}") from None
    if len(out) < 3:
        raise InvalidInput("a freehand ROI (points) needs at least 3 vertices")
    return out


def roi_of(params: dict[str, str]) -> dict[str, Any]:
    """The ROI of the query; ``slice`` may be left to ``sop`` (the image it was drawn on, see ``_slice_of``)."""
    params = dict(params)
    if params.get("sop") and params.get("slice") in (None, ""):
        params["slice"] = "-1"  # resolved from the image once the series is loaded
    roi: dict[str, Any] = {}
    if params.get("points"):
        if set(params) & {"x", "y", "r", "rx", "ry", "width", "height"}:
            raise InvalidInput("give points (freehand) or x and y with a size, not both")
        if params.get("slice") in (None, ""):
            raise InvalidInput("slice (or sop, the image the ROI was drawn on) is required")
        try:
            return {"slice": int(params["slice"]), "points": _points(params["points"])}
        except ValueError:
            raise InvalidInput(f"slice must be a number, got {params['slice'][:40]!r}") from None
    for name in ROI_FIELDS:
        value = params.get(name)
        if value in (None, ""):
            continue
        try:
            roi[name] = int(value) if name == "slice" else float(value)
        except ValueError:
            raise InvalidInput(f"{name} must be a number, got {value[:40]!r}") from None
    if not {"slice", "x", "y"} <= set(roi):
        raise InvalidInput("slice (or sop), x and y are required (with r, rx and ry, or width and height), "
                           "or points")
    shapes = [name for name, keys in (("circle", ("r",)), ("ellipse", ("rx", "ry")), ("rectangle", ("width", "height")))
              if any(k in roi for k in keys)]
    if len(shapes) > 1:
        raise InvalidInput(f"give one shape: r (circle), rx and ry (ellipse) or width and height (rectangle), "
                           f"not {' and '.join(shapes)}")
    return roi


async def _slice_of(ctx: Any, study_uid: str, acq: Any, sop: str) -> int:
    """The slice of the dynamic series holding the image ``sop`` (any phase of it), or the slice an
    image of another series on the same pixel grid lies on (a map of the job: Ktrans, ve, TTP, ...)."""
    for phase in acq.phases:
        if sop in phase.sop_instance_uids:
            return int(phase.sop_instance_uids.index(sop))
    header = await dce_cache.image_header(ctx, study_uid, sop)
    if header is None:
        raise InvalidInput(f"image {sop[:70]} is not an image of the job's study")
    try:
        return dce.slice_of_image(acq, header)
    except QuantError as exc:
        raise InvalidInput(f"image {sop[:70]}: {exc}") from None


async def curve(request: Request) -> Response:
    ctx = ctx_of(request)
    job = await jobs.finished_job(ctx, principal_of(request), _job_id(request))
    roi = roi_of(dict(request.query_params))
    if not dce_params.is_dce(job):
        raise InvalidInput(f"analysis job {job.id} is an {dce_params.method_of(job)} job: it has no DCE curve")
    acq = await dce_cache.acquisition(ctx, job.study_instance_uid, job.series_uids, job.acquisition_key)
    if acq is None:
        raise InvalidInput(f"the DCE series of analysis job {job.id} are no longer in the study")
    sop = request.query_params.get("sop", "")
    if sop:
        given = request.query_params.get("slice", "")
        roi["slice"] = await _slice_of(ctx, job.study_instance_uid, acq, sop)
        if given and int(given) != roi["slice"]:
            raise InvalidInput(f"image {sop[:70]} is on slice {roi['slice']}, not {given}")
    stats = (job.statistics or {}).get("dce") or {}
    region = (stats.get("aif") or {}).get("region")
    try:
        values = await asyncio.to_thread(dce.roi_curve, acq, job.provenance, roi, region)
    except QuantError as exc:  # an ROI outside the slice, or with no usable voxel
        raise InvalidInput(str(exc)) from None
    values.pop("aif_kind", None)
    values.pop("aif_plasma_mM", None)
    body = {
        "job_id": job.id,
        "version": job.version,
        "roi": roi,
        **values,
        "aif": stats.get("aif") or {"kind": "", "plasma_mM": []},
    }
    return json_response(body, media_type="application/json")


async def put_rois(request: Request) -> Response:
    job_id = _job_id(request)
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict) or "rois" not in body or set(body) - {"rois", "aif_roi"}:
        raise InvalidInput('the body must be {"rois": {name: roi}, "aif_roi": roi or null}')
    job = await dce_jobs.set_rois(ctx_of(request), principal_of(request), job_id, body["rois"],
                                  body.get("aif_roi", dce_jobs.KEEP))
    return json_response(jobs.job_json(job), media_type="application/json")


routes: list[BaseRoute] = [
    Route("/jobs/{job_id}/dce/curve", curve, methods=["GET"]),
    Route("/jobs/{job_id}/dce/rois", put_rois, methods=["PUT"]),
]
