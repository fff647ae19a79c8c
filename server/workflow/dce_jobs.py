"""Actions on DCE jobs beyond the common ones: the regions (e.g. a tumour ROI) a person draws.

Drawn ROIs are kept in the job's ``overrides["rois"]`` (name → circle or rectangle on one slice, as
the curve endpoint takes them); the worker turns them into masks and reports each as ``roi_<name>``
in the statistics, the CSV and the PDF. Saving them re-runs a finished job (a new result version).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from quant import QuantError
from server.app_errors import InvalidInput
from server.auth.principal import Principal
from server.context import AppContext
from server.db.analysis import AnalysisJob
from server.db.database import utcnow
from server.workflow import dce, dce_params, jobs
from server.workflow.states import JobState

MAX_ROIS = 8
NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ROI_KEYS = set(dce.ROI_KEYS)
KEEP: Any = object()  # set_rois without aif_roi: the job's drawn arterial region stays as it is


def validate_rois(rois: Any, shape: tuple[int, int, int] | None) -> dict[str, dict[str, Any]]:
    if not isinstance(rois, dict) or len(rois) > MAX_ROIS:
        raise InvalidInput(f"rois must map up to {MAX_ROIS} names to a circle or a rectangle")
    clean: dict[str, dict[str, Any]] = {}
    for name, spec in rois.items():
        if not NAME.match(str(name)):
            raise InvalidInput(f"ROI name {str(name)[:40]!r}: letters, digits, _ and - only (≤ 32)")
        if not isinstance(spec, dict) or set(spec) - ROI_KEYS:
            raise InvalidInput(f"ROI {name!r}: give slice, x, y and r (circle), rx and ry (ellipse) or width and "
                               "height (rectangle), or slice and points (freehand)")
        if shape is not None:
            try:
                dce.roi_mask(shape, spec)
            except QuantError as exc:
                raise InvalidInput(f"ROI {name!r}: {exc}") from None
        clean[str(name)] = {k: spec[k] for k in dce.ROI_KEYS if k in spec}
    return clean


async def set_rois(ctx: AppContext, p: Principal, job_id: int, rois: Any, aif_roi: Any = KEEP) -> AnalysisJob:
    """Keep the drawn ROIs (and the drawn arterial region: a measured AIF) with the job; a finished
    job runs again to report them. ``aif_roi`` None removes the drawn arterial region."""
    job = await jobs.get_job(ctx, p, job_id)
    if not dce_params.is_dce(job):
        raise InvalidInput(f"analysis job {job_id} is an {dce_params.method_of(job)} job: it has no DCE regions")
    if job.state == JobState.RUNNING:
        raise jobs.JobConflict(f"analysis job {job_id} is running; save the regions when it has finished", job.state)
    shape = (job.statistics or {}).get("dce", {}).get("shape")
    clean = validate_rois(rois, tuple(shape) if shape and len(shape) == 3 else None)
    overrides = {k: v for k, v in job.overrides.items() if k != "rois"}
    if clean:
        overrides["rois"] = clean
    if aif_roi is not KEEP:
        overrides.pop("aif_roi", None)
        if aif_roi is not None:
            overrides["aif_roi"] = validate_rois({"aif": aif_roi}, tuple(shape) if shape and len(shape) == 3
                                                 else None)["aif"]
    stmt = (
        update(AnalysisJob)
        .where(col(AnalysisJob.id) == job_id, col(AnalysisJob.revision) == job.revision)
        .values(overrides=overrides, revision=job.revision + 1, updated_at=utcnow())
    )
    async with ctx.write() as conn:
        if not (await conn.execute(stmt)).rowcount:
            raise jobs.JobConflict(f"analysis job {job_id} changed meanwhile; reload and try again", job.state)
    if job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
        return await jobs.rerun(ctx, p, job_id)
    jobs.notify(ctx)
    return await jobs.get_job(ctx, p, job_id)
