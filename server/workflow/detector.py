"""Stability detector: analyse a study once no instance arrived for a quiet period.

Each ingest commit records a change on the study's ``analysis_watch`` row
(in the database, so restarts and other API processes see it). A loop picks
rows whose last change is older than ``settings.stable_seconds`` and that
changed since their last evaluation, claims the evaluation with a
conditional UPDATE (one process wins), classifies the study and opens or
updates one job per ASL or DCE acquisition.

An evaluation that fails is retried after another quiet period until it succeeds; meanwhile the
queue shows it (``detection_failures``: a ``detection_failed`` row with the reason and a retry
button), and a person may analyse any study at once (``server.workflow.analyse``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from server.context import AppContext
from server.db.analysis import AnalysisJob, AnalysisWatch
from server.db.database import utcnow
from server.workflow import dce, detection_failures, jobs, presets, quant_bridge, states, study_loader
from server.workflow.states import JobState

log = logging.getLogger("cirrus.analysis")


async def record_change(ctx: AppContext, study_uid: str, series_uids: set[str] | None = None) -> None:
    """Ingest listener: note that ``study_uid`` changed now."""
    now = utcnow()
    W = AnalysisWatch
    bump = (
        update(W)
        .where(col(W.study_instance_uid) == study_uid)
        .values(last_change_at=now, change_count=W.change_count + 1)
    )
    async with ctx.write() as conn:
        if (await conn.execute(bump)).rowcount:
            return
    try:
        async with ctx.write_session() as s:
            s.add(W(study_instance_uid=study_uid, last_change_at=now, change_count=1))
            await s.commit()
    except IntegrityError:  # another process inserted it first
        async with ctx.write() as conn:
            await conn.execute(bump)


async def due_studies(ctx: AppContext) -> list[tuple[int, str, int]]:
    cutoff = utcnow() - timedelta(seconds=ctx.settings.stable_seconds)
    W = AnalysisWatch
    async with ctx.sessions() as s:
        rows = await s.exec(
            select(W.id, W.study_instance_uid, W.change_count)
            .where(col(W.change_count) > W.evaluated_count, col(W.last_change_at) <= cutoff)
            .order_by(col(W.last_change_at))
            .limit(50)
        )
        return [(r[0], r[1], r[2]) for r in rows.all()]


async def claim_evaluation(ctx: AppContext, watch_id: int, change_count: int) -> bool:
    W = AnalysisWatch
    stmt = (
        update(W)
        .where(col(W.id) == watch_id, col(W.evaluated_count) < change_count)
        .values(evaluated_count=change_count, evaluated_at=utcnow())
    )
    async with ctx.write() as conn:
        return bool((await conn.execute(stmt)).rowcount)


async def release_claim(ctx: AppContext, watch_id: int, change_count: int) -> None:
    """An evaluation failed: its changes are due again after another quiet period, so detection is
    retried until it succeeds (never lost to a transient error such as a locked database)."""
    W = AnalysisWatch
    stmt = (
        update(W)
        .where(col(W.id) == watch_id, col(W.evaluated_count) == change_count)
        .values(evaluated_count=change_count - 1, last_change_at=utcnow())
    )
    async with ctx.write() as conn:
        await conn.execute(stmt)


async def mark_evaluated(ctx: AppContext, study_uid: str) -> None:
    """After an explicit evaluation (uploads), skip the quiet-period one for the same changes."""
    W = AnalysisWatch
    stmt = (
        update(W)
        .where(col(W.study_instance_uid) == study_uid)
        .values(evaluated_count=W.change_count, evaluated_at=utcnow())
    )
    async with ctx.write() as conn:
        await conn.execute(stmt)


async def evaluate_now(ctx: AppContext, study_uids: list[str]) -> list[AnalysisJob]:
    """Evaluate studies whose upload just ended (no quiet period to wait for); their jobs."""
    opened: list[AnalysisJob] = []
    for uid in study_uids:
        try:
            found = await evaluate_study(ctx, uid)
            await mark_evaluated(ctx, uid)
        except Exception as exc:
            # The instances are stored; the quiet-period detector will try again, and the queue
            # shows the failure meanwhile.
            log.exception("analysis detection failed for uploaded study %s", uid)
            if await detection_failures.record(ctx, uid, exc):
                jobs.notify(ctx)
            continue
        opened.extend(found)
    return opened


@dataclass(frozen=True)
class Detection:
    jobs: list[AnalysisJob]
    # Why the study holds no perfusion acquisition (empty when it holds one).
    reason: str = ""


NO_MR_REASON = "the study holds no MR series (analysis needs an ASL or DCE perfusion acquisition)"


async def evaluate_study(ctx: AppContext, study_uid: str) -> list[AnalysisJob]:
    """Classify the study and open/update its jobs; returns the study's jobs."""
    return (await detect(ctx, study_uid)).jobs


