"""Analysis jobs seen as UPS workitems: one state, in ``analysis_job``.

Design (one source of truth): a job's workitem has no row of its own. ``analysis_job.state`` is
the only state; :data:`UPS_STATE` maps it to a Procedure Step State (waiting/queued → SCHEDULED,
running → IN PROGRESS, succeeded → COMPLETED, failed/cancelled → CANCELED) and :func:`dataset`
builds the workitem's DICOM JSON from the job (input = the ASL/DCE series, output = the derived
series of the current result). UPS actions on a job's workitem are the job table's own
transitions (``server/workflow/states.py``): claim → ``claim`` (the external performer holds the
job as ``lease_owner = "ups:<Transaction UID>"`` with no lease expiry, so neither an internal
worker nor the reaper takes it), complete → ``succeed``, cancel → ``cancel``.

Events: every change of a job's state, whoever made it (worker, reaper, /api, UPS), is reported
by :func:`reconcile`, which compares the UPS state of each job with ``ups_reported_state`` (the
last state reported: a delivery cursor, not a second state) and records the missing State
Reports in one transaction with a conditional update of the cursor — so several processes may
run it at once and each report is recorded exactly once. A job that runs again after a final
state (rerun, new instances) gets a new workitem UID: a UPS never leaves COMPLETED/CANCELED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import and_, case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from dicomweb.ups import events as ev
from dicomweb.ups.states import State
from dicomweb.ups.workitem import UPS_PUSH_SOP_CLASS
from server.context import AppContext
from server.db.analysis import AnalysisJob, AnalysisResult, new_workitem_uid
from server.db.archive import Instance, Series, Study
from server.db.changes import JOBS
from server.db.database import utcnow
from server.db.workitems import WorkitemEvent
from server.workflow import dce_params, workitem_events
from server.workflow import ups_view as uv
from server.workflow.states import JobState

log = logging.getLogger("cirrus.workitems")
J = AnalysisJob

UPS_STATE: dict[str, State] = {
    JobState.WAITING: State.SCHEDULED,
    JobState.QUEUED: State.SCHEDULED,
    JobState.RUNNING: State.IN_PROGRESS,
    JobState.SUCCEEDED: State.COMPLETED,
    JobState.FAILED: State.CANCELED,
    JobState.CANCELLED: State.CANCELED,
}
EXTERNAL = "ups:"  # lease_owner prefix of a job claimed through UPS-RS
CODING_SCHEME = uv.CODING_SCHEME
WORK_CODES = {"ASL": ("CIRRUS-ASL", "ASL perfusion quantification"),
              "DCE": ("CIRRUS-DCE", "DCE perfusion quantification")}


def ups_state_sql() -> Any:
    """The job's UPS state as an SQL expression (detection failures are no workitems: NULL)."""
    return case(*((col(J.state) == js.value, ups.value) for js, ups in UPS_STATE.items()), else_=None)


def is_workitem(job: AnalysisJob) -> bool:
    return job.state in UPS_STATE


_dt, _e, _series_ref = uv.dt, uv.element, uv.series_ref


def _code(method: str) -> dict[str, Any]:
    return uv.code_item(*WORK_CODES[method])


def job_locking_uid(job: AnalysisJob) -> str | None:
    """The Transaction UID that holds the job: an external performer's, or None for an internal worker."""
    if job.state == JobState.RUNNING and job.lease_owner.startswith(EXTERNAL):
        return job.lease_owner[len(EXTERNAL):]
    return None


async def _instances(conn: AsyncConnection, series_uids: list[str]) -> dict[str, list[tuple[str, str]]]:
    if not series_uids:
        return {}
    stmt = (select(Series.series_instance_uid, Instance.sop_class_uid, Instance.sop_instance_uid)
            .join(Instance, col(Instance.series_id) == col(Series.id))
            .where(col(Series.series_instance_uid).in_(series_uids), col(Instance.state) == "created")
            .order_by(col(Instance.id)))
    out: dict[str, list[tuple[str, str]]] = {}
    for series, sop_class, sop in (await conn.execute(stmt)).all():
        out.setdefault(series, []).append((sop_class, sop))
    return out


