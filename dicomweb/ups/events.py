"""UPS event reports (PS3.4 CC.2.4, Table CC.2.4-1; PS3.18 §11.12) as DICOM JSON.

An event report names the workitem (Affected SOP Instance UID), the UPS Event SOP Class and
its Event Type ID; the event information follows (Table CC.2.4-2). Cirrus adds the event's
sequence number in a private block (creator ``CIRRUS UPS``, element (0009,xx01), UL), so a client
that reconnects to ``/subscribers/{AETitle}?since=N`` gets exactly what it missed.
"""

from __future__ import annotations

from typing import Any

from dicomweb.ups.states import State

__all__ = ["ASSIGNED", "CANCEL_REQUESTED", "GLOBAL_INSTANCE", "PRIVATE_CREATOR", "PROGRESS_REPORT", "SCP_STATUS_CHANGE",
           "SEQUENCE_TAG", "STATE_REPORT", "UPS_EVENT_SOP_CLASS", "assigned", "cancel_requested", "progress_report",
           "progress_changed", "scp_status_change", "sequence_of", "state_report", "with_sequence"]

UPS_EVENT_SOP_CLASS = "1.2.840.10008.5.1.4.34.6.4"
STATE_REPORT, CANCEL_REQUESTED, PROGRESS_REPORT, SCP_STATUS_CHANGE, ASSIGNED = 1, 2, 3, 4, 5
PRIVATE_CREATOR = "CIRRUS UPS"
CREATOR_TAG, SEQUENCE_TAG = "00090010", "00091001"
# The well-known UPS instance (PS3.4 CC.3.1): the Affected SOP Instance of an SCP Status Change.
GLOBAL_INSTANCE = "1.2.840.10008.5.1.4.34.5"
# Procedure Step Progress Information Sequence items carried by a Progress Report (Table CC.2.4-2 / CC.2.5-3):
# Procedure Step Progress, Progress Description, Communications URI Sequence, Contact Display Name, Contact URI.
PROGRESS_KEYS = ("00741004", "00741006", "00741008", "0074100C", "0074100A")
SCP_STATUSES = ("GOING DOWN", "RESTARTED")
LIST_STATUSES = ("WARM START", "COLD START")


def _base(workitem_uid: str, event_type: int) -> dict[str, Any]:
    return {
        "00000002": {"vr": "UI", "Value": [UPS_EVENT_SOP_CLASS]},  # AffectedSOPClassUID
        "00001000": {"vr": "UI", "Value": [workitem_uid]},  # AffectedSOPInstanceUID
        "00001002": {"vr": "US", "Value": [event_type]},  # EventTypeID
    }


def state_report(workitem_uid: str, state: State, input_readiness: str = "READY",
                 reason: str | None = None) -> dict[str, Any]:
    """UPS State Report (Event Type ID 1): Procedure Step State and Input Readiness State."""
    out = _base(workitem_uid, STATE_REPORT)
    out["00741000"] = {"vr": "CS", "Value": [state.value]}  # ProcedureStepState
    out["00404041"] = {"vr": "CS", "Value": [input_readiness]}  # InputReadinessState
    if reason:
        out["00741238"] = {"vr": "LT", "Value": [reason]}  # ReasonForCancellation
    return out


def cancel_requested(workitem_uid: str, reason: str | None = None, requesting_ae: str | None = None,
                     contact: str | None = None) -> dict[str, Any]:
    """UPS Cancel Requested (Event Type ID 2)."""
    out = _base(workitem_uid, CANCEL_REQUESTED)
    if reason:
        out["00741238"] = {"vr": "LT", "Value": [reason]}
    if requesting_ae:
        out["00741236"] = {"vr": "AE", "Value": [requesting_ae]}  # RequestingAE
    if contact:
        out["0074100C"] = {"vr": "LO", "Value": [contact]}  # ContactDisplayName
    return out


def assigned(workitem_uid: str, performer: str) -> dict[str, Any]:
    """UPS Assigned (Event Type ID 5): the workitem was claimed by ``performer``."""
    out = _base(workitem_uid, ASSIGNED)
    out["00404034"] = {"vr": "SQ", "Value": [{  # ScheduledHumanPerformersSequence
        "00404036": {"vr": "LO", "Value": [performer]},  # HumanPerformerOrganization
    }]}
    return out


def progress_report(workitem_uid: str, progress: dict[str, Any]) -> dict[str, Any]:
    """UPS Progress Report (Event Type ID 3): the Procedure Step Progress Information Sequence with
    the progress attributes the performer set (PS3.4 Table CC.2.4-2)."""
    out = _base(workitem_uid, PROGRESS_REPORT)
    item = {k: progress[k] for k in PROGRESS_KEYS if k in progress}
    out["00741002"] = {"vr": "SQ", "Value": [item]}  # ProcedureStepProgressInformationSequence
    return out


def progress_changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether a performer's change of the Progress Information is worth a Progress Report."""
    return {k: before.get(k) for k in PROGRESS_KEYS} != {k: after.get(k) for k in PROGRESS_KEYS}


def scp_status_change(status: str, subscriptions: str = "WARM START", workitems: str = "WARM START") -> dict[str, Any]:
    """SCP Status Change (Event Type ID 4, PS3.4 CC.2.4.2): the SCP is ``GOING DOWN`` or ``RESTARTED``;
    whether it kept its subscription list and its workitems (``WARM START``) or lost them (``COLD START``)."""
    if status not in SCP_STATUSES:
        raise ValueError(f"SCP Status {status!r} is not one of {', '.join(SCP_STATUSES)}")
    for value in (subscriptions, workitems):
        if value not in LIST_STATUSES:
            raise ValueError(f"list status {value!r} is not one of {', '.join(LIST_STATUSES)}")
    out = _base(GLOBAL_INSTANCE, SCP_STATUS_CHANGE)
    out["00741242"] = {"vr": "CS", "Value": [status]}  # SCPStatus
    if status == "RESTARTED":
        out["00741244"] = {"vr": "CS", "Value": [subscriptions]}  # SubscriptionListStatus
        out["00741246"] = {"vr": "CS", "Value": [workitems]}  # UnifiedProcedureStepListStatus
    return out


def with_sequence(report: dict[str, Any], seq: int) -> dict[str, Any]:
    return {**report, CREATOR_TAG: {"vr": "LO", "Value": [PRIVATE_CREATOR]}, SEQUENCE_TAG: {"vr": "UL", "Value": [seq]}}


def sequence_of(report: dict[str, Any]) -> int | None:
    element = report.get(SEQUENCE_TAG)
    if isinstance(element, dict) and element.get("Value"):
        return int(element["Value"][0])
    return None
