""""Analyse this study" and "retry the detection": run the detector on one study now.

Both answer which of the study's jobs exist and which this run opened, or why there are none:
the study holds no perfusion acquisition (the classifiers' reason), or the detection failed (then
the queue shows a ``detection_failed`` row with the reason, see ``detection_failures``).

Who may: the role rule (``server.auth.rules``) admits technologists, doctors and administrators;
here the tenant rule finds the study (404 when the caller cannot see it) and only its owning
institution (or an administrator of the alliance) may analyse it (403 for a granted institution).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select

from server.app_errors import Forbidden, NotFoundError
from server.auth.principal import Principal
from server.auth.visibility import visible_studies
from server.context import AppContext
from server.db.analysis import AnalysisJob
from server.db.archive import Study
from server.workflow import detection_failures, detector, jobs, states

log = logging.getLogger("cirrus.analysis")

# What the answer says happened.
OPENED = "jobs"  # the study has analysis jobs (``created`` lists the new ones)
NONE = "no_acquisition"  # no ASL or DCE acquisition; ``reason`` says why
FAILED = "detection_failed"  # the detection failed; ``reason`` says why, the queue shows it
OUTCOMES = (OPENED, NONE, FAILED)


@dataclass
class Analysis:
    study_uid: str
    outcome: str
    jobs: list[AnalysisJob] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    reason: str = ""
    failure: AnalysisJob | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "study_instance_uid": self.study_uid,
            "outcome": self.outcome,
            "jobs": [jobs.job_json(j, brief=True) for j in self.jobs],
            "created": self.created,
            "reason": self.reason,
            "detection_failure": jobs.job_json(self.failure, brief=True) if self.failure else None,
        }


async def owned_study(ctx: AppContext, p: Principal, study_uid: str) -> Study:
    if p.is_share:
        raise NotFoundError(f"no study {study_uid}")
    async with ctx.sessions() as s:
        study = (await s.exec(select(Study).where(col(Study.study_instance_uid) == study_uid,
                                                  visible_studies(p)))).first()
    if study is None:
        raise NotFoundError(f"no study {study_uid}")
    if not p.is_admin and study.institution_id != p.institution_id:
        raise Forbidden("only the institution that owns a study may analyse it")
    return study  # type: ignore[no-any-return]


async def _job_ids(ctx: AppContext, study_uid: str) -> set[int]:
    J = AnalysisJob
    async with ctx.sessions() as s:
        rows = await s.exec(select(J.id).where(col(J.study_instance_uid) == study_uid,
                                               col(J.acquisition_key) != detection_failures.FAILURE_KEY))
        return {int(i) for i in rows.all() if i is not None}


async def run(ctx: AppContext, study_uid: str) -> Analysis:
    """Detect now (the caller checked access); a failure is recorded and answered, not raised."""
    before = await _job_ids(ctx, study_uid)
    try:
        found = await detector.detect(ctx, study_uid)
        await detector.mark_evaluated(ctx, study_uid)
    except Exception as exc:
        log.exception("analysis detection failed for study %s (asked for by a person)", study_uid)
        failure = await detection_failures.record(ctx, study_uid, exc)
        jobs.notify(ctx)
        return Analysis(study_uid, FAILED, reason=detection_failures.reason_of(exc), failure=failure)
    created = sorted(j.id for j in found.jobs if j.id is not None and j.id not in before)
    if not found.jobs:
        return Analysis(study_uid, NONE, reason=found.reason)
    return Analysis(study_uid, OPENED, jobs=found.jobs, created=created)


async def analyse_study(ctx: AppContext, p: Principal, study_uid: str) -> Analysis:
    await owned_study(ctx, p, study_uid)
    return await run(ctx, study_uid)


async def retry_detection(ctx: AppContext, p: Principal, job_id: int) -> Analysis:
    """The queue's retry button on a ``detection_failed`` row (409 on any other job)."""
    job = await jobs.get_job(ctx, p, job_id)
    states.check("retry_detection", job.state)
    await owned_study(ctx, p, job.study_instance_uid)
    return await run(ctx, job.study_instance_uid)