async def dataset(conn: AsyncConnection, job: AnalysisJob, base: str = "") -> dict[str, Any]:
    """The job as a workitem (DICOM JSON, without its Transaction UID)."""
    state = UPS_STATE[JobState(job.state)]
    method = dce_params.method_of(job)
    results = (await conn.execute(select(AnalysisResult.series).where(
        col(AnalysisResult.job_id) == job.id, col(AnalysisResult.superseded).is_(False))
        .order_by(col(AnalysisResult.version).desc()).limit(1))).first()
    output_series = [s for s in (results[0] if results else {}).values() if isinstance(s, str)] \
        if state is State.COMPLETED else []
    study = (await conn.execute(select(Study.accession_number, Study.patient_birth_date, Study.patient_sex).where(
        col(Study.study_instance_uid) == job.study_instance_uid))).first()
    sops = await _instances(conn, [*job.series_uids, *output_series])
    out: dict[str, Any] = {
        "00080016": _e("UI", UPS_PUSH_SOP_CLASS),
        "00080018": _e("UI", job.workitem_uid),
        "00741200": _e("CS", "HIGH" if job.priority >= 10 else "MEDIUM"),
        "00741204": _e("LO", (job.label or WORK_CODES[method][1])[:64]),
        "00404005": _e("DT", _dt(job.queued_at or job.created_at)),
        "00404010": _e("DT", _dt(job.updated_at)),
        "00404018": {"vr": "SQ", "Value": [_code(method)]},
        "00404041": _e("CS", "INCOMPLETE" if job.state == JobState.WAITING else "READY"),
        "00404021": {"vr": "SQ", "Value": [_series_ref(job.study_instance_uid, s, sops.get(s, []), base)
                                           for s in job.series_uids]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": job.patient_name}]} if job.patient_name else {"vr": "PN"},
        "00100020": _e("LO", job.patient_id),
        "00100030": _e("DA", study[1] if study else ""),
        "00100040": _e("CS", study[2] if study else ""),
        "0040A370": {"vr": "SQ", "Value": [{"0020000D": _e("UI", job.study_instance_uid),
                                            "00080050": _e("SH", study[0] if study else "")}]},
        "00741000": _e("CS", state.value),
    }
    progress: dict[str, Any] = {"00741004": _e("DS", round(job.progress * 100, 1))}  # ProcedureStepProgress
    if job.stage:
        progress["00741006"] = _e("ST", job.stage[:1024])  # ProcedureStepProgressDescription
    if state is State.CANCELED:
        progress["00404052"] = _e("DT", _dt(job.finished_at or job.updated_at))
        if job.reason:
            progress["00741238"] = _e("LT", job.reason)
    out["00741002"] = {"vr": "SQ", "Value": [progress]}
    if state in (State.IN_PROGRESS, State.COMPLETED):
        performed = uv.performed(job.lease_owner or "Cirrus worker", job.started_at, _code(method))
        if state is State.COMPLETED:
            performed["00404051"] = _e("DT", _dt(job.finished_at))
            performed["00404033"] = {"vr": "SQ", "Value": [
                _series_ref(job.study_instance_uid, s, sops.get(s, []), base) for s in output_series]}
        out["00741216"] = {"vr": "SQ", "Value": [performed]}
    # What an external performer set (PUT /workitems/{uid}); never the attributes the job owns.
    for key, value in (job.workitem_extra or {}).items():
        if key not in ("00080016", "00080018", "00741000", "00081195"):
            out[key] = value
    return out


# -- reporting every state change -------------------------------------------------------------------


_path = uv.report_path


async def _report_one(ctx: AppContext, job_id: int) -> bool:
    async with ctx.write() as conn:
        stmt = select(J).where(col(J.id) == job_id)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = (await conn.execute(stmt)).first()
        if row is None:
            return False
        job = AnalysisJob.model_validate(dict(row._mapping))
        if not is_workitem(job):
            return False
        current = UPS_STATE[JobState(job.state)]
        reported, uid = job.ups_reported_state, job.workitem_uid
        if reported and State(reported).final and not current.final:
            uid, reported = new_workitem_uid(), ""  # it runs again: a new procedure step
        steps = _path(reported, current)
        if not steps and uid == job.workitem_uid:
            return False
        snapshot_job = job.model_copy(update={"workitem_uid": uid})
        snap = await dataset(conn, snapshot_job)
        readiness = "INCOMPLETE" if job.state == JobState.WAITING else "READY"
        # Assigned only to a performer that took it (not on the way of a SCHEDULED job to CANCELED).
        ran = job.state in (JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED)
        await uv.record_steps(conn, uid=uid, institution_id=job.institution_id, study_uid=job.study_instance_uid,
                              steps=steps, readiness=readiness, reason=job.reason,
                              performer=(job.lease_owner or "Cirrus worker") if ran else None, snapshot=snap)
        done = await conn.execute(update(J).where(
            and_(col(J.id) == job.id, col(J.ups_reported_state) == job.ups_reported_state,
                 col(J.workitem_uid) == job.workitem_uid, col(J.state) == job.state))
            .values(ups_reported_state=current.value, workitem_uid=uid))
        if not done.rowcount:
            raise _Retry()
    return True


class _Retry(Exception):
    pass


# What a claim writes: the progress a subscriber already knows from the Assigned event.
CLAIM_STAGES = frozenset({"", "claimed", "claimed through UPS-RS"})


def _progress_item(job: AnalysisJob) -> dict[str, Any]:
    """The Progress Information a Progress Report of an internally run job carries: whole percent, stage."""
    item: dict[str, Any] = {"00741004": _e("DS", int(job.progress * 100))}
    if job.stage:
        item["00741006"] = _e("ST", job.stage[:1024])
    return item


async def _last_progress(conn: AsyncConnection, uid: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(WorkitemEvent.report).where(
        col(WorkitemEvent.workitem_uid) == uid, col(WorkitemEvent.event_type) == ev.PROGRESS_REPORT)
        .order_by(col(WorkitemEvent.seq).desc()).limit(1))).first()
    if row is None:
        return None
    values = row[0].get("00741002", {}).get("Value") or [{}]
    return values[0]  # type: ignore[no-any-return]


