"""UPS-RS service (PS3.18 §11): create, retrieve, update, change state, request cancel, search,
subscribe — over ``workitem`` rows and over analysis jobs (``job_workitems``).

Every decision on a state change is ``dicomweb.ups.states.decide`` (Table CC.1.1-2); this module
reads the current state in a write transaction (PostgreSQL: ``FOR UPDATE``; SQLite: ``BEGIN
IMMEDIATE``), applies the decision, and records the events in the same transaction, so two
clients claiming one workitem at once get exactly one success and one 409 naming IN PROGRESS.
Tenant rule: a workitem belongs to the institution that created it; a caller sees its own
institution's workitems and those for a study it sees (``server.auth.visibility``). Creating a
workitem for another tenant's study is answered like a missing study (404).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel import select as model_select

from dicomweb.errors import BadRequest, Conflict, NotFound
from dicomweb.uids import uid_problem
from dicomweb.ups import events as ev
from dicomweb.ups.query import WorkitemQuery, matches, parse_workitem_query, project, searchable
from dicomweb.ups.states import Decision, Event, State, decide, event_for, http_status, parse_state
from dicomweb.ups.workitem import (
    UPS_PUSH_SOP_CLASS,
    check_create,
    final_state_problems,
    prepare_cancel,
    without_lock,
)
from server.app_errors import StateConflict
from server.auth.principal import Principal
from server.auth.visibility import study_uid_visible
from server.context import AppContext
from server.db.analysis import AnalysisJob
from server.db.archive import Study
from server.db.database import utcnow
from server.db.reading import ReadingRequest
from server.db.workitems import Workitem, WorkitemEvent, WorkitemSubscription
from server.reading import workitems as rw
from server.workflow import job_workitems as jw
from server.workflow import jobs, states, workitem_events
from server.workflow.states import JobState

log = logging.getLogger("cirrus.workitems")
W, J, SUB = Workitem, AnalysisJob, WorkitemSubscription
GLOBAL_UID = "1.2.840.10008.5.1.4.34.5"
FILTERED_UID = "1.2.840.10008.5.1.4.34.5.1"
TAG_STATE, TAG_TXN, TAG_SOP = "00741000", "00081195", "00080018"
PROTECTED = {TAG_STATE, TAG_TXN, TAG_SOP, "00080016"}  # the SCP owns these (PS3.4 CC.2.6)


class UpsConflict(StateConflict):
    """A UPS refusal answered 409 (wrong Transaction UID, illegal transition, final state unmet)."""


def _now() -> str:
    return utcnow().strftime("%Y%m%d%H%M%S")


# -- bodies -----------------------------------------------------------------------------------------


def parse_body(raw: bytes) -> dict[str, Any]:
    """One DICOM JSON dataset (an object, or an array holding one); ``BadRequest`` naming the problem."""
    if not raw.strip():
        raise BadRequest("the request body is empty; a DICOM JSON workitem dataset is required")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if isinstance(data, list):
        if len(data) != 1:
            raise BadRequest(f"the body holds {len(data)} datasets; exactly one workitem is expected")
        data = data[0]
    if not isinstance(data, dict):
        raise BadRequest("the body is not a DICOM JSON dataset (an object keyed by tags)")
    _check_shape(data, "")
    return data


def _check_shape(data: dict[str, Any], where: str) -> None:
    for key, element in data.items():
        if not (isinstance(key, str) and len(key) == 8 and all(c in "0123456789ABCDEFabcdef" for c in key)):
            raise BadRequest(f"{where}{key!r} is not a DICOM JSON attribute tag (8 hex digits)")
        if not isinstance(element, dict) or not isinstance(element.get("vr"), str):
            raise BadRequest(f"{where}{key}: an attribute is an object with a 'vr'")
        values = element.get("Value")
        if values is not None and not isinstance(values, list):
            raise BadRequest(f"{where}{key}: Value must be an array")
        if element["vr"] == "SQ":
            for i, item in enumerate(values or [], start=1):
                if not isinstance(item, dict):
                    raise BadRequest(f"{where}{key}[{i}]: a sequence item is a DICOM JSON object")
                _check_shape(item, f"{where}{key}[{i}].")
    upper = {k.upper(): v for k, v in data.items()}
    data.clear()
    data.update(upper)


def _first(ds: dict[str, Any], tag: str) -> str:
    element = ds.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    return str(values[0]) if values else ""


def _problems_text(problems: Any) -> str:
    return "; ".join(str(p) for p in problems)


# -- who sees what ----------------------------------------------------------------------------------


def workitem_visible(p: Principal) -> Any:
    if p.is_admin:
        return true()
    return or_(col(W.institution_id) == p.institution_id, study_uid_visible(p, col(W.study_instance_uid)))


@dataclass
class Found:
    row: Workitem | None = None
    job: AnalysisJob | None = None
    reading: ReadingRequest | None = None  # a reading request's view (server.reading.workitems)
    past: dict[str, Any] | None = None  # a reading request's step before an amendment (its last dataset)

    @property
    def state(self) -> State:
        if self.row is not None:
            return State(self.row.state)
        if self.past is not None:
            return State(_first(self.past, TAG_STATE))
        if self.reading is not None:
            return rw.state_of(self.reading)
        assert self.job is not None
        return jw.UPS_STATE[JobState(self.job.state)]


async def _find(conn: AsyncConnection, p: Principal, uid: str, lock: bool = False) -> Found:
    stmt = select(W).where(col(W.sop_instance_uid) == uid, workitem_visible(p))
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is not None:
        return Found(row=Workitem.model_validate(dict(row._mapping)))
    stmt = select(J).where(col(J.workitem_uid) == uid, col(J.state).in_(list(jw.UPS_STATE)), jobs.job_visible(p))
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is not None:
        return Found(job=AnalysisJob.model_validate(dict(row._mapping)))
    reading = await rw.find(conn, p, uid, lock=lock)
    if reading is not None:
        return Found(reading=reading)
    past = await rw.past_step(conn, p, uid)
    if past is not None:
        return Found(past=past)
    raise NotFound(f"no workitem {uid}")


def _refuse_reading(found: Found) -> None:
    """A reading request's workitem is a view: the reading workflow changes it, not UPS-RS."""
    if found.past is not None:
        raise UpsConflict(f"C300: the workitem is a reading request's {found.state.value} step; "
                          "it changes no more", found.state.value)
    if found.reading is not None:
        raise UpsConflict(f"the workitem is reading request {found.reading.number} ({found.reading.state}); "
                          f"it changes through the reading workflow (/api/reading/requests/{found.reading.id}), "
                          "not through UPS-RS", found.state.value)