async def detect(ctx: AppContext, study_uid: str) -> Detection:
    """Classify the study and open/update its jobs; on success a recorded detection failure of the
    study is removed. Raises whatever went wrong (the callers record it)."""
    exclude = await study_loader.own_result_series(ctx, study_uid)
    # ASL and DCE are MR: a CT or X-ray study (thousands of instances) costs one query, no reads.
    datasets = await study_loader.load_datasets(ctx, study_uid, pixels=False, exclude=exclude, modalities=["MR"])
    found: list[quant_bridge.Found] = []
    reason = NO_MR_REASON
    if datasets:
        found, not_asl = await asyncio.to_thread(quant_bridge.classify_explained, datasets)
        dce_found, not_dce = await asyncio.to_thread(dce.classify_explained, datasets)
        found += dce_found
        reason = "" if found else f"not a perfusion acquisition: {not_asl}; {not_dce}"
    counts: dict[str, int] = {}
    for ds in datasets:
        uid = str(ds.get("SeriesInstanceUID", ""))
        counts[uid] = counts.get(uid, 0) + 1
    study = await study_loader.study_row(ctx, study_uid)
    out = []
    for f in found:
        n = sum(counts.get(u, 0) for u in [*f.series_uids, f.m0_series_uid] if u)
        out.append(await upsert_job(ctx, study_uid, study, f, n))
    recovered = await detection_failures.clear(ctx, study_uid)
    if recovered or any(j.state == JobState.QUEUED for j in out):
        jobs.notify(ctx)
    return Detection(out, reason)


async def upsert_job(ctx: AppContext, study_uid: str, study, f: quant_bridge.Found, n: int) -> AnalysisJob:  # type: ignore[no-untyped-def]
    detected = {"parameters": f.parameters, "missing_raw": f.missing, "summary": f.summary}
    common = {
        "series_uids": f.series_uids,
        "m0_series_uid": f.m0_series_uid,
        "t1_series_uid": f.t1_series_uid,
        "label": f.label,
        "vendor": f.vendor,
        "labeling": f.labeling,
        "input_instances": n,
        "detected": detected,
        **study_loader.study_values(study),
    }
    # Read before the write session (SQLite has one writer): the preset a new job would start from.
    overrides, notes, preset_missing, preset_id = await _preset_for(ctx, f, common, list(f.missing))
    async with ctx.write_session() as s:
        stmt = select(AnalysisJob).where(
            AnalysisJob.study_instance_uid == study_uid, AnalysisJob.acquisition_key == f.key
        )
        job = (await s.exec(stmt)).first()
        if job is None:
            missing = list(f.missing) if preset_missing is None else preset_missing
            state = states.target_state("detect", JobState.WAITING, missing)
            job = AnalysisJob(
                study_instance_uid=study_uid,
                acquisition_key=f.key,
                state=state,
                missing=missing,
                overrides=overrides,
                override_notes=notes,
                reason=jobs.waiting_reason(missing),
                queued_at=utcnow() if state == JobState.QUEUED else None,
                **common,
            )
            s.add(job)
            try:
                await s.commit()
                await s.refresh(job)
                log.info("analysis job %s opened for study %s (%s): %s", job.id, study_uid, f.label, state)
            except IntegrityError:
                await s.rollback()
                job = (await s.exec(stmt)).one()
            else:
                if preset_id is not None:
                    await presets.count_use(s, preset_id)
                return job
        if job.input_instances == n and job.detected == detected:
            return job
        inputs_changed = job.input_instances != n
        if job.state == JobState.RUNNING and not inputs_changed:
            return job  # nothing the running attempt must restart for
        values = dict(common)
        missing = [m for m in f.missing if job.overrides.get(m) is None]
        values["missing"] = missing
        if job.state in (JobState.WAITING, JobState.QUEUED) or (
            inputs_changed and states.allowed("reevaluate", job.state)
        ):
            target = states.target_state("reevaluate", job.state, missing)
            values["state"] = target
            values["reason"] = jobs.waiting_reason(missing)
            if target == JobState.QUEUED and job.state != JobState.QUEUED:
                values["queued_at"] = utcnow()
                values["attempts"] = 0
            if job.state == JobState.RUNNING:
                values.update(lease_owner="", lease_expires_at=None, stage="")
        values["revision"] = job.revision + 1
        values["updated_at"] = utcnow()
        await s.exec(  # type: ignore[call-overload]
            update(AnalysisJob)
            .where(col(AnalysisJob.id) == job.id, col(AnalysisJob.revision) == job.revision)
            .values(**values)
        )
        await s.commit()
        await s.refresh(job)
        return job


async def _preset_for(ctx: AppContext, f: quant_bridge.Found, common: dict, missing: list[str]
                      ) -> tuple[dict, dict, list[str] | None, int | None]:
    """A new job that lacks parameters: the stored preset of its protocol, if any, fills them
    (overrides with provenance "preset", what is still missing, the preset's id; None: no preset)."""
    protocol = (f.summary or {}).get("protocol") or {}
    if not missing or f.acquisition is None or not protocol.get("key"):
        return {}, {}, None, None
    row = await presets.find(ctx, int(common.get("institution_id") or 1), protocol["key"])
    if row is None:
        return {}, {}, None, None
    overrides, notes, still = presets.applied(f.acquisition, row)
    if not overrides:
        return {}, {}, None, None
    log.info("preset %s applies to %s: %s (still missing: %s)", row.id, f.label, sorted(overrides), still)
    return overrides, notes, still, row.id


async def detector_loop(ctx: AppContext, stop: asyncio.Event) -> None:
    tick = max(0.1, min(1.0, ctx.settings.stable_seconds / 4))
    while not stop.is_set():
        try:
            for watch_id, study_uid, count in await due_studies(ctx):
                if await claim_evaluation(ctx, watch_id, count):
                    try:
                        await evaluate_study(ctx, study_uid)
                    except Exception as exc:
                        log.exception("analysis detection failed for study %s; retried after %gs",
                                      study_uid, ctx.settings.stable_seconds)
                        await release_claim(ctx, watch_id, count)
                        if await detection_failures.record(ctx, study_uid, exc):
                            jobs.notify(ctx)
        except Exception:
            log.exception("analysis detector tick failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=tick)
        except TimeoutError:
            pass
