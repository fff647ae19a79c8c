"""Workitem search expressions and matching (pure)."""

from __future__ import annotations

import pytest

from dicomweb.errors import InvalidQuery
from dicomweb.ups.events import sequence_of, state_report, with_sequence
from dicomweb.ups.query import dt_key, matches, parse_workitem_query, project, searchable
from dicomweb.ups.states import State


def _ds(pid: str = "P1", start: str = "20260301093000.5", state: str = "SCHEDULED", acc: str = "A7") -> dict:
    return {
        "00080018": {"vr": "UI", "Value": ["1.2.3"]},
        "00100020": {"vr": "LO", "Value": [pid]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
        "00404005": {"vr": "DT", "Value": [start]},
        "00741000": {"vr": "CS", "Value": [state]},
        "00400400": {"vr": "LT", "Value": ["note"]},
        "0040A370": {"vr": "SQ", "Value": [{"0020000D": {"vr": "UI", "Value": ["9.8"]},
                                            "00080050": {"vr": "SH", "Value": [acc]}}]},
        "00404018": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["CIRRUS-ASL"]}}]},
    }


def test_dt_keys_pad_to_the_precision_given() -> None:
    assert dt_key("2026") == "20260101000000"
    assert dt_key("2026", end=True) == "20261231235959"
    assert dt_key("202603011230", end=True) == "20260301123059"
    assert dt_key("20260301093000.5+0100") == "20260301093000"


@pytest.mark.parametrize("params,expected", [
    ({"PatientID": "P1"}, True), ({"PatientID": "P2"}, False), ({"PatientID": "P*"}, True),
    ({"PatientName": "doe*"}, True), ({"PatientName": "SMITH*"}, False),
    ({"AccessionNumber": "A7"}, True), ({"ReferencedRequestSequence.AccessionNumber": "A8"}, False),
    ({"ScheduledProcedureStepStartDateTime": "20260301"}, True),
    ({"ScheduledProcedureStepStartDateTime": "20260302-"}, False),
    ({"ScheduledProcedureStepStartDateTime": "-202603010929"}, False),
    ({"ScheduledProcedureStepStartDateTime": "202603010930-202603010930"}, True),
    ({"ProcedureStepState": "scheduled"}, True), ({"ProcedureStepState": "IN PROGRESS,COMPLETED"}, False),
    ({"SOPInstanceUID": "1.2.3,1.2.4"}, True), ({"ScheduledWorkitemCodeSequence.CodeValue": "CIRRUS-DCE"}, False),
    ({"PatientID": ""}, True),
])
def test_matching(params: dict, expected: bool) -> None:
    assert matches(_ds(), parse_workitem_query(params)) is expected


@pytest.mark.parametrize("params,named", [
    ({"limit": "0"}, "limit"), ({"offset": "-1"}, "offset"), ({"Modality": "MR"}, "Modality"),
    ({"Bogus": "x"}, "Bogus"), ({"ScheduledProcedureStepStartDateTime": "2026-01-02-03"}, "range"),
    ({"ScheduledProcedureStepStartDateTime": "20260302-20260301"}, "ends before"),
    ({"ScheduledProcedureStepStartDateTime": "2026x"}, "DT"), ({"ProcedureStepState": "DONE"}, "DONE"),
    ({"SOPInstanceUID": "1.02"}, "SOPInstanceUID"), ({"includefield": "NoSuchThing"}, "NoSuchThing"),
    ({"InputInformationSequence.SeriesInstanceUID": "1.2"}, "sequence matching"),
])
def test_bad_queries_name_the_parameter(params: dict, named: str) -> None:
    with pytest.raises(InvalidQuery, match=named):
        parse_workitem_query(params)


def test_projection_and_searchable_values() -> None:
    q = parse_workitem_query({"PatientID": "P1"})
    assert "00400400" not in project(_ds(), q) and "00100020" in project(_ds(), q)
    assert "00400400" in project(_ds(), parse_workitem_query({"includefield": "CommentsOnTheScheduledProcedureStep"}))
    assert project(_ds(), parse_workitem_query({"includefield": "all"})) == _ds()
    assert searchable(_ds()) == {"patient_id": "P1", "accession_number": "A7", "study_instance_uid": "9.8",
                                 "start_datetime": "20260301093000", "state": "SCHEDULED"}


def test_event_reports_carry_their_sequence_number() -> None:
    report = state_report("1.2.3", State.CANCELED, reason="gone")
    assert report["00001002"]["Value"] == [1] and report["00741000"]["Value"] == ["CANCELED"]
    assert report["00741238"]["Value"] == ["gone"]
    numbered = with_sequence(report, 42)
    assert sequence_of(numbered) == 42 and numbered["00090010"]["Value"] == ["CIRRUS UPS"]
    assert sequence_of(report) is None
