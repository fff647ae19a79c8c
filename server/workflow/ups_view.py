"""What the analysis jobs' and the reading requests' workitem views share (PS3.4 Annex CC).

Both are views of a row that has its own state (``analysis_job``, ``reading_request``); each maps that
state to a Procedure Step State and builds the workitem's DICOM JSON with these helpers, and both report
a change with :func:`record_steps`: the State Reports that lead a subscriber from the last reported state
to the current one (Table CC.1.1-2), an Assigned event when a performer took the step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from dicomweb.ups import events as ev
from dicomweb.ups.states import State
from server.db.database import aware
from server.workflow import workitem_events

CODING_SCHEME = "99CIRRUS"


def dt(value: datetime | None) -> str:
    return aware(value).strftime("%Y%m%d%H%M%S") if value else ""


def element(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values and values != ("",) else {"vr": vr}


def person(name: str) -> dict[str, Any]:
    return {"vr": "PN", "Value": [{"Alphabetic": name}]} if name else {"vr": "PN"}


def code_item(value: str, meaning: str) -> dict[str, Any]:
    return {"00080100": element("SH", value), "00080102": element("SH", CODING_SCHEME),
            "00080104": element("LO", meaning[:64])}


def series_ref(study_uid: str, series_uid: str, sops: list[tuple[str, str]], base: str) -> dict[str, Any]:
    """An Input/Output Information item: the series, its instances, and where to retrieve it."""
    return {
        "0040E020": element("CS", "DICOM"),  # TypeOfInstances
        "0020000D": element("UI", study_uid),
        "0020000E": element("UI", series_uid),
        "00081199": {"vr": "SQ", "Value": [{"00081150": element("UI", c), "00081155": element("UI", s)}
                                           for c, s in sops]},
        "0040E025": {"vr": "SQ", "Value": [{  # WADORSRetrievalSequence
            "00081190": element("UR", f"{base}/dicom-web/studies/{study_uid}/series/{series_uid}")}]},
    }


def performed(performer: str, started: datetime | None, work_code: dict[str, Any]) -> dict[str, Any]:
    """The Unified Procedure Step Performed Procedure Sequence item (without its end and output)."""
    return {
        "00404028": {"vr": "SQ", "Value": [code_item("CIRRUS", performer)]},  # ActualHumanPerformers / station
        "00404050": element("DT", dt(started)),  # PerformedProcedureStepStartDateTime
        "00404019": {"vr": "SQ", "Value": [work_code]},  # PerformedWorkitemCodeSequence
    }


def report_path(reported: str, current: State) -> list[State]:
    """The State Reports that lead a subscriber from ``reported`` to ``current`` (Table CC.1.1-2)."""
    if not reported:
        return [State.SCHEDULED, *report_path(State.SCHEDULED.value, current)]
    last = State(reported)
    if last is current:
        return []
    if current is State.SCHEDULED:
        return [State.SCHEDULED]  # given back (a lost lease, a released lock)
    if last is State.SCHEDULED and current.final:
        return [State.IN_PROGRESS, current]
    return [current]


async def record_steps(conn: AsyncConnection, *, uid: str, institution_id: int, study_uid: str,
                       steps: list[State], readiness: str, reason: str | None, performer: str | None,
                       snapshot: dict[str, Any]) -> int:
    """Record the State Reports of ``steps`` (and Assigned after IN PROGRESS when a ``performer`` took it)."""
    count = 0
    for step in steps:
        await workitem_events.record(
            conn, workitem_uid=uid, institution_id=institution_id, study_uid=study_uid, event_type=ev.STATE_REPORT,
            report=ev.state_report(uid, step, readiness, reason if step is State.CANCELED else None),
            snapshot=snapshot)
        count += 1
        if step is State.IN_PROGRESS and performer:
            await workitem_events.record(
                conn, workitem_uid=uid, institution_id=institution_id, study_uid=study_uid,
                event_type=ev.ASSIGNED, report=ev.assigned(uid, performer), snapshot=snapshot)
            count += 1
    return count
