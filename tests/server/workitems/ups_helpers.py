"""Workitem bodies and requests shared by the UPS-RS tests."""

from __future__ import annotations

from typing import Any

import pydicom

UPS = "/dicom-web/workitems"
JSON_TYPE = {"content-type": "application/dicom+json"}


def workitem(patient_id: str = "PID-1", start: str = "20260301090000", accession: str = "ACC1",
             study_uid: str = "", **drop: bool) -> dict[str, Any]:
    """A minimal valid workitem (Type 1 create attributes of PS3.4 Table CC.2.5-3 present)."""
    ds: dict[str, Any] = {
        "00741200": {"vr": "CS", "Value": ["MEDIUM"]},  # ScheduledProcedureStepPriority
        "00741204": {"vr": "LO", "Value": ["Perfusion read"]},  # ProcedureStepLabel
        "00404005": {"vr": "DT", "Value": [start]},  # ScheduledProcedureStepStartDateTime
        "00404041": {"vr": "CS", "Value": ["READY"]},  # InputReadinessState
        "00741000": {"vr": "CS", "Value": ["SCHEDULED"]},  # ProcedureStepState
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Ups^Patient"}]},
        "00100020": {"vr": "LO", "Value": [patient_id]},
        "0040A370": {"vr": "SQ", "Value": [{"0020000D": {"vr": "UI", "Value": [study_uid or
                                                                               pydicom.uid.generate_uid()]},
                                            "00080050": {"vr": "SH", "Value": [accession]}}]},
    }
    names = {"ProcedureStepLabel": "00741204", "ScheduledProcedureStepPriority": "00741200",
             "ScheduledProcedureStepStartDateTime": "00404005", "InputReadinessState": "00404041",
             "ProcedureStepState": "00741000"}
    for keyword, flag in drop.items():
        if flag:
            ds.pop(names[keyword])
    return ds


def state_body(state: str, transaction_uid: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"00741000": {"vr": "CS", "Value": [state]}}
    if transaction_uid:
        body["00081195"] = {"vr": "UI", "Value": [transaction_uid]}
    return body


def performed(output_series: str = "", study_uid: str = "") -> dict[str, Any]:
    """An update that fills the Final State requirements of COMPLETED."""
    outputs = []
    if output_series:
        outputs = [{"0040E020": {"vr": "CS", "Value": ["DICOM"]},
                    "0020000D": {"vr": "UI", "Value": [study_uid]},
                    "0020000E": {"vr": "UI", "Value": [output_series]},
                    "00081199": {"vr": "SQ", "Value": []},
                    "0040E025": {"vr": "SQ", "Value": [{"00081190": {"vr": "UR", "Value": ["http://x/y"]}}]}}]
    return {"00741216": {"vr": "SQ", "Value": [{
        "00404028": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["ST1"]},
                                            "00080102": {"vr": "SH", "Value": ["99X"]},
                                            "00080104": {"vr": "LO", "Value": ["Station 1"]}}]},
        "00404050": {"vr": "DT", "Value": ["20260301090500"]},
        "00404051": {"vr": "DT", "Value": ["20260301091000"]},
        "00404019": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["W1"]},
                                            "00080102": {"vr": "SH", "Value": ["99X"]},
                                            "00080104": {"vr": "LO", "Value": ["Work"]}}]},
        "00404033": {"vr": "SQ", "Value": outputs},
    }]}}


def first(ds: dict[str, Any], tag: str) -> Any:
    values = ds.get(tag, {}).get("Value") or [None]
    return values[0]