def _check_uid(uid: str, what: str = "workitem UID") -> str:
    problem = uid_problem(uid)
    if problem:
        raise BadRequest(f"{what}: {problem}")
    return uid


async def _record(conn: AsyncConnection, row: Workitem, ds: dict[str, Any], event_type: int,
                  report: dict[str, Any]) -> None:
    await workitem_events.record(conn, workitem_uid=row.sop_instance_uid, institution_id=row.institution_id,
                                 study_uid=row.study_instance_uid, event_type=event_type, report=report,
                                 snapshot=ds)


# -- create / retrieve / update ---------------------------------------------------------------------


async def create(ctx: AppContext, p: Principal, raw: bytes, uid_param: str | None) -> tuple[str, tuple[str, ...]]:
    """Create a workitem (PS3.18 §11.4); its UID and the Type 2 attributes added empty."""
    body = parse_body(raw)
    body_uid = _first(body, TAG_SOP)
    if uid_param and body_uid and uid_param != body_uid:
        raise BadRequest(f"SOPInstanceUID: the body's {body_uid} differs from the request's {uid_param}")
    uid = _check_uid(uid_param or body_uid, "SOPInstanceUID") if (uid_param or body_uid) else jw.new_workitem_uid()
    checked = check_create(body)
    if not checked.ok:
        raise BadRequest(_problems_text(checked.problems))
    ds = checked.dataset
    ds.pop(TAG_TXN, None)
    ds["00080016"] = {"vr": "UI", "Value": [UPS_PUSH_SOP_CLASS]}
    ds[TAG_SOP] = {"vr": "UI", "Value": [uid]}
    ds["00404010"] = {"vr": "DT", "Value": [_now()]}  # ScheduledProcedureStepModificationDateTime
    ds[TAG_STATE] = {"vr": "CS", "Value": [State.SCHEDULED.value]}
    found = searchable(ds)
    if found["study_instance_uid"]:
        _check_uid(found["study_instance_uid"], "StudyInstanceUID of the Referenced Request or Input Information")
    async with ctx.write() as conn:
        if found["study_instance_uid"]:
            exists = (await conn.execute(select(Study.id).where(
                col(Study.study_instance_uid) == found["study_instance_uid"]))).first()
            if exists is not None and not p.is_admin:
                seen = (await conn.execute(select(Study.id).where(
                    col(Study.study_instance_uid) == found["study_instance_uid"],
                    study_uid_visible(p, found["study_instance_uid"])))).first()
                if seen is None:
                    raise NotFound(f"no study {found['study_instance_uid']}")
        taken = (await conn.execute(select(W.id).where(col(W.sop_instance_uid) == uid))).first() or \
            (await conn.execute(select(J.id).where(col(J.workitem_uid) == uid))).first()
        if taken is not None:
            decision = decide(Event.CREATE, State.SCHEDULED)
            raise Conflict(http_status(decision, State.SCHEDULED)[1])
        row = Workitem(sop_instance_uid=uid, institution_id=p.institution_id,
                       study_instance_uid=found["study_instance_uid"], state=State.SCHEDULED.value,
                       patient_id=found["patient_id"][:64], accession_number=found["accession_number"][:16],
                       start_datetime=found["start_datetime"], dataset=ds)
        values = row.model_dump(exclude={"id"})
        await conn.execute(insert(W).values(**values))
        await _record(conn, row, ds, ev.STATE_REPORT, ev.state_report(uid, State.SCHEDULED, _readiness(ds)))
    workitem_events.publish(ctx)
    return uid, checked.added


