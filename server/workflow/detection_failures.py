"""Failed analysis detections, visible in the queue.

A study whose detection failed (the database was locked, a header could not be read) gets one
``analysis_job`` row in the state ``detection_failed``, under the acquisition key ``FAILURE_KEY``
(no real acquisition has it: real keys are SeriesInstanceUIDs). Its ``reason`` says what went
wrong and ``attempts`` how often; the detector keeps retrying, and the row goes away as soon as a
detection of the study succeeds (``clear``), or a person retries it from the queue
(``retry_detection``). Every state it takes comes from ``server.workflow.states``.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from server.context import AppContext
from server.db.analysis import AnalysisJob
from server.db.database import utcnow
from server.workflow import states, study_loader

log = logging.getLogger("cirrus.analysis")

FAILURE_KEY = "detection"
REASON_CHARS = 500


def reason_of(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    reason = f"analysis detection failed: {type(exc).__name__}" + (f": {text}" if text else "")
    return reason[:REASON_CHARS]


def is_failure(job: AnalysisJob) -> bool:
    return job.acquisition_key == FAILURE_KEY


async def record(ctx: AppContext, study_uid: str, exc: BaseException) -> AnalysisJob | None:
    """Open or update the study's failure row; None when even that could not be written."""
    try:
        return await _record(ctx, study_uid, reason_of(exc))
    except Exception:
        log.exception("could not record the failed analysis detection of study %s", study_uid)
        return None


async def _record(ctx: AppContext, study_uid: str, reason: str) -> AnalysisJob:
    target = states.target_state("detection_fail", states.JobState.DETECTION_FAILED, [])
    study = await study_loader.study_row(ctx, study_uid)
    now = utcnow()
    J = AnalysisJob
    where = (col(J.study_instance_uid) == study_uid, col(J.acquisition_key) == FAILURE_KEY)
    async with ctx.write_session() as s:
        found = (await s.exec(select(J).where(*where))).first()
        if found is None:
            job = J(study_instance_uid=study_uid, acquisition_key=FAILURE_KEY, state=target, reason=reason,
                    attempts=1, label="", **study_loader.study_values(study), finished_at=now, updated_at=now)
            s.add(job)
            try:
                await s.commit()
                await s.refresh(job)
                log.warning("analysis detection of study %s failed: %s (shown in the queue as job %s)",
                            study_uid, reason, job.id)
                return job
            except IntegrityError:
                await s.rollback()
                found = (await s.exec(select(J).where(*where))).one()
        await s.exec(  # type: ignore[call-overload]
            update(J).where(col(J.id) == found.id).values(
                state=target, reason=reason, attempts=J.attempts + 1, revision=J.revision + 1,
                finished_at=now, updated_at=now)
        )
        await s.commit()
        await s.refresh(found)
        return found  # type: ignore[no-any-return]


async def failure_of(ctx: AppContext, study_uid: str) -> AnalysisJob | None:
    J = AnalysisJob
    async with ctx.sessions() as s:
        return (await s.exec(select(J).where(col(J.study_instance_uid) == study_uid,
                                             col(J.acquisition_key) == FAILURE_KEY))).first()


async def clear(ctx: AppContext, study_uid: str, action: str = "detection_recovered") -> bool:
    """A detection of the study succeeded: remove its failure row (one read when there is none)."""
    if await failure_of(ctx, study_uid) is None:
        return False
    J = AnalysisJob
    sources = states.transition(action).source_values
    async with ctx.write() as conn:
        removed = (await conn.execute(
            delete(J).where(col(J.study_instance_uid) == study_uid, col(J.acquisition_key) == FAILURE_KEY,
                            col(J.state).in_(sources)))).rowcount
    if removed:
        log.info("analysis detection of study %s succeeded again; its failure row is removed", study_uid)
    return bool(removed)
