"""Uploads as the analysis workflow sees them: store, then recognise ASL at once.

An upload is complete when its request ends, so there is no need to wait
for the quiet period: the studies it touched are evaluated immediately and
the answer lists the jobs that were opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from server.context import AppContext
from server.db.models import Series, Study
from server.services.uploads import UploadLimits, ingest_inputs
from server.workflow import detector, jobs

log = logging.getLogger("cirrus.analysis")


def limits_for(ctx: AppContext) -> UploadLimits:
    return UploadLimits(max_total_bytes=ctx.settings.max_upload_bytes)


async def upload(
    ctx: AppContext,
    inputs: list[tuple[str, Path]],
    progress: Callable[[int], None] | None = None,
    analyse: bool = True,
) -> dict[str, Any]:
    report = await ingest_inputs(ctx, inputs, limits_for(ctx), progress=progress)
    out = report.as_json()
    study_uids = list((report.studies or {}).keys())
    await describe_studies(ctx, out["studies"])
    opened: list[dict[str, Any]] = []
    if analyse:
        for uid in study_uids:
            try:
                found = await detector.evaluate_study(ctx, uid)
                await detector.mark_evaluated(ctx, uid)
            except Exception:
                # The instances are stored; the quiet-period detector will try again.
                log.exception("analysis detection failed for uploaded study %s", uid)
                continue
            opened.extend(jobs.job_json(j, brief=True) for j in found)
    out["jobs"] = opened
    return out


async def describe_studies(ctx: AppContext, studies: dict[str, dict[str, Any]]) -> None:
    """Add patient and series descriptions to the per-study summary."""
    if not studies:
        return
    async with ctx.sessions() as s:
        rows = (await s.exec(select(Study).where(col(Study.study_instance_uid).in_(list(studies))))).all()
        by_id = {r.id: r for r in rows}
        series_rows = (await s.exec(select(Series).where(col(Series.study_id).in_(list(by_id))))).all()
    for row in rows:
        entry = studies[row.study_instance_uid]
        entry.update(
            patient_name=row.patient_name,
            patient_id=row.patient_id,
            study_date=row.study_date,
            study_description=row.study_description,
        )
    for srow in series_rows:
        study = by_id[srow.study_id]
        entry = studies[study.study_instance_uid]["series"].get(srow.series_instance_uid)
        if entry is not None:
            entry.update(
                modality=srow.modality,
                series_number=srow.series_number,
                series_description=srow.series_description,
            )
