"""UPS over DIMSE translated to the UPS-RS vocabulary (``dicomweb.ups.dimse``) and the new event
reports (``dicomweb.ups.events``): identifiers, responses, actions, statuses, Table CC.2.4-2 content."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from dicomweb.ups import dimse as tr
from dicomweb.ups import events as ev
from dicomweb.ups.query import parse_workitem_query


def _identifier() -> dict:  # type: ignore[type-arg]
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientID = "P1"
    ds.PatientName = ""
    ds.ProcedureStepState = "SCHEDULED\\IN PROGRESS"
    ds.ScheduledProcedureStepStartDateTime = "20260301-20260302"
    request = Dataset()
    request.AccessionNumber = "A7"
    ds.ReferencedRequestSequence = [request]
    code = Dataset()
    code.CodeValue = ""
    ds.ScheduledWorkitemCodeSequence = [code]
    return ds.to_json_dict()


def test_find_params_are_the_ups_rs_search() -> None:
    params = tr.find_params(_identifier())
    assert params == [("PatientID", "P1"), ("ProcedureStepState", "SCHEDULED\\IN PROGRESS"),
                      ("ScheduledProcedureStepStartDateTime", "20260301-20260302"), ("AccessionNumber", "A7"),
                      ("includefield", "PatientName,ScheduledWorkitemCodeSequence"), ("limit", "1000")]
    query = parse_workitem_query(params)  # the UPS-RS parser takes it as it is
    assert query.states == ("SCHEDULED", "IN PROGRESS") and query.accession_number == "A7"
    assert query.start_from == "20260301000000" and query.start_to == "20260302235959"


def test_find_response_has_exactly_the_requested_keys() -> None:
    workitem = {"00100020": {"vr": "LO", "Value": ["P1"]}, "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Å^B"}]},
                "00741000": {"vr": "CS", "Value": ["SCHEDULED"]}, "00741204": {"vr": "LO", "Value": ["not asked"]}}
    identifier = {"00100020": {"vr": "LO", "Value": ["P1"]}, "00100010": {"vr": "PN"},
                  "00404005": {"vr": "DT"}, "00080005": {"vr": "CS", "Value": ["ISO_IR 100"]}}
    assert tr.find_response(workitem, identifier) == {
        "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
        "00100020": {"vr": "LO", "Value": ["P1"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Å^B"}]},
        "00404005": {"vr": "DT"},
    }


def test_select_attributes_and_subscription_params() -> None:
    workitem = {"00100020": {"vr": "LO", "Value": ["P1"]}, "00741000": {"vr": "CS", "Value": ["SCHEDULED"]}}
    assert tr.select_attributes(workitem, [0x00741000, 0x00081195]) == {"00741000": workitem["00741000"]}
    assert tr.select_attributes(workitem, []) == workitem
    info = Dataset()
    info.ReceivingAE = "WATCHER "
    info.DeletionLock = "TRUE"
    info.PatientID = "P9"
    assert tr.subscription_params(info.to_json_dict()) == ("WATCHER", [("deletionlock", "true"), ("PatientID", "P9")])


@pytest.mark.parametrize(("message", "code"), [
    ("C301: The correct Transaction UID was not provided (the workitem is IN PROGRESS)", 0xC301),
    ("B304: already canceled", 0xB304), ("0000: Success", 0), ("PatientID: missing", 0x0120)])
def test_status_of(message: str, code: int) -> None:
    assert tr.status_of(message, 0x0120) == code


def test_actions() -> None:
    assert [tr.action_of(n) for n in (1, 2, 3, 4, 5, 6)] == [
        tr.Action.CHANGE_STATE, tr.Action.REQUEST_CANCEL, tr.Action.SUBSCRIBE, tr.Action.UNSUBSCRIBE,
        tr.Action.SUSPEND_GLOBAL, None]


def test_progress_and_status_change_reports() -> None:
    item = {"00741004": {"vr": "DS", "Value": [40]}, "00741006": {"vr": "ST", "Value": ["fitting"]},
            "00404052": {"vr": "DT", "Value": ["20260101"]}}  # not a progress attribute: left out
    report = ev.progress_report("1.2.3", item)
    assert report["00001002"] == {"vr": "US", "Value": [3]}
    assert report["00741002"] == {"vr": "SQ", "Value": [{k: item[k] for k in ("00741004", "00741006")}]}
    assert ev.progress_changed({}, item) and not ev.progress_changed(item, {**item, "00404052": {"vr": "DT"}})
    up = ev.scp_status_change("RESTARTED", "WARM START", "COLD START")
    assert (up["00001000"]["Value"], up["00741242"]["Value"], up["00741244"]["Value"], up["00741246"]["Value"]) == (
        ["1.2.840.10008.5.1.4.34.5"], ["RESTARTED"], ["WARM START"], ["COLD START"])
    assert "00741244" not in ev.scp_status_change("GOING DOWN")
    with pytest.raises(ValueError):
        ev.scp_status_change("ASLEEP")
