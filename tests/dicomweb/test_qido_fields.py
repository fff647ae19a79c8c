"""QIDO-RS returned attributes (PS3.18 Tables 10.6.3-3/-4/-5), private includefield, lenient parsing."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from pydicom.datadict import dictionary_VR, tag_for_keyword

from dicomweb.errors import InvalidQuery
from dicomweb.qido import IgnoredParameter, PrivateField, QidoQuery, QueryLevel, parse_query
from dicomweb.qido_fields import (
    DEFAULTS,
    INSTANCE_DEFAULTS,
    SERIES_DEFAULTS,
    STUDY_DEFAULTS,
    attribute_level,
    keyword_tag,
    private_entries,
    return_keywords,
)

STUDY, SERIES, INSTANCE = QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.INSTANCE


def parse(qs: str, level: QueryLevel = STUDY, **kw: str) -> QidoQuery:
    return parse_query(level, parse_qsl(qs, keep_blank_values=True), **kw)  # type: ignore[arg-type]


def test_tables_hold_the_standard_attributes() -> None:
    # Every keyword is a real data element; spot-check the rows the conformance run missed.
    for table in DEFAULTS.values():
        for kw in table:
            assert tag_for_keyword(kw) is not None, kw
    assert "BitsAllocated" in INSTANCE_DEFAULTS and "NumberOfFrames" in INSTANCE_DEFAULTS
    assert {"Rows", "Columns", "SOPClassUID", "InstanceNumber", "RetrieveURL"} <= set(INSTANCE_DEFAULTS)
    assert {"PerformedProcedureStepStartTime", "RequestAttributesSequence", "SeriesDescription"} <= set(
        SERIES_DEFAULTS)
    assert {"ModalitiesInStudy", "NumberOfStudyRelatedInstances", "ReferringPhysicianName"} <= set(STUDY_DEFAULTS)
    assert "StudyDescription" not in STUDY_DEFAULTS  # asked for with includefield (OHIF does)
    assert keyword_tag("BitsAllocated") == "00280100"
    assert dictionary_VR(tag_for_keyword("RequestAttributesSequence")) == "SQ"


@pytest.mark.parametrize(
    "qs,level,scope,present,absent",
    [
        ("", STUDY, {}, {"PatientID", "ModalitiesInStudy"}, {"Modality", "BitsAllocated"}),
        # /studies/{uid}/series: no study defaults; a study attribute in includefield is returned
        ("includefield=StudyDescription", SERIES, {"study_uid": "1.2"}, {"Modality", "StudyDescription"},
         {"PatientID"}),
        # /series: study defaults too
        ("", SERIES, {}, {"Modality", "PatientID", "StudyDate"}, {"BitsAllocated"}),
        ("", INSTANCE, {"study_uid": "1.2", "series_uid": "1.3"}, {"BitsAllocated", "Rows", "NumberOfFrames"},
         {"Modality", "PatientID"}),
        ("", INSTANCE, {"study_uid": "1.2"}, {"BitsAllocated", "Modality"}, {"PatientID"}),
        ("", INSTANCE, {}, {"BitsAllocated", "Modality", "PatientID"}, set()),
        # lower-level includefields are not returned (§10.6.3.3)
        ("includefield=SliceThickness,SeriesDate", STUDY, {}, set(), {"SliceThickness", "SeriesDate"}),
        ("includefield=SliceThickness,SeriesDate", SERIES, {}, {"SeriesDate"}, {"SliceThickness"}),
        ("includefield=SliceThickness&PatientName=*", INSTANCE, {"study_uid": "1.2"},
         {"SliceThickness", "PatientName"}, set()),
    ],
)
def test_return_keywords(qs, level, scope, present, absent) -> None:  # type: ignore[no-untyped-def]
    got = return_keywords(parse(qs, level, **scope))
    assert present <= got, present - got
    assert not (absent & got), absent & got


def test_attribute_levels() -> None:
    assert attribute_level("PatientName") is STUDY
    assert attribute_level("StudyDescription") is STUDY
    assert attribute_level("Manufacturer") is SERIES
    assert attribute_level("BitsAllocated") is INSTANCE
    assert attribute_level("ImagePositionPatient") is INSTANCE


def test_private_includefield_and_creator_forms() -> None:
    q = parse("includefield=00091001")
    assert q.private_fields == (PrivateField(0x0009, 0x10, 0x01, None),)
    assert q.private_fields[0].tag == 0x00091001
    # PS3.18 §10.6.1.2.1 example: the creator as a match parameter names the block
    q = parse("00230010=AcmeCompany&includefield=00231002&includefield=00231003", INSTANCE)
    assert set(q.private_fields) == {
        PrivateField(0x0023, 0x10, None, "AcmeCompany"),
        PrivateField(0x0023, 0x10, 0x02, "AcmeCompany"),
        PrivateField(0x0023, 0x10, 0x03, "AcmeCompany"),
    }
    assert q.constraints() == ()  # a creator declares, it does not filter
    # a universal private key is a return key
    assert parse("00291010=").private_fields == (PrivateField(0x0029, 0x10, 0x10, None),)
    # lowercase hex is fine
    assert parse("includefield=0009100a").private_fields == (PrivateField(0x0009, 0x10, 0x0A, None),)


@pytest.mark.parametrize(
    "qs,named",
    [
        ("00191010=1", "00191010"),  # matching on private values
        ("includefield=00090005", "00090005"),  # neither creator nor element
        ("includefield=00280100x", "00280100x"),
    ],
)
def test_private_forms_refused_name_the_tag(qs: str, named: str) -> None:
    with pytest.raises(InvalidQuery, match=named):
        parse(qs)


def test_private_entries_follow_the_creator_to_its_block() -> None:
    ds = {
        "00230010": {"vr": "LO", "Value": ["OtherVendor"]},
        "00230011": {"vr": "LO", "Value": ["AcmeCompany "]},
        "00231002": {"vr": "LO", "Value": ["not this one"]},
        "00231102": {"vr": "LO", "Value": ["acme value"]},
        "00091001": {"vr": "UN", "InlineBinary": "AAE="},
        "00090010": {"vr": "LO", "Value": ["GEMS"]},
    }
    named = PrivateField(0x0023, 0x10, 0x02, "AcmeCompany")
    assert private_entries(ds, named) == {"00231102": ds["00231102"], "00230011": ds["00230011"]}
    as_written = PrivateField(0x0023, 0x10, 0x02, None)
    assert private_entries(ds, as_written) == {"00231002": ds["00231002"], "00230010": ds["00230010"]}
    assert private_entries(ds, PrivateField(0x0009, 0x10, 0x01)) == {
        "00091001": ds["00091001"], "00090010": ds["00090010"]}
    assert private_entries(ds, PrivateField(0x0023, 0x10, 0x02, "Absent")) == {}
    assert private_entries(ds, PrivateField(0x0023, 0x10, 0x07, None)) == {}
    assert private_entries(ds, PrivateField(0x0023, 0x11, None, None)) == {"00230011": ds["00230011"]}


def test_unsupported_parameters_are_ignored_on_request_and_listed() -> None:
    qs = "NoSuchKeyword=1&SliceThickness=3&00191010=x&PatientID=P1&_=123&ReferencedStudySequence.StudyInstanceUID=1.2"
    with pytest.raises(InvalidQuery):
        parse(qs)
    q = parse_query(STUDY, parse_qsl(qs, keep_blank_values=True), unsupported="ignore")
    assert [m.keyword for m in q.constraints()] == ["PatientID"]
    assert [i.name for i in q.ignored] == ["NoSuchKeyword", "00191010", "_", "ReferencedStudySequence.StudyInstanceUID",
                                           "SliceThickness"]
    assert all(isinstance(i, IgnoredParameter) and i.reason for i in q.ignored)
    # malformed values of supported parameters are still a 400
    for bad in ("StudyDate=2024-13-01", "limit=x", "includefield=Bogus", "Modality=MR"):
        with pytest.raises(InvalidQuery):
            parse_query(STUDY, parse_qsl(bad), unsupported="ignore")


def test_negotiation_parameters_are_not_search_keys() -> None:
    q = parse("accept=application/dicom%2Bjson&charset=utf-8&PatientID=1")
    assert [m.keyword for m in q.matches] == ["PatientID"]