def _readiness(ds: dict[str, Any]) -> str:
    return _first(ds, "00404041") or "READY"


async def retrieve(ctx: AppContext, p: Principal, uid: str, base: str = "") -> dict[str, Any]:
    _check_uid(uid)
    async with ctx.engine.connect() as conn:
        found = await _find(conn, p, uid)
        if found.row is not None:
            return without_lock(found.row.dataset)
        if found.past is not None:
            return found.past
        if found.reading is not None:
            return await rw.dataset(conn, found.reading, base)
        assert found.job is not None
        return await jw.dataset(conn, found.job, base)


def _lock_of(found: Found) -> str | None:
    if found.row is not None:
        return found.row.locking_uid or None
    assert found.job is not None
    if found.job.state == JobState.RUNNING:
        return jw.job_locking_uid(found.job) or f"internal:{found.job.lease_owner}"
    return None


async def update_workitem(ctx: AppContext, p: Principal, uid: str, raw: bytes, transaction_uid: str | None) -> None:
    """Update a workitem (PS3.18 §11.6, N-SET): not once final; IN PROGRESS only with its Transaction UID."""
    _check_uid(uid)
    body = parse_body(raw)
    transaction_uid = transaction_uid or _first(body, TAG_TXN) or None
    if _first(body, TAG_STATE):
        raise BadRequest("ProcedureStepState cannot be updated; change it with PUT /workitems/{uid}/state")
    if _first(body, TAG_SOP) and _first(body, TAG_SOP) != uid:
        raise BadRequest("SOPInstanceUID of a workitem cannot be changed")
    changes = {k: v for k, v in body.items() if k not in PROTECTED}
    async with ctx.write() as conn:
        found = await _find(conn, p, uid, lock=True)
        state = found.state
        _refuse_reading(found)
        if state.final:
            raise UpsConflict(f"C300: The UPS may no longer be updated (the workitem is {state.value})", state.value)
        lock = _lock_of(found)
        if state is State.IN_PROGRESS and (not transaction_uid or transaction_uid != lock):
            if not transaction_uid:
                raise BadRequest(f"C301: the workitem is {state.value}: the Transaction UID is required "
                                 "(?transaction= or TransactionUID in the body)")
            raise UpsConflict(f"C301: The correct Transaction UID was not provided (the workitem is {state.value})",
                              state.value)
        if found.row is not None:
            row = found.row
            before = _progress(row.dataset)
            ds = {**row.dataset, **changes, "00404010": {"vr": "DT", "Value": [_now()]}}
            got = searchable(ds)
            result = await conn.execute(update(W).where(col(W.id) == row.id, col(W.revision) == row.revision).values(
                dataset=ds, patient_id=got["patient_id"][:64], accession_number=got["accession_number"][:16],
                start_datetime=got["start_datetime"], revision=row.revision + 1, updated_at=utcnow()))
            where = (row.institution_id, row.study_instance_uid)
        else:
            job = found.job
            assert job is not None
            before = _progress(await jw.dataset(conn, job))
            result = await conn.execute(update(J).where(col(J.id) == job.id, col(J.state) == job.state).values(
                workitem_extra={**(job.workitem_extra or {}), **changes}, updated_at=utcnow()))
            ds = {**(await jw.dataset(conn, job)), **changes}
            where = (job.institution_id, job.study_instance_uid)
        if not result.rowcount:
            raise UpsConflict(f"the workitem changed meanwhile (it is {state.value}); reload and try again",
                              state.value)
        # A performer's new Progress Information is a UPS Progress Report (PS3.4 CC.2.4, Event Type 3).
        reported = state is State.IN_PROGRESS and "00741002" in changes and ev.progress_changed(before, _progress(ds))
        if reported:
            await workitem_events.record(conn, workitem_uid=uid, institution_id=where[0], study_uid=where[1],
                                         event_type=ev.PROGRESS_REPORT, report=ev.progress_report(uid, _progress(ds)),
                                         snapshot=ds)
    if reported:
        workitem_events.publish(ctx)


