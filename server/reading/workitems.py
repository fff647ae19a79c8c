"""Reading requests seen as UPS workitems (PS3.4 Annex CC): a view of the request, no state of its own.

The request's state table (``server.reading.states``) is the only authority. :data:`UPS_STATE` maps
each request state to a Procedure Step State (to report → SCHEDULED, sent back for material →
SCHEDULED with INCOMPLETE input, reporting / reported / in review / returned → IN PROGRESS, approved
→ COMPLETED, cancelled → CANCELED) and :func:`dataset` builds the workitem's DICOM JSON from the
request: the linked studies as input, the approved version's SR and PDF as output, the request's own
state as the progress description. External worklist clients search and retrieve it through
``/dicom-web/workitems``; they do not change it there (the reading workflow does, with its roles,
sides and lock), so UPS state changes and updates of a reading workitem are refused (409). An
approved report that is amended becomes a new procedure step under a new UID (a UPS never leaves
COMPLETED); the UID lives in ``reading_request.workitem_uid``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from dicomweb.ups import events as ev
from dicomweb.ups.states import State
from dicomweb.ups.workitem import UPS_PUSH_SOP_CLASS
from server.auth.principal import Principal
from server.db.archive import Instance, Series, Study
from server.db.reading import ReadingRequest, ReadingRequestStudy, ReportVersion
from server.db.workitems import WorkitemEvent
from server.reading import access
from server.reading.states import RequestState
from server.workflow import ups_view as uv
from server.workflow import workitem_events

R = ReadingRequest
S = RequestState
CODING_SCHEME = uv.CODING_SCHEME
WORK_CODE = ("CIRRUS-READ", "Diagnostic reading and report")

UPS_STATE: dict[str, State] = {
    S.TO_REPORT: State.SCHEDULED,
    S.SENT_BACK: State.SCHEDULED,
    S.REPORTING: State.IN_PROGRESS,
    S.REPORTED: State.IN_PROGRESS,
    S.IN_REVIEW: State.IN_PROGRESS,
    S.RETURNED: State.IN_PROGRESS,
    S.APPROVED: State.COMPLETED,
    S.CANCELLED: State.CANCELED,
}


def request_states_for(ups_states: list[str]) -> list[str]:
    """The request states shown as any of ``ups_states`` (a search's ProcedureStepState)."""
    return sorted(s.value for s, u in UPS_STATE.items() if u.value in ups_states)


_dt, _e, _pn, _series_ref = uv.dt, uv.element, uv.person, uv.series_ref


def _code() -> dict[str, Any]:
    return uv.code_item(*WORK_CODE)


def visible(p: Principal) -> Any:
    return access.request_visible(p)


async def find(conn: AsyncConnection, p: Principal, uid: str, lock: bool = False) -> ReadingRequest | None:
    stmt = select(R).where(col(R.workitem_uid) == uid, visible(p))
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    return ReadingRequest.model_validate(dict(row._mapping)) if row is not None else None


def state_of(req: ReadingRequest) -> State:
    return UPS_STATE[RequestState(req.state)]


async def _linked(conn: AsyncConnection, req: ReadingRequest) -> list[Study]:
    link = col(ReadingRequestStudy.study_id) == col(Study.id)
    rows = (await conn.execute(select(Study).join(ReadingRequestStudy, link)
                               .where(col(ReadingRequestStudy.request_id) == req.id)
                               .order_by(col(ReadingRequestStudy.id)))).all()
    return [Study.model_validate(dict(r._mapping)) for r in rows]


async def _inputs(conn: AsyncConnection, studies: list[Study], base: str) -> list[dict[str, Any]]:
    if not studies:
        return []
    stmt = (select(Study.study_instance_uid, Series.series_instance_uid, Instance.sop_class_uid,
                   Instance.sop_instance_uid)
            .join(Series, col(Series.study_id) == col(Study.id))
            .join(Instance, col(Instance.series_id) == col(Series.id))
            .where(col(Study.id).in_([s.id for s in studies]), col(Instance.state) == "created",
                   col(Series.modality).not_in(["SR", "DOC"]))
            .order_by(col(Series.id), col(Instance.id)))
    grouped: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for study_uid, series_uid, sop_class, sop in (await conn.execute(stmt)).all():
        grouped.setdefault((study_uid, series_uid), []).append((sop_class, sop))
    return [_series_ref(st, se, sops, base) for (st, se), sops in grouped.items()]


async def _outputs(conn: AsyncConnection, req: ReadingRequest, base: str) -> list[dict[str, Any]]:
    """The approved version's SR and Encapsulated PDF, as stored in the study."""
    version = (await conn.execute(select(ReportVersion.sr_sop_instance_uid, ReportVersion.pdf_sop_instance_uid)
                                  .where(col(ReportVersion.request_id) == req.id,
                                         col(ReportVersion.status) == "approved")
                                  .order_by(col(ReportVersion.number).desc()).limit(1))).first()
    uids = [u for u in (version or ()) if u]
    if not uids:
        return []
    stmt = (select(Study.study_instance_uid, Series.series_instance_uid, Instance.sop_class_uid,
                   Instance.sop_instance_uid)
            .join(Series, col(Instance.series_id) == col(Series.id)).join(Study, col(Series.study_id) == col(Study.id))
            .where(col(Instance.sop_instance_uid).in_(uids), col(Instance.state) == "created"))
    return [_series_ref(st, se, [(c, s)], base) for st, se, c, s in (await conn.execute(stmt)).all()]


async def dataset(conn: AsyncConnection, req: ReadingRequest, base: str = "") -> dict[str, Any]:
    """The request as a workitem (DICOM JSON, without a Transaction UID)."""
    state = state_of(req)
    studies = await _linked(conn, req)
    first = studies[0] if studies else None
    label = f"Reading request {req.number}" + (f": {req.examination}" if req.examination else "")
    out: dict[str, Any] = {
        "00080016": _e("UI", UPS_PUSH_SOP_CLASS),
        "00080018": _e("UI", req.workitem_uid),
        "00741200": _e("CS", "MEDIUM"),  # ScheduledProcedureStepPriority
        "00741204": _e("LO", label[:64]),  # ProcedureStepLabel
        "00741202": _e("LO", "Reading worklist"),  # WorklistLabel
        "00404005": _e("DT", _dt(req.created_at)),  # ScheduledProcedureStepStartDateTime
        "00404010": _e("DT", _dt(req.updated_at)),  # ScheduledProcedureStepModificationDateTime
        "00404018": {"vr": "SQ", "Value": [_code()]},  # ScheduledWorkitemCodeSequence
        "00404041": _e("CS", "INCOMPLETE" if req.state == S.SENT_BACK else "READY"),  # InputReadinessState
        "00404021": {"vr": "SQ", "Value": await _inputs(conn, studies, base)},  # InputInformationSequence
        "00100010": _pn(req.patient_name),
        "00100020": _e("LO", req.patient_id),
        "00100030": _e("DA", first.patient_birth_date if first else ""),
        "00100040": _e("CS", (req.patient_sex or (first.patient_sex if first else ""))[:16]),
        "0040A370": {"vr": "SQ", "Value": [{  # ReferencedRequestSequence
            "0020000D": _e("UI", s.study_instance_uid), "00080050": _e("SH", s.accession_number),
            "00401001": _e("SH", req.number[:16]),  # RequestedProcedureID
            "00321060": _e("LO", (req.examination or req.modality)[:64]),  # RequestedProcedureDescription
        } for s in studies]},
        "00741000": _e("CS", state.value),
    }
    if req.reporter_name:
        out["00404034"] = {"vr": "SQ", "Value": [{  # ScheduledHumanPerformersSequence
            "00404009": {"vr": "SQ", "Value": [{"00080100": _e("SH", "REPORTER"), "00080102": _e("SH", CODING_SCHEME),
                                                "00080104": _e("LO", "Reporting doctor")}]},
            "00404037": _pn(req.reporter_name)}]}
    # ProgressInformationSequence: the request's own state, for a client that wants the detail.
    progress: dict[str, Any] = {"00741006": _e("ST", f"reading request {req.state}")}
    if state is State.CANCELED:
        progress["00404052"] = _e("DT", _dt(req.updated_at))  # ProcedureStepCancellationDateTime
        if req.reason:
            progress["00741238"] = _e("LT", req.reason)  # ReasonForCancellation
    out["00741002"] = {"vr": "SQ", "Value": [progress]}
    if state in (State.IN_PROGRESS, State.COMPLETED):
        performed = uv.performed(req.reporter_name or "Reading doctor", req.created_at, _code())
        if state is State.COMPLETED:
            performed["00404051"] = _e("DT", _dt(req.approved_at or req.updated_at))
            performed["00404033"] = {"vr": "SQ", "Value": await _outputs(conn, req, base)}
        out["00741216"] = {"vr": "SQ", "Value": [performed]}
    return out


async def search(conn: AsyncConnection, p: Principal, patient_id: str | None, ups_states: list[str] | None,
                 base: str = "") -> list[dict[str, Any]]:
    """Candidate workitems for a UPS search (the caller applies the rest of the query to them)."""
    stmt = select(R).where(visible(p))
    if patient_id is not None and "*" not in patient_id and "?" not in patient_id:
        stmt = stmt.where(col(R.patient_id) == patient_id)
    if ups_states:
        stmt = stmt.where(col(R.state).in_(request_states_for(ups_states)))
    rows = (await conn.execute(stmt.order_by(col(R.id)))).all()
    return [await dataset(conn, ReadingRequest.model_validate(dict(r._mapping)), base) for r in rows]


# -- reporting every change to UPS subscribers ---------------------------------------------------------


def _readiness(req: ReadingRequest) -> str:
    return "INCOMPLETE" if req.state == S.SENT_BACK else "READY"


async def _study_uid(conn: AsyncConnection, req: ReadingRequest) -> str:
    studies = await _linked(conn, req)
    return studies[0].study_instance_uid if studies else ""


async def report_change(conn: AsyncConnection, req: ReadingRequest, before_state: str, before_uid: str) -> int:
    """Record, in the transaction that changed ``req``, the UPS events its change means (the events
    analysis jobs send): State Reports from the state shown before to the state shown now, Assigned when
    a doctor starts reporting, a Progress Report when the request moves inside IN PROGRESS (reported,
    in review, returned: the progress description names it). An amendment is a new procedure step under
    the new UID, reported from SCHEDULED; ``before_state`` "" is a new request."""
    current = state_of(req)
    if req.workitem_uid != before_uid or not before_state:
        reported = ""
    else:
        reported = UPS_STATE[RequestState(before_state)].value
    steps = uv.report_path(reported, current)
    if not steps and before_state == req.state:
        return 0
    snapshot = await dataset(conn, req)
    study_uid = await _study_uid(conn, req)
    where = {"uid": req.workitem_uid, "institution_id": req.reading_institution_id, "study_uid": study_uid}
    performer = (req.reporter_name or "Reading doctor") if current is not State.CANCELED else None
    count = await uv.record_steps(conn, **where, steps=steps, readiness=_readiness(req),
                                  reason=req.reason or None, performer=performer, snapshot=snapshot)
    if not steps and current is State.IN_PROGRESS:
        progress = snapshot["00741002"]["Value"][0]
        await workitem_events.record(conn, workitem_uid=req.workitem_uid, institution_id=req.reading_institution_id,
                                     study_uid=study_uid, event_type=ev.PROGRESS_REPORT,
                                     report=ev.progress_report(req.workitem_uid, progress), snapshot=snapshot)
        count += 1
    return count


async def past_step(conn: AsyncConnection, p: Principal, uid: str) -> dict[str, Any] | None:
    """A procedure step a request had before an amendment gave it a new UID: its last reported dataset
    (COMPLETED, with the approved SR and PDF as output), kept in the event log."""
    row = (await conn.execute(select(WorkitemEvent.snapshot).where(
        col(WorkitemEvent.workitem_uid) == uid, col(WorkitemEvent.event_type) == ev.STATE_REPORT,
        workitem_events.event_visible(p)).order_by(col(WorkitemEvent.seq).desc()).limit(1))).first()
    if row is None or not row[0]:
        return None
    codes = (row[0].get("00404018") or {}).get("Value") or [{}]
    is_reading = ((codes[0].get("00080100") or {}).get("Value") or [""])[0] == WORK_CODE[0]
    return dict(row[0]) if is_reading else None  # other workitems' events outlive a purge: not a step