def _news(job: AnalysisJob, last: dict[str, Any] | None) -> bool:
    """Whether the job's progress differs from the last Progress Report (the claim's is no news)."""
    if last is None:
        return not (int(job.progress * 100) == 0 and job.stage in CLAIM_STAGES)
    return ev.progress_changed(last, _progress_item(job))


async def _progress_one(ctx: AppContext, job_id: int) -> bool:
    async with ctx.write() as conn:
        stmt = select(J).where(col(J.id) == job_id)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = (await conn.execute(stmt)).first()
        if row is None:
            return False
        job = AnalysisJob.model_validate(dict(row._mapping))
        # An external performer reports its own progress (N-SET / PUT, server/workflow/workitems.py);
        # before the state report of the claim is recorded the subscriber does not know the step yet.
        if job.state != JobState.RUNNING or job_locking_uid(job) or job.ups_reported_state != State.IN_PROGRESS.value:
            return False
        item = _progress_item(job)
        if not _news(job, await _last_progress(conn, job.workitem_uid)):
            return False
        await workitem_events.record(
            conn, workitem_uid=job.workitem_uid, institution_id=job.institution_id,
            study_uid=job.study_instance_uid, event_type=ev.PROGRESS_REPORT,
            report=ev.progress_report(job.workitem_uid, item), snapshot=await dataset(conn, job))
    return True


async def report_progress(ctx: AppContext) -> int:
    """Record a UPS Progress Report for each job run by a Cirrus worker whose progress (whole percent)
    or stage changed since its last report; the job row is locked, so concurrent callers record it once."""
    stmt = select(J).where(col(J.state) == JobState.RUNNING, ~col(J.lease_owner).startswith(EXTERNAL),
                           col(J.ups_reported_state) == State.IN_PROGRESS.value)
    changed = []
    async with ctx.engine.connect() as conn:  # a read first: most passes find nothing new (no write lock)
        for row in (await conn.execute(stmt.order_by(col(J.id)))).all():
            job = AnalysisJob.model_validate(dict(row._mapping))
            if _news(job, await _last_progress(conn, job.workitem_uid)):
                changed.append(job.id or 0)
    return sum([await _progress_one(ctx, job_id) for job_id in changed])


async def reconcile(ctx: AppContext) -> int:
    """Record the State Reports of every job whose state changed since it was last reported, then the
    Progress Reports of running jobs (:func:`report_progress`)."""
    stmt = select(J.id).where(ups_state_sql().is_not(None),
                              (ups_state_sql() != col(J.ups_reported_state)) | (col(J.ups_reported_state) == ""))
    async with ctx.engine.connect() as conn:
        ids = [r[0] for r in (await conn.execute(stmt.order_by(col(J.id)))).all()]
    reported = 0
    for job_id in ids:
        for _ in range(3):
            try:
                reported += await _report_one(ctx, job_id)
                break
            except _Retry:
                continue
    reported += await report_progress(ctx)
    if reported:
        workitem_events.publish(ctx)
    return reported


async def reporter_loop(ctx: AppContext, stop: asyncio.Event, interval: float = 1.0) -> None:
    """Report job state changes as they happen (woken by the jobs topic; a second's poll besides)."""
    with ctx.changes.subscribe(JOBS) as changed:
        while not stop.is_set():
            try:
                await reconcile(ctx)
            except Exception:
                log.warning("reporting analysis job states to UPS subscribers failed", exc_info=True)
            await changed.wait(interval)


@contextlib.asynccontextmanager
async def running_reporter(ctx: AppContext):  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    task = asyncio.create_task(reporter_loop(ctx, stop), name="workitem-reporter")
    try:
        yield
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def now_dt() -> str:
    return utcnow().strftime("%Y%m%d%H%M%S")