# -- state changes ----------------------------------------------------------------------------------


def _refuse(decision: Decision, current: State, transaction_uid: str | None, detail: str = "") -> None:
    status, message = http_status(decision, current, transaction_uid=transaction_uid)
    if detail:
        message = f"{message}: {detail}"
    if status == 404:
        raise NotFound(message)
    if status == 400:
        raise BadRequest(message)
    if status == 409:
        raise UpsConflict(message, current.value)


async def change_state(ctx: AppContext, p: Principal, uid: str, raw: bytes) -> str:
    """Change Workitem State (PS3.18 §11.7); the answer's message (a warning when already there)."""
    _check_uid(uid)
    body = parse_body(raw)
    value = _first(body, TAG_STATE)
    if not value:
        raise BadRequest("ProcedureStepState (00741000) is missing from the body")
    try:
        target = parse_state(value)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    transaction_uid = _first(body, TAG_TXN) or None
    if transaction_uid:
        _check_uid(transaction_uid, "TransactionUID")
    for _ in range(3):
        async with ctx.write() as conn:
            found = await _find(conn, p, uid, lock=True)
            _refuse_reading(found)
            if found.row is not None:
                return await _change_row(conn, ctx, found.row, target, transaction_uid)
            assert found.job is not None
            outcome = await _change_job(conn, found, target, transaction_uid)
        if outcome is not None:
            jobs.notify(ctx)
            await jw.reconcile(ctx)
            return outcome
    raise UpsConflict("the workitem changed meanwhile; try again")


async def _change_row(conn: AsyncConnection, ctx: AppContext, row: Workitem, target: State,
                      transaction_uid: str | None) -> str:
    current = State(row.state)
    ds = copy.deepcopy(row.dataset)
    if target is State.CANCELED and current is State.IN_PROGRESS:
        ds = prepare_cancel(ds, _now())
    problems = final_state_problems(ds, target) if target.final else []
    decision = decide(event_for(target), current, transaction_uid=transaction_uid,
                      locking_uid=row.locking_uid or None, final_state_met=not problems)
    if not decision.ok:
        _refuse(decision, current, transaction_uid, _problems_text(problems) if decision.status.code == 0xC304 else "")
    text = http_status(decision, current)[1]
    if decision.new_state is None:
        return text
    new = decision.new_state
    ds[TAG_STATE] = {"vr": "CS", "Value": [new.value]}
    values: dict[str, Any] = {"state": new.value, "dataset": ds, "revision": row.revision + 1, "updated_at": utcnow()}
    if decision.record_uid:
        values["locking_uid"] = transaction_uid
    await conn.execute(update(W).where(col(W.id) == row.id).values(**values))
    for step in decision.reports:
        await _record(conn, row, ds, ev.STATE_REPORT, ev.state_report(row.sop_instance_uid, step, _readiness(ds),
                                                                       _first(_progress(ds), "00741238") or None))
    if new is State.IN_PROGRESS:
        await _record(conn, row, ds, ev.ASSIGNED, ev.assigned(row.sop_instance_uid, "performer"))
    workitem_events.publish(ctx)
    return text


