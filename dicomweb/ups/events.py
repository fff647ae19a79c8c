"""UPS event reports (PS3.4 CC.2.4, Table CC.2.4-1; PS3.18 §11.12) as DICOM JSON.

An event report names the workitem (Affected SOP Instance UID), the UPS Event SOP Class and
its Event Type ID; the event information follows (Table CC.2.4-2). Cirrus adds the event's
sequence number in a private block (creator ``CIRRUS UPS``, element (0009,xx01), UL), so a client
that reconnects to ``/subscribers/{AETitle}?since=N`` gets exactly what it missed.
"""

from __future__ import annotations

from typing import Any

from dicomweb.ups.states import State

__all__ = ["ASSIGNED", "CANCEL_REQUESTED", "PRIVATE_CREATOR", "SEQUENCE_TAG", "STATE_REPORT", "UPS_EVENT_SOP_CLASS",
           "assigned", "cancel_requested", "sequence_of", "state_report", "with_sequence"]

UPS_EVENT_SOP_CLASS = "1.2.840.10008.5.1.4.34.6.4"
STATE_REPORT, CANCEL_REQUESTED, PROGRESS_REPORT, SCP_STATUS_CHANGE, ASSIGNED = 1, 2, 3, 4, 5
PRIVATE_CREATOR = "CIRRUS UPS"
CREATOR_TAG, SEQUENCE_TAG = "00090010", "00091001"


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


def with_sequence(report: dict[str, Any], seq: int) -> dict[str, Any]:
    return {**report, CREATOR_TAG: {"vr": "LO", "Value": [PRIVATE_CREATOR]}, SEQUENCE_TAG: {"vr": "UL", "Value": [seq]}}


def sequence_of(report: dict[str, Any]) -> int | None:
    element = report.get(SEQUENCE_TAG)
    if isinstance(element, dict) and element.get("Value"):
        return int(element["Value"][0])
    return None
