"""Q/R identifiers as QIDO expressions and QIDO results as C-FIND identifiers (PS3.4 C.4, C.6)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from dicomweb.dimse_query import (
    InformationModel,
    RetrieveLevel,
    find_request,
    patient_results,
    response_identifier,
    retrieve_query,
)
from dicomweb.errors import InvalidQuery
from dicomweb.qido import QueryLevel, Range, SingleValue, UidList, Universal, Wildcard

STUDY_ROOT = InformationModel.STUDY_ROOT
PATIENT_ROOT = InformationModel.PATIENT_ROOT


def identifier(**keys: object) -> Dataset:
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def matches(request):  # type: ignore[no-untyped-def]
    return {m.keyword: m.matcher for m in request.query.matches}


def test_study_level_keys_become_qido_matchers() -> None:
    req = find_request(identifier(QueryRetrieveLevel="STUDY", PatientName="DOE*", StudyDate="20240101-20241231",
                                  StudyInstanceUID="", ModalitiesInStudy="", AccessionNumber="A1",
                                  StudyDescription="", NumberOfStudyRelatedInstances=None,
                                  SeriesDescription="ignored below the level"), STUDY_ROOT)
    assert req.level is RetrieveLevel.STUDY and req.query.level is QueryLevel.STUDY
    m = matches(req)
    assert m["PatientName"] == Wildcard("DOE*")
    assert m["StudyDate"] == Range("20240101", "20241231")
    assert m["AccessionNumber"] == SingleValue("A1")
    assert m["StudyInstanceUID"] == Universal()
    assert "SeriesDescription" not in req.return_keywords
    assert "NumberOfStudyRelatedInstances" in req.query.include_fields
    assert set(req.return_keywords) == {"PatientName", "StudyDate", "StudyInstanceUID", "ModalitiesInStudy",
                                        "AccessionNumber", "StudyDescription", "NumberOfStudyRelatedInstances"}


def test_series_and_image_levels_take_uid_lists_and_upper_keys() -> None:
    req = find_request(identifier(QueryRetrieveLevel="SERIES", StudyInstanceUID="1.2.3", Modality="MR",
                                  SeriesInstanceUID=""), STUDY_ROOT)
    assert req.query.level is QueryLevel.SERIES
    assert matches(req)["StudyInstanceUID"] == SingleValue("1.2.3")
    image = find_request(identifier(QueryRetrieveLevel="IMAGE", SeriesInstanceUID="1.2.3.4",
                                    SOPInstanceUID=["1.2.3.4.1", "1.2.3.4.2"]), PATIENT_ROOT)
    assert image.query.level is QueryLevel.INSTANCE
    assert matches(image)["SOPInstanceUID"] == UidList(("1.2.3.4.1", "1.2.3.4.2"))


def test_levels_are_checked_per_information_model() -> None:
    with pytest.raises(InvalidQuery, match="PATIENT is not part of the Study Root"):
        find_request(identifier(QueryRetrieveLevel="PATIENT", PatientID=""), STUDY_ROOT)
    with pytest.raises(InvalidQuery, match="no QueryRetrieveLevel"):
        find_request(identifier(PatientID=""), PATIENT_ROOT)
    with pytest.raises(InvalidQuery, match="not PATIENT, STUDY, SERIES or IMAGE"):
        find_request(identifier(QueryRetrieveLevel="FRAME"), PATIENT_ROOT)
    with pytest.raises(InvalidQuery, match="StudyDate"):
        find_request(identifier(QueryRetrieveLevel="STUDY", StudyDate="2024-13-01"), STUDY_ROOT)


def test_response_has_exactly_the_requested_keys_empty_when_unknown() -> None:
    req = find_request(identifier(QueryRetrieveLevel="STUDY", StudyInstanceUID="", PatientName="",
                                  StudyDescription=""), STUDY_ROOT)
    item = {
        "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
        "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
        "00081190": {"vr": "UR", "Value": ["http://x/studies/1.2.3"]},
    }
    ds = response_identifier(item, req, "CIRRUS")
    assert ds.QueryRetrieveLevel == "STUDY" and ds.RetrieveAETitle == "CIRRUS"
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert ds.StudyInstanceUID == "1.2.3" and str(ds.PatientName) == "Doe^Jane"
    assert "StudyDescription" in ds and not ds.StudyDescription
    assert "RetrieveURL" not in ds


def test_patient_results_group_studies_and_sum_counts() -> None:
    def study(pid: str, series: int, instances: int) -> dict:
        return {"00100020": {"vr": "LO", "Value": [pid]},
                "00100010": {"vr": "PN", "Value": [{"Alphabetic": f"P^{pid}"}]},
                "00081030": {"vr": "LO", "Value": ["not a patient attribute"]},
                "00201206": {"vr": "IS", "Value": [series]}, "00201208": {"vr": "IS", "Value": [instances]}}

    out = patient_results([study("A", 2, 10), study("A", 1, 5), study("B", 1, 1)])
    assert len(out) == 2
    a = next(p for p in out if p["00100020"]["Value"] == ["A"])
    assert a["00201200"]["Value"] == [2] and a["00201202"]["Value"] == [3] and a["00201204"]["Value"] == [15]
    assert "00081030" not in a


def test_retrieve_query_needs_the_unique_key_of_its_level() -> None:
    q = retrieve_query(identifier(QueryRetrieveLevel="SERIES", StudyInstanceUID="1.2",
                                  SeriesInstanceUID="1.2.3\\1.2.4"), STUDY_ROOT)
    assert q.level is QueryLevel.INSTANCE
    assert {m.keyword: m.matcher for m in q.matches}["SeriesInstanceUID"] == UidList(("1.2.3", "1.2.4"))
    with pytest.raises(InvalidQuery, match="needs StudyInstanceUID"):
        retrieve_query(identifier(QueryRetrieveLevel="STUDY", PatientID="X"), PATIENT_ROOT)
    patient = retrieve_query(identifier(QueryRetrieveLevel="PATIENT", PatientID="X"), PATIENT_ROOT)
    assert {m.keyword for m in patient.matches} == {"PatientID"}
