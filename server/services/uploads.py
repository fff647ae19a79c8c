"""Uploads (browser ZIP/folder uploads, ``cirrus ingest``): expand, store through ingest, report.

The files are expanded safely (``archives``), every DICOM instance goes through the one ingest
service, and the answer says per study and series what was stored, what was already there, what
failed and what was skipped, in words a person reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from server.auth.principal import Principal
from server.context import AppContext
from server.db.archive import Series, Study
from server.services.archives import (
    Candidate,
    Skipped,
    UploadLimits,
    expand,
    new_workdir,
    remove_workdir,
)
from server.services.ingest import IngestService, Spooled
from server.services.parse import sha256_file

BATCH_SIZE = 32


@dataclass
class UploadReport:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # study UID → {"series": {series UID → {"stored": n, "duplicate": n}}}
    studies: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped],
            "studies": self.studies,
        }


def limits_for(ctx: AppContext) -> UploadLimits:
    return UploadLimits(max_total_bytes=ctx.settings.max_upload_bytes)


async def ingest_inputs(
    ctx: AppContext,
    inputs: list[tuple[str, Path]],
    progress: Callable[[int], None] | None = None,
    principal: Principal | None = None,
) -> UploadReport:
    """Expand ``inputs`` (files, folders, ZIPs) and store every DICOM instance through ingest, as
    ``principal`` (None: the server's own work; see ``IngestService.ingest_batch``)."""
    workdir = new_workdir(ctx.settings.tmp_dir)
    report = UploadReport()
    try:
        items = await asyncio.to_thread(expand, inputs, workdir, limits_for(ctx))
        candidates = [i for i in items if isinstance(i, Candidate)]
        report.skipped = [i for i in items if isinstance(i, Skipped)]
        report.received = len(items)
        service = IngestService(ctx)
        for start in range(0, len(candidates), BATCH_SIZE):
            chunk = candidates[start : start + BATCH_SIZE]

            def spool(chunk: list[Candidate] = chunk) -> list[Spooled]:
                # Extracted members are ours to delete; a user's own files are not.
                return [Spooled(sha256_file(c.path), path=c.path, delete_after=c.path.is_relative_to(workdir))
                        for c in chunk]

            outcomes = await service.ingest_batch(await asyncio.to_thread(spool), principal=principal)
            for cand, outcome in zip(chunk, outcomes, strict=True):
                if outcome.status == "failed":
                    report.failed.append({"name": cand.name, "reason": outcome.message or "rejected"})
                    continue
                if outcome.status == "duplicate":
                    report.duplicates += 1
                else:
                    report.stored += 1
                study = report.studies.setdefault(outcome.study_instance_uid, {"series": {}})
                counts = study["series"].setdefault(outcome.series_instance_uid, {"stored": 0, "duplicate": 0})
                counts["duplicate" if outcome.status == "duplicate" else "stored"] += 1
            if progress:
                progress(len(chunk))
    finally:
        remove_workdir(workdir)
    await describe_studies(ctx, report.studies)
    return report


async def describe_studies(ctx: AppContext, studies: dict[str, dict[str, Any]]) -> None:
    """Add patient and series descriptions to the per-study summary."""
    if not studies:
        return
    async with ctx.sessions() as s:
        rows = (await s.exec(select(Study).where(col(Study.study_instance_uid).in_(list(studies))))).all()
        by_id = {r.id: r for r in rows}
        series_rows = (await s.exec(select(Series).where(col(Series.study_id).in_(list(by_id))))).all()
    for row in rows:
        studies[row.study_instance_uid].update(
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