def _progress(ds: dict[str, Any]) -> dict[str, Any]:
    element = ds.get("00741002")
    values = element.get("Value") if isinstance(element, dict) else None
    return values[0] if values and isinstance(values[0], dict) else {}


async def _change_job(conn: AsyncConnection, found: Found, target: State, transaction_uid: str | None) -> str | None:
    """A UPS state change of an analysis job: the job table's own transition. None: lost a race, retry."""
    job = found.job
    assert job is not None
    current = found.state
    view = await jw.dataset(conn, job)
    problems = []
    if target is State.COMPLETED:
        problems = final_state_problems(view, target)
    decision = decide(event_for(target), current, transaction_uid=transaction_uid, locking_uid=_lock_of(found),
                      final_state_met=not problems)
    if not decision.ok:
        _refuse(decision, current, transaction_uid, _problems_text(problems) if decision.status.code == 0xC304 else "")
    if decision.new_state is None:
        return http_status(decision, current)[1]
    now = utcnow()
    if decision.new_state is State.IN_PROGRESS:
        if job.state != JobState.QUEUED:
            raise UpsConflict(f"the workitem is {current.value} but its input is INCOMPLETE "
                              f"({jobs.waiting_reason(job.missing)}); it cannot be claimed yet", current.value)
        t = states.transition("claim")
        stmt = update(J).where(col(J.id) == job.id, col(J.state).in_(t.source_values)).values(
            state=t.target, lease_owner=f"{jw.EXTERNAL}{transaction_uid}", lease_expires_at=None, heartbeat_at=now,
            attempts=J.attempts + 1, started_at=now, updated_at=now, progress=0.0, stage="claimed through UPS-RS",
            reason="", revision=J.revision + 1)
    else:
        action = "succeed" if decision.new_state is State.COMPLETED else "cancel"
        t = states.transition(action)
        reason = _first(_progress(view), "00741238") or "canceled by its UPS performer"
        extra = {"reason": reason} if action == "cancel" else {}
        stmt = update(J).where(col(J.id) == job.id, col(J.state).in_(t.source_values),
                               col(J.lease_owner) == job.lease_owner).values(
            state=t.target, lease_expires_at=None, finished_at=now, updated_at=now, progress=1.0 if
            action == "succeed" else J.progress, stage="", revision=J.revision + 1, **extra)
    result = await conn.execute(stmt)
    if not result.rowcount:
        return None
    return http_status(decision, current)[1]


