"""Workitem creation requirements and Final State checks (PS3.4 Table CC.2.5-3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomweb.ups.states import State
from dicomweb.ups.workitem import check_create, final_state_problems, prepare_cancel, without_lock


def code(value: str, scheme: str, meaning: str) -> Dataset:
    ds = Dataset()
    ds.CodeValue, ds.CodingSchemeDesignator, ds.CodeMeaning = value, scheme, meaning
    return ds


def minimal() -> dict[str, Any]:
    """The Type 1 attributes only (Type 2 ones are filled in by check_create)."""
    ds = Dataset()
    ds.ScheduledProcedureStepPriority = "MEDIUM"
    ds.ProcedureStepLabel = "ASL perfusion quantification"
    ds.ScheduledProcedureStepStartDateTime = "20240315101500"
    ds.InputReadinessState = "READY"
    ds.ProcedureStepState = "SCHEDULED"
    return ds.to_json_dict()


def complete() -> dict[str, Any]:
    ds = Dataset.from_json(minimal())
    ds.PatientName, ds.PatientID = "Doe^Jane", "P1"
    ds.ScheduledWorkitemCodeSequence = Sequence([code("110005", "DCM", "Interpretation")])
    ref = Dataset()
    ref.TypeOfInstances = "DICOM"
    ref.StudyInstanceUID, ref.SeriesInstanceUID = "1.2.3", "1.2.3.4"
    sop = Dataset()
    sop.ReferencedSOPClassUID, sop.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.4", "1.2.3.4.5"
    ref.ReferencedSOPSequence = Sequence([sop])
    wado = Dataset()
    wado.RetrieveURL = "https://pacs.example/dicom-web/studies/1.2.3/series/1.2.3.4"
    ref.WADORSRetrievalSequence = Sequence([wado])
    ds.InputInformationSequence = Sequence([ref])
    request = Dataset()
    request.StudyInstanceUID, request.AccessionNumber = "1.2.3", "ACC1"
    ds.ReferencedRequestSequence = Sequence([request])
    return ds.to_json_dict()


def paths(check) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.path for p in check.problems]


def test_minimal_workitem_is_completed_with_empty_type_2_attributes() -> None:
    check = check_create(minimal())
    assert check.ok, check.problems
    assert "PatientName" in check.added and "ScheduledStationNameCodeSequence" in check.added
    assert "UnifiedProcedureStepPerformedProcedureSequence" in check.added
    assert check.dataset["00100010"] == {"vr": "PN"}
    assert "00081195" not in check.dataset  # the Transaction UID is not invented
    strict = check_create(minimal(), fill_type2=False)
    assert "PatientName" in paths(strict) and "Type 2" in str(strict.problems[0])


def test_complete_workitem_passes_and_is_not_modified_in_place() -> None:
    original = complete()
    before = copy.deepcopy(original)
    check = check_create(original)
    assert check.ok, check.problems
    assert original == before
    assert "ReferencedRequestSequence[1].RequestedProcedureID" in check.added


@pytest.mark.parametrize(
    "change,path,status",
    [
        (lambda d: d.pop("00741200"), "ScheduledProcedureStepPriority", None),
        (lambda d: d.update({"00741200": {"vr": "CS"}}), "ScheduledProcedureStepPriority", None),
        (lambda d: d.update({"00741200": {"vr": "CS", "Value": ["URGENT"]}}), "ScheduledProcedureStepPriority", None),
        (lambda d: d.pop("00741204"), "ProcedureStepLabel", None),
        (lambda d: d.pop("00404005"), "ScheduledProcedureStepStartDateTime", None),
        (lambda d: d.update({"00404041": {"vr": "CS", "Value": ["MAYBE"]}}), "InputReadinessState", None),
        (lambda d: d.update({"00741000": {"vr": "CS", "Value": ["IN PROGRESS"]}}), "ProcedureStepState", 0xC309),
        (lambda d: d.pop("00741000"), "ProcedureStepState", None),
        (lambda d: d.update({"00081195": {"vr": "UI", "Value": ["1.2.3"]}}), "TransactionUID", None),
        (lambda d: d.update({"00741216": {"vr": "SQ", "Value": [{}]}}),
         "UnifiedProcedureStepPerformedProcedureSequence", None),
    ],
)
def test_create_problems_name_the_attribute(change, path: str, status: int | None) -> None:  # type: ignore[no-untyped-def]
    dataset = complete()
    change(dataset)
    check = check_create(dataset)
    assert path in paths(check), check.problems
    assert [p.status for p in check.problems if p.path == path] == [status]


def test_nested_requirements_of_provided_items() -> None:
    dataset = complete()
    item = dataset["00404021"]["Value"][0]
    del item["0020000E"]  # SeriesInstanceUID: 1C for a DICOM reference
    del item["00081199"]["Value"][0]["00081155"]  # ReferencedSOPInstanceUID: 1
    del item["0040E025"]  # no retrieval sequence left
    dataset["00404018"]["Value"][0].pop("00080100")  # Code Value gone: no code value form left
    dataset["0040A370"]["Value"][0].pop("0020000D")  # ReferencedRequestSequence > StudyInstanceUID: 1
    got = set(paths(check_create(dataset)))
    assert {
        "InputInformationSequence[1].SeriesInstanceUID",
        "InputInformationSequence[1].ReferencedSOPSequence[1].ReferencedSOPInstanceUID",
        "InputInformationSequence[1].DICOMRetrievalSequence|DICOMMediaRetrievalSequence|WADORetrievalSequence|"
        "XDSRetrievalSequence|WADORSRetrievalSequence",
        "ScheduledWorkitemCodeSequence[1].CodeValue|LongCodeValue|URNCodeValue",
        "ReferencedRequestSequence[1].StudyInstanceUID",
    } <= got, got
    dataset = complete()
    dataset["00404018"]["Value"][0].pop("00080102")  # Coding Scheme Designator with a Code Value
    assert "ScheduledWorkitemCodeSequence[1].CodingSchemeDesignator" in paths(check_create(dataset))


def stored(state: str = "IN PROGRESS") -> dict[str, Any]:
    ds = Dataset.from_json(check_create(complete()).dataset)
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.34.6.1", "2.25.1"
    ds.ScheduledProcedureStepModificationDateTime = "20240315101500"
    ds.ProcedureStepState = state
    ds.TransactionUID = "1.2.3.99"
    return ds.to_json_dict()


def test_final_state_requirements() -> None:
    workitem = stored()
    problems = {p.path for p in final_state_problems(workitem, State.COMPLETED)}
    assert problems == {"UnifiedProcedureStepPerformedProcedureSequence"}
    performed = Dataset()
    performed.PerformedProcedureStepStartDateTime = "20240315102000"
    workitem["00741216"] = {"vr": "SQ", "Value": [performed.to_json_dict()]}
    problems = {p.path for p in final_state_problems(workitem, State.COMPLETED)}
    assert problems == {f"UnifiedProcedureStepPerformedProcedureSequence[1].{kw}" for kw in (
        "PerformedStationNameCodeSequence", "PerformedWorkitemCodeSequence", "PerformedProcedureStepEndDateTime",
        "OutputInformationSequence")}
    performed.PerformedProcedureStepEndDateTime = "20240315103000"
    performed.PerformedStationNameCodeSequence = Sequence([code("CIRRUS", "99CIRRUS", "Cirrus worker")])
    performed.PerformedWorkitemCodeSequence = Sequence([code("110005", "DCM", "Interpretation")])
    performed.OutputInformationSequence = Sequence([])
    workitem["00741216"] = {"vr": "SQ", "Value": [performed.to_json_dict()]}
    assert final_state_problems(workitem, State.COMPLETED) == []
    # CANCELED needs the cancellation time, which the SCP fills in
    assert [p.path for p in final_state_problems(stored(), State.CANCELED)] == [
        "ProcedureStepProgressInformationSequence.ProcedureStepCancellationDateTime"]
    ready = prepare_cancel(stored(), "20240315110000", reason="patient left")
    assert final_state_problems(ready, State.CANCELED) == []
    item = ready["00741002"]["Value"][0]
    assert item["00404052"]["Value"] == ["20240315110000"] and item["00741238"]["Value"] == ["patient left"]
    # R attributes
    workitem.pop("00741200")
    assert "ScheduledProcedureStepPriority" in {p.path for p in final_state_problems(workitem, State.COMPLETED)}
    with pytest.raises(ValueError):
        final_state_problems(workitem, State.IN_PROGRESS)


def test_returned_workitem_never_shows_the_lock() -> None:
    workitem = stored()
    assert "00081195" in workitem and "00081195" not in without_lock(workitem)
