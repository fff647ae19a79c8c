"""DCE-specific JSON API: the time–intensity curve of an ROI drawn on a DCE job's dynamic series,
and the ROIs (e.g. the tumour) kept with the job and reported in its statistics, CSV and PDF.

``GET /api/jobs/{job_id}/dce/curve?slice=k&x=col&y=row&r=radius`` (a circle) or
``...&width=w&height=h`` (a rectangle from its top-left corner), pixel coordinates of the dynamic
series (the derived maps share its grid). ``PUT /api/jobs/{job_id}/dce/rois`` with
``{"rois": {"tumour": {"slice": k, "x": .., "y": .., "r": ..}}}`` keeps them (a finished job runs
again). Mounted under ``/api``; documented in ``openapi_dce.py``.
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
from server.workflow import dce, dce_jobs, dce_params, jobs, quant_bridge, study_loader

ROI_FIELDS = ("slice", "x", "y", "r", "width", "height")


def _job_id(request: Request) -> int:
    raw = request.path_params["job_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # ids are 32-bit (INTEGER on PostgreSQL)
        raise InvalidInput(f"job id must be a positive integer, got {raw[:40]!r}")
    return int(raw)


def roi_of(params: dict[str, str]) -> dict[str, Any]:
    roi: dict[str, Any] = {}
    for name in ROI_FIELDS:
        value = params.get(name)
        if value in (None, ""):
            continue
        try:
            roi[name] = int(value) if name == "slice" else float(value)
        except ValueError:
            raise InvalidInput(f"{name} must be a number, got {value[:40]!r}") from None
    if not {"slice", "x", "y"} <= set(roi):
        raise InvalidInput("slice, x and y are required (with r for a circle, or width and height)")
    if "r" in roi and ("width" in roi or "height" in roi):
        raise InvalidInput("give r (circle) or width and height (rectangle), not both")
    return roi


async def curve(request: Request) -> Response:
    ctx = ctx_of(request)
    job = await jobs.finished_job(ctx, principal_of(request), _job_id(request))
    roi = roi_of(dict(request.query_params))
    if not dce_params.is_dce(job):
        raise InvalidInput(f"analysis job {job.id} is an {dce_params.method_of(job)} job: it has no DCE curve")
    datasets = await study_loader.load_datasets(ctx, job.study_instance_uid, job.series_uids, pixels=True)
    found = await asyncio.to_thread(dce.classify, datasets)
    f = quant_bridge.pick(found, job.acquisition_key)
    if f is None:
        raise InvalidInput(f"the DCE series of analysis job {job.id} are no longer in the study")
    try:
        values = await asyncio.to_thread(dce.roi_curve, f.acquisition, job.provenance, roi)
    except QuantError as exc:  # an ROI outside the slice, or with no usable voxel
        raise InvalidInput(str(exc)) from None
    stats = (job.statistics or {}).get("dce") or {}
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
    if not isinstance(body, dict) or "rois" not in body:
        raise InvalidInput('the body must be {"rois": {name: roi}}')
    job = await dce_jobs.set_rois(ctx_of(request), principal_of(request), job_id, body["rois"])
    return json_response(jobs.job_json(job), media_type="application/json")


routes: list[BaseRoute] = [
    Route("/jobs/{job_id}/dce/curve", curve, methods=["GET"]),
    Route("/jobs/{job_id}/dce/rois", put_rois, methods=["PUT"]),
]