async def request_cancel(ctx: AppContext, p: Principal, uid: str, raw: bytes) -> str:
    """Request Cancellation (PS3.18 §11.8)."""
    _check_uid(uid)
    body = parse_body(raw) if raw.strip() else {}
    reason = _first(body, "00741238") or None
    requesting_ae = _first(body, "00741236") or None
    contact = _first(body, "0074100C") or None
    async with ctx.write() as conn:
        found = await _find(conn, p, uid, lock=True)
        current = found.state
        _refuse_reading(found)
        if found.row is not None:
            row = found.row
            ds = prepare_cancel(row.dataset, _now(), reason) if current is State.SCHEDULED else row.dataset
            problems = final_state_problems(ds, State.CANCELED) if current is State.SCHEDULED else []
            decision = decide(Event.REQUEST_CANCEL, current, final_state_met=not problems)
            if not decision.ok:
                _refuse(decision, current, None, _problems_text(problems))
            if decision.new_state is not None:
                ds = {**ds, TAG_STATE: {"vr": "CS", "Value": [decision.new_state.value]}}
                await conn.execute(update(W).where(col(W.id) == row.id).values(
                    state=decision.new_state.value, dataset=ds, revision=row.revision + 1, updated_at=utcnow()))
                for step in decision.reports:
                    await _record(conn, row, ds, ev.STATE_REPORT, ev.state_report(uid, step, _readiness(ds), reason))
            elif decision.cancel_requested:
                await conn.execute(update(W).where(col(W.id) == row.id).values(cancel_requested=True))
                await _record(conn, row, ds, ev.CANCEL_REQUESTED, ev.cancel_requested(uid, reason, requesting_ae,
                                                                                        contact))
            text = http_status(decision, current)[1]
            job_changed = False
        else:
            job = found.job
            assert job is not None
            decision = decide(Event.REQUEST_CANCEL, current)
            if not decision.ok:
                _refuse(decision, current, None)
            text = http_status(decision, current)[1]
            internal = job.state == JobState.RUNNING and not jw.job_locking_uid(job)
            if decision.cancel_requested:
                await workitem_events.record(
                    conn, workitem_uid=uid, institution_id=job.institution_id, study_uid=job.study_instance_uid,
                    event_type=ev.CANCEL_REQUESTED, report=ev.cancel_requested(uid, reason, requesting_ae, contact),
                    snapshot=await jw.dataset(conn, job))
            job_changed = decision.new_state is not None or internal
            if job_changed:  # the SCP cancels it (SCHEDULED), or is its performer (an internal worker)
                t = states.transition("cancel")
                await conn.execute(update(J).where(col(J.id) == job.id, col(J.state).in_(t.source_values)).values(
                    state=t.target, reason=reason or "cancel requested through UPS-RS", lease_owner="",
                    lease_expires_at=None, finished_at=utcnow(), updated_at=utcnow(), revision=J.revision + 1))
    workitem_events.publish(ctx)
    if job_changed:
        jobs.notify(ctx)
        await jw.reconcile(ctx)
    return text


# -- search -----------------------------------------------------------------------------------------


async def search(ctx: AppContext, p: Principal, params: list[tuple[str, str]], base: str = "") -> list[dict]:
    query = parse_workitem_query(params)
    found: list[dict[str, Any]] = []
    async with ctx.engine.connect() as conn:
        stmt = select(W).where(workitem_visible(p))
        if query.patient_id is not None and "*" not in query.patient_id and "?" not in query.patient_id:
            stmt = stmt.where(col(W.patient_id) == query.patient_id)
        if query.states:
            stmt = stmt.where(col(W.state).in_(query.states))
        if query.start_from:
            stmt = stmt.where(col(W.start_datetime) >= query.start_from)
        if query.start_to:
            stmt = stmt.where(col(W.start_datetime) <= query.start_to)
        for row in (await conn.execute(stmt)).all():
            ds = without_lock(Workitem.model_validate(dict(row._mapping)).dataset)
            if matches(ds, query):
                found.append(ds)
        jstmt = select(J).where(col(J.state).in_(list(jw.UPS_STATE)), jobs.job_visible(p))
        if query.patient_id is not None and "*" not in query.patient_id and "?" not in query.patient_id:
            jstmt = jstmt.where(col(J.patient_id) == query.patient_id)
        if query.states:
            jstmt = jstmt.where(jw.ups_state_sql().in_(query.states))
        for row in (await conn.execute(jstmt)).all():
            ds = await jw.dataset(conn, AnalysisJob.model_validate(dict(row._mapping)), base)
            if matches(ds, query):
                found.append(ds)
        for ds in await rw.search(conn, p, query.patient_id, list(query.states) if query.states else None, base):
            if matches(ds, query):
                found.append(ds)
    found.sort(key=lambda ds: (searchable(ds)["start_datetime"], _first(ds, TAG_SOP)))
    return [project(ds, query) for ds in found[query.offset:query.offset + query.limit]]


# -- subscriptions ----------------------------------------------------------------------------------


def _ae(ae_title: str) -> str:
    ae = ae_title.strip()
    if not ae or len(ae) > 16 or "\\" in ae or any(ord(c) < 32 for c in ae):
        raise BadRequest(f"AE title {ae_title[:40]!r}: 1 to 16 characters, no backslash or control characters")
    return ae


