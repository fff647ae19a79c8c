"""Job service: listing, reading and the actions a person takes on a job.

Routes call these; every state change goes through ``states`` so the table
of transitions stays the single authority. Actions bump ``revision`` so a
worker holding the job notices at its next heartbeat.

Every function takes the caller: a job is visible when its study is
(``server.auth.visibility.study_uid_visible``, part of each query's SQL); a job
of a study the caller cannot see is "not found".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, or_, update
from sqlmodel import col, select

from server.app_errors import InvalidInput, NotFoundError, StateConflict
from server.auth.principal import Principal
from server.auth.visibility import study_uid_visible
from server.context import AppContext
from server.db.analysis import AnalysisJob, AnalysisResult
from server.db.changes import JOBS, Subscription
from server.db.database import utcnow
from server.workflow import dce_params, parameters, presets, states
from server.workflow.parameters import ASL_PARAMETER_NAMES, PARAMETERS
from server.workflow.states import JobState, TransitionError

# Queue order: urgent, then manual (a person started or re-ran it), then automatic.
URGENT_PRIORITY = 20
MANUAL_PRIORITY = 10

def parameter_schema(job: AnalysisJob) -> dict[str, dict[str, Any]]:
    """The parameters a person may set on this job (its method's)."""
    names = (*dce_params.PARAMETERS, *dce_params.SHARED) if dce_params.is_dce(job) else ASL_PARAMETER_NAMES
    return {name: PARAMETERS[name] for name in names}


# Not a parameter: an input series the study lacks.
M0_MISSING = "m0"
MISSING_LABELS = {M0_MISSING: "an M0 (proton-density) series in the study"}


class JobConflict(StateConflict):
    pass


@dataclass(frozen=True)
class JobFilter:
    status: list[str] | None = None
    patient: str = ""  # name or ID; '*' and '%' are wildcards, '?' and '_' one character
    study_uid: str = ""
    date_from: str = ""  # YYYYMMDD, inclusive
    date_to: str = ""
    limit: int = 50
    offset: int = 0


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("_", "\\_")
    escaped = escaped.replace("*", "%").replace("?", "_")
    # '%' typed by the user stays a wildcard; '_' typed stays literal unless written as '?'.
    if "%" not in escaped:
        escaped = f"%{escaped}%"
    return escaped


def _date(value: str, name: str) -> str:
    digits = value.replace("-", "")
    if digits and (len(digits) != 8 or not (digits.isascii() and digits.isdigit())):
        raise InvalidInput(f"{name} must be a date YYYYMMDD or YYYY-MM-DD, got {value!r}")
    return digits


def parse_filter(params: dict[str, str]) -> JobFilter:
    status = [s for s in params.get("status", "").split(",") if s]
    for s in status:
        if s not in JobState.__members__.values():
            raise InvalidInput(f"unknown status {s!r}; known: {', '.join(JobState)}")
    try:
        limit = int(params.get("limit", "50"))
        offset = int(params.get("offset", "0"))
    except ValueError:
        raise InvalidInput("limit and offset must be integers") from None
    if not 1 <= limit <= 500 or not 0 <= offset < 2**31:
        raise InvalidInput("limit must be 1-500 and offset 0-2147483647")
    date_from, date_to = params.get("date_from", ""), params.get("date_to", "")
    if date_range := params.get("date", ""):
        # DICOM range syntax: "20240101-20240131", "20240101-", "-20240131" or one date.
        if "-" in date_range:
            date_from, _, date_to = date_range.partition("-")
        else:
            date_from = date_to = date_range
    return JobFilter(
        status=status or None,
        patient=params.get("patient", ""),
        study_uid=params.get("study", ""),
        date_from=_date(date_from, "date_from"),
        date_to=_date(date_to, "date_to"),
        limit=limit,
        offset=offset,
    )


def job_visible(p: Principal) -> Any:
    """The SQL condition: ``p`` sees the job (it sees the job's study). A share link shows a study's
    images and report, not the analysis queue (as it shows no reading request)."""
    if p.is_share:
        return false()
    return study_uid_visible(p, col(AnalysisJob.study_instance_uid))


async def list_jobs(ctx: AppContext, p: Principal, flt: JobFilter) -> tuple[int, list[AnalysisJob]]:
    J = AnalysisJob
    conditions: list[Any] = [job_visible(p)]
    if flt.status:
        conditions.append(col(J.state).in_(flt.status))
    if flt.patient:
        pattern = _like(flt.patient.upper())
        conditions.append(
            or_(
                col(J.patient_name_upper).like(pattern, escape="\\"),
                func.upper(J.patient_id).like(pattern, escape="\\"),
            )
        )
    if flt.study_uid:
        conditions.append(J.study_instance_uid == flt.study_uid)
    if flt.date_from:
        conditions.append(J.study_date >= flt.date_from)
    if flt.date_to:
        conditions.append(J.study_date <= flt.date_to)
    async with ctx.sessions() as s:
        total = (await s.exec(select(func.count()).select_from(J).where(*conditions))).one()
        rows = (
            await s.exec(
                select(J).where(*conditions).order_by(col(J.created_at).desc(), col(J.id).desc())
                .limit(flt.limit).offset(flt.offset)
            )
        ).all()
    return int(total), list(rows)


async def recent_jobs(ctx: AppContext, p: Principal, job_id: int | None = None, limit: int = 200
                      ) -> list[AnalysisJob]:
    """The most recently changed jobs ``p`` sees (or the one ``job_id``), for live event streams."""
    stmt = select(AnalysisJob).where(job_visible(p))
    if job_id is not None:
        stmt = stmt.where(AnalysisJob.id == job_id)
    else:
        stmt = stmt.order_by(col(AnalysisJob.updated_at).desc()).limit(limit)
    async with ctx.sessions() as s:
        return list((await s.exec(stmt)).all())


async def _visible_job(s: Any, p: Principal, job_id: int) -> AnalysisJob:
    job = (await s.exec(select(AnalysisJob).where(col(AnalysisJob.id) == job_id, job_visible(p)))).first()
    if job is None:
        raise NotFoundError(f"analysis job {job_id} not found")
    return job  # type: ignore[no-any-return]


async def get_job(ctx: AppContext, p: Principal, job_id: int) -> AnalysisJob:
    async with ctx.sessions() as s:
        return await _visible_job(s, p, job_id)


async def finished_job(ctx: AppContext, p: Principal, job_id: int) -> AnalysisJob:
    """A job that has a result (409 naming its state otherwise)."""
    job = await get_job(ctx, p, job_id)
    if job.version < 1:
        raise JobConflict(f"analysis job {job.id} has no result yet (it is {job.state})", job.state)
    return job


async def results_of(ctx: AppContext, job_id: int) -> list[AnalysisResult]:
    async with ctx.sessions() as s:
        rows = await s.exec(
            select(AnalysisResult)
            .where(AnalysisResult.job_id == job_id)
            .order_by(col(AnalysisResult.version))
        )
        return list(rows.all())


def validate_parameters(values: dict[str, Any], units: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check a person's parameters; return them normalised (seconds, lists)."""
    return parameters.validate(values, units).values


def remaining_missing(job: AnalysisJob, overrides: dict[str, Any]) -> list[str]:
    missing_raw = job.detected.get("missing_raw", job.missing)
    return [m for m in missing_raw if overrides.get(m) is None]


async def _apply(
    ctx: AppContext, p: Principal, job_id: int, action: str, mutate,  # type: ignore[no-untyped-def]
    *, expect_revision: int | None = None,
) -> AnalysisJob:
    """Run ``mutate(job)`` under the state machine, optimistic on ``revision``."""
    async with ctx.write_session() as s:
        job = await _visible_job(s, p, job_id)
        states.check(action, job.state)
        seen_revision, seen_state = job.revision, job.state
        values = mutate(job)
        values["revision"] = seen_revision + 1
        values["updated_at"] = utcnow()
        # Conditional on the state and revision we read: a worker may have
        # claimed or finished the job in between.
        result = await s.exec(  # type: ignore[call-overload]
            update(AnalysisJob)
            .where(
                col(AnalysisJob.id) == job_id,
                col(AnalysisJob.revision) == seen_revision,
                col(AnalysisJob.state) == seen_state,
            )
            .values(**values)
        )
        if not result.rowcount:
            await s.rollback()
            raise JobConflict(f"analysis job {job_id} changed meanwhile; reload and try again", seen_state)
        await s.commit()
    notify(ctx)
    # The job as this action left it (a worker may claim it the next moment; that is its own change).
    return job.model_copy(update=values)


async def set_parameters(ctx: AppContext, p: Principal, job_id: int, values: dict[str, Any],
                         units: dict[str, Any] | None = None, remember: bool = False) -> AnalysisJob:
    """Set a person's values (times with their unit); with ``remember`` they become the preset of the
    job's protocol, so later studies of that protocol start at once."""
    entered = parameters.validate(values, units)
    clean = entered.values
    if remember:  # refused before anything changes: nothing half-done
        before = await get_job(ctx, p, job_id)
        merged = {k: v for k, v in {**before.overrides, **clean}.items() if v is not None}
        presets.check_rememberable(before.model_copy(update={"overrides": merged}))

    def mutate(job: AnalysisJob) -> dict[str, Any]:
        overrides = {**job.overrides, **clean}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        notes = {k: v for k, v in (job.override_notes or {}).items() if k in overrides and k not in clean}
        notes.update({k: {"source": "user", "detail": entered.notes.get(k, "entered by a person")}
                      for k in clean if clean[k] is not None})
        missing = remaining_missing(job, overrides)
        target = states.target_state("set_parameters", job.state, missing)
        out: dict[str, Any] = {"overrides": overrides, "override_notes": notes, "missing": missing,
                               "state": target}
        if "model" in clean:
            out["model"] = clean["model"] or ""
        if target == JobState.QUEUED:
            out.update(queued_at=utcnow(), priority=MANUAL_PRIORITY, reason="")
        else:
            out["reason"] = waiting_reason(missing)
        if job.state in states.FINISHED_STATES:  # edited after a run: a fresh run, as ``rerun`` starts it
            out.update(attempts=0, progress=0.0, stage="", started_at=None, finished_at=None)
        return out

    job = await _apply(ctx, p, job_id, "set_parameters", mutate)
    if remember:
        await presets.remember(ctx, p, job)
    return job


def waiting_reason(missing: list[str]) -> str:
    labels = [MISSING_LABELS.get(m) or PARAMETERS.get(m, {}).get("label", m) for m in missing]
    return "waiting for: " + ", ".join(labels) if labels else ""


async def start(ctx: AppContext, p: Principal, job_id: int, urgent: bool = False) -> AnalysisJob:
    def mutate(job: AnalysisJob) -> dict[str, Any]:
        if job.missing:
            raise JobConflict(f"cannot start: {waiting_reason(job.missing)} (set them first)", job.state)
        priority = URGENT_PRIORITY if urgent else max(job.priority, MANUAL_PRIORITY)
        return {"state": states.target_state("start", job.state, []), "priority": priority, "queued_at": utcnow()}

    return await _apply(ctx, p, job_id, "start", mutate)


async def cancel(ctx: AppContext, p: Principal, job_id: int) -> AnalysisJob:
    def mutate(job: AnalysisJob) -> dict[str, Any]:
        return {
            "state": states.target_state("cancel", job.state, []),
            "reason": "cancelled by a user",
            "lease_owner": "",
            "lease_expires_at": None,
            "finished_at": utcnow(),
            "stage": "",
        }

    return await _apply(ctx, p, job_id, "cancel", mutate)


async def rerun(ctx: AppContext, p: Principal, job_id: int) -> AnalysisJob:
    def mutate(job: AnalysisJob) -> dict[str, Any]:
        missing = remaining_missing(job, job.overrides)
        target = states.target_state("rerun", job.state, missing)
        return {
            "state": target,
            "missing": missing,
            "priority": MANUAL_PRIORITY,
            "attempts": 0,
            "queued_at": utcnow() if target == JobState.QUEUED else None,
            "reason": waiting_reason(missing),
            "progress": 0.0,
            "stage": "",
            "started_at": None,
            "finished_at": None,
        }

    return await _apply(ctx, p, job_id, "rerun", mutate)


async def set_diagnostic_text(ctx: AppContext, p: Principal, job_id: int, text: str) -> AnalysisJob:
    if len(text) > 20_000:
        raise InvalidInput("diagnostic information is limited to 20000 characters")
    async with ctx.write_session() as s:
        job = await _visible_job(s, p, job_id)
        job.diagnostic_text = text
        job.updated_at = utcnow()
        s.add(job)
        await s.commit()
    notify(ctx)
    return await get_job(ctx, p, job_id)


async def delete(ctx: AppContext, p: Principal, job_id: int) -> None:
    """Remove a job that is not running; its derived series stay in the study."""
    async with ctx.write_session() as s:
        job = await _visible_job(s, p, job_id)
        try:
            states.check("delete", job.state)
        except TransitionError as exc:
            raise JobConflict(str(exc) + "; cancel it first", job.state) from None
        for r in (await s.exec(select(AnalysisResult).where(AnalysisResult.job_id == job_id))).all():
            await s.delete(r)
        await s.flush()
        await s.delete(job)
        await s.commit()
    notify(ctx)


def subscribe(ctx: AppContext) -> contextlib.AbstractContextManager[Subscription]:
    """Wake-ups for job changes in any process (workers, live event streams)."""
    return ctx.changes.subscribe(JOBS)


def notify(ctx: AppContext) -> None:
    """Wake workers and event streams (in this process and, through the bus, in the others)."""
    ctx.changes.publish(JOBS)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def qc_brief(statistics: dict | None) -> dict[str, Any] | None:
    qc = (statistics or {}).get("qc")
    if not isinstance(qc, dict):
        return None
    return {"status": qc.get("status"),
            "flags": [{"code": f.get("code"), "severity": f.get("severity"), "message": f.get("message")}
                      for f in qc.get("flags") or []]}


def job_json(job: AnalysisJob, results: list[AnalysisResult] | None = None, brief: bool = False) -> dict:
    out: dict[str, Any] = {
        "id": job.id,
        "method": dce_params.method_of(job),
        "state": job.state,
        "actions": states.actions_for(job.state),
        "missing": job.missing,
        "reason": job.reason,
        "label": job.label,
        "vendor": job.vendor,
        "labeling": job.labeling,
        "study_instance_uid": job.study_instance_uid,
        "series_instance_uids": job.series_uids,
        "m0_series_instance_uid": job.m0_series_uid or None,
        "t1_series_instance_uid": job.t1_series_uid or None,
        "patient_name": job.patient_name,
        "patient_id": job.patient_id,
        "study_date": job.study_date,
        "study_description": job.study_description,
        "priority": job.priority,
        "progress": job.progress,
        "stage": job.stage,
        "attempts": job.attempts,
        "worker": job.lease_owner or None,
        "max_attempts": job.max_attempts,
        "version": job.version,
        # Whole-brain mean CBF of the newest result (ml/100 g/min), for lists.
        "cbf_mean": ((job.statistics or {}).get("whole_brain") or {}).get("mean"),
        # Quality control of the newest result (quant.qc): status and the flags, for the queue.
        "qc": qc_brief(job.statistics),
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
        "queued_at": _iso(job.queued_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }
    if brief:
        return out
    out.update(
        {
            "parameters": {"detected": job.detected.get("parameters", {}), "overrides": job.overrides,
                           "model": job.model or "auto"},
            "provenance": job.provenance,
            "override_notes": job.override_notes or {},
            "protocol": presets.protocol_of(job),
            "statistics": job.statistics,
            "timings": job.timings,
            "diagnostic_text": job.diagnostic_text,
            "parameter_schema": parameter_schema(job),
        }
    )
    if results is not None:
        out["results"] = [
            {
                "version": r.version,
                "series": r.series,
                "superseded": r.superseded,
                "created_at": _iso(r.created_at),
            }
            for r in results
        ]
    return out