async def subscribe(ctx: AppContext, p: Principal, uid: str, ae_title: str, params: list[tuple[str, str]]) -> None:
    """Subscribe (PS3.18 §11.10): one workitem, all (global), or those matching a filter."""
    ae = _ae(ae_title)
    lock_values = [v for k, v in params if k == "deletionlock"]
    deletion_lock = bool(lock_values) and lock_values[-1].strip().lower() == "true"
    if lock_values and lock_values[-1].strip().lower() not in ("true", "false"):
        raise BadRequest(f"deletionlock: {lock_values[-1][:40]!r} is not true or false")
    filter_params = [(k, v) for k, v in params if k != "deletionlock"]
    kind, target, flt = "workitem", uid, {}
    if uid == GLOBAL_UID:
        if filter_params:
            raise BadRequest(f"a global subscription takes no filter (use {FILTERED_UID})")
        kind, target = "global", ""
    elif uid == FILTERED_UID:
        if not filter_params:
            raise BadRequest("a filtered subscription needs a filter (query parameters of a workitem search)")
        parse_workitem_query(filter_params)  # 400 naming a parameter it cannot take
        kind, target, flt = "filtered", "", {"params": filter_params}
    else:
        _check_uid(uid)
        async with ctx.engine.connect() as conn:
            found = await _find(conn, p, uid)
        if found.state.final:
            raise UpsConflict(f"C300: the workitem is {found.state.value}; it has nothing left to report",
                              found.state.value)
    async with ctx.write() as conn:
        await conn.execute(delete(SUB).where(col(SUB.ae_title) == ae, col(SUB.kind) == kind,
                                             col(SUB.workitem_uid) == target))
        await conn.execute(insert(SUB).values(ae_title=ae, kind=kind, workitem_uid=target,
                                              institution_id=p.institution_id, deletion_lock=deletion_lock,
                                              suspended=False, filter=flt, filter_text=orjson.dumps(flt).decode(),
                                              created_at=utcnow()))


async def unsubscribe(ctx: AppContext, p: Principal, uid: str, ae_title: str) -> None:
    ae = _ae(ae_title)
    async with ctx.write() as conn:
        if uid in (GLOBAL_UID, FILTERED_UID):
            # Unsubscribing globally ends every subscription of the AE (PS3.4 CC.2.3.2).
            kinds = ["global", "filtered", "workitem"] if uid == GLOBAL_UID else ["filtered"]
            stmt = delete(SUB).where(col(SUB.ae_title) == ae, col(SUB.kind).in_(kinds))
        else:
            _check_uid(uid)
            await _find(conn, p, uid)
            stmt = delete(SUB).where(col(SUB.ae_title) == ae, col(SUB.kind) == "workitem",
                                     col(SUB.workitem_uid) == uid)
        if not p.is_admin:
            stmt = stmt.where(col(SUB.institution_id) == p.institution_id)
        await conn.execute(stmt)


async def suspend(ctx: AppContext, p: Principal, uid: str, ae_title: str) -> None:
    """Suspend a global (or filtered) subscription: workitems already subscribed keep reporting,
    new ones are not added (PS3.18 §11.11)."""
    ae = _ae(ae_title)
    if uid not in (GLOBAL_UID, FILTERED_UID):
        raise BadRequest(f"only a global ({GLOBAL_UID}) or filtered ({FILTERED_UID}) subscription can be suspended")
    kind = "global" if uid == GLOBAL_UID else "filtered"
    async with ctx.write() as conn:
        subs = [WorkitemSubscription.model_validate(dict(r._mapping)) for r in (await conn.execute(
            select(SUB).where(col(SUB.ae_title) == ae, col(SUB.kind) == kind, col(SUB.suspended).is_(False)))).all()]
        if not subs:
            raise NotFound(f"AE {ae} has no {kind} subscription")
        # What the subscription covers now stays subscribed, one workitem at a time.
        seen: dict[str, dict[str, Any]] = {}
        for r in (await conn.execute(select(WorkitemEvent.workitem_uid, WorkitemEvent.snapshot)
                                     .where(workitem_events.event_visible(p))
                                     .order_by(col(WorkitemEvent.seq)))).all():
            seen[r[0]] = r[1]
        for sub in subs:
            query = parse_workitem_query(sub.filter.get("params", [])) if kind == "filtered" else None
            for wuid, snap in seen.items():
                if query is None or matches(snap, query):
                    await conn.execute(delete(SUB).where(col(SUB.ae_title) == ae, col(SUB.kind) == "workitem",
                                                         col(SUB.workitem_uid) == wuid))
                    await conn.execute(insert(SUB).values(
                        ae_title=ae, kind="workitem", workitem_uid=wuid, institution_id=sub.institution_id,
                        deletion_lock=sub.deletion_lock, suspended=False, filter={}, filter_text="",
                        created_at=utcnow()))
        await conn.execute(update(SUB).where(col(SUB.id).in_([s.id for s in subs])).values(suspended=True))


# -- retention and deletion locks (PS3.4 CC.2.3.1) -------------------------------------------------


def _locked(row: Workitem, locks: list[WorkitemSubscription]) -> bool:
    """Whether a subscription with a deletion lock covers the workitem: its own, or a global or
    filtered one of the workitem's institution (what that subscriber's events cover)."""
    for sub in locks:
        if sub.kind == "workitem":
            if sub.workitem_uid == row.sop_instance_uid:
                return True
        elif sub.institution_id == row.institution_id and (
                sub.kind == "global" or matches(row.dataset, parse_workitem_query(sub.filter.get("params", [])))):
            return True
    return False


async def purge_final(ctx: AppContext, now: datetime | None = None) -> int:
    """Delete the final workitems older than the retention that no deletion lock holds; how many."""
    days = ctx.settings.ups_retention_days
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    async with ctx.write() as conn:
        rows = [Workitem.model_validate(dict(r._mapping)) for r in (await conn.execute(select(W).where(
            col(W.state).in_([State.COMPLETED.value, State.CANCELED.value]), col(W.updated_at) < cutoff))).all()]
        if not rows:
            return 0
        locks = [WorkitemSubscription.model_validate(dict(r._mapping)) for r in (await conn.execute(
            select(SUB).where(col(SUB.deletion_lock).is_(True)))).all()]
        doomed = [row.sop_instance_uid for row in rows if not _locked(row, locks)]
        if doomed:
            await conn.execute(delete(W).where(col(W.sop_instance_uid).in_(doomed)))
            await conn.execute(delete(SUB).where(col(SUB.kind) == "workitem", col(SUB.workitem_uid).in_(doomed)))
    return len(doomed)


@contextlib.asynccontextmanager
async def running_purge(ctx: AppContext, interval: float = 300.0) -> AsyncIterator[None]:
    """Purge expired workitems every ``interval`` seconds while the block runs (when a retention is set)."""

    async def loop() -> None:
        while True:
            try:
                await purge_final(ctx)
            except Exception:
                log.warning("purging expired workitems failed", exc_info=True)
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop(), name="workitem-purge") if ctx.settings.ups_retention_days > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# -- delivery ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interest:
    workitems: frozenset[str]
    everything: bool
    filters: tuple[WorkitemQuery, ...]
    subscribed: bool = False  # any subscription at all

    def wants(self, event: WorkitemEvent) -> bool:
        if event.event_type == ev.SCP_STATUS_CHANGE:  # to every subscriber (PS3.4 CC.2.4.2)
            return self.subscribed
        if self.everything or event.workitem_uid in self.workitems:
            return True
        return any(matches(event.snapshot, q) for q in self.filters)


async def interest_of(ctx: AppContext, ae_title: str) -> Interest:
    async with ctx.sessions() as s:
        rows = list((await s.exec(model_select(SUB).where(col(SUB.ae_title) == ae_title))).all())
    return Interest(
        workitems=frozenset(r.workitem_uid for r in rows if r.kind == "workitem"),
        everything=any(r.kind == "global" and not r.suspended for r in rows),
        filters=tuple(parse_workitem_query(r.filter.get("params", [])) for r in rows
                      if r.kind == "filtered" and not r.suspended),
        subscribed=bool(rows),
    )


async def pending_events(ctx: AppContext, p: Principal, ae_title: str, since: int) -> tuple[int, list[dict]]:
    """Event reports after ``since`` that ``ae_title`` subscribed to (and ``p`` may see): (new cursor, reports)."""
    interest = await interest_of(ctx, ae_title)
    found = await workitem_events.events_after(ctx, p, since)
    cursor = since
    out = []
    for event in found:
        cursor = max(cursor, event.seq or 0)
        if interest.wants(event):
            out.append(ev.with_sequence(event.report, event.seq or 0))
    return cursor, out
