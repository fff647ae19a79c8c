"""QIDO-RS query parsing: spec vectors from PS3.18 §8.3.4 / §10.6 (pure, no I/O)."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl

import pytest

from dicomweb.errors import InvalidQuery
from dicomweb.qido import (
    MATCHABLE,
    AttributeMatch,
    FuzzyName,
    QidoQuery,
    QueryLevel,
    Range,
    SingleValue,
    UidList,
    Universal,
    ValueList,
    Wildcard,
    parse_query,
    resolve_keyword,
)

STUDY, SERIES, INSTANCE = QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.INSTANCE


def parse(query_string: str, level: QueryLevel = STUDY, **scope: str) -> QidoQuery:
    """Decode like a web framework does (once, '+' as space), then parse."""
    return parse_query(level, parse_qsl(query_string, keep_blank_values=True), **scope)


def only_match(query_string: str, level: QueryLevel = STUDY) -> AttributeMatch:
    (match,) = parse(query_string, level).matches
    return match


@pytest.mark.parametrize(
    ("query", "keyword", "matcher"),
    [
        ("PatientID=P001", "PatientID", SingleValue("P001")),
        ("00100020=P001", "PatientID", SingleValue("P001")),
        ("00100020=P001".lower(), "PatientID", SingleValue("p001")),
        ("PatientID=", "PatientID", Universal()),
        ("PatientID=*", "PatientID", Universal()),
        ("PatientID=P0*", "PatientID", Wildcard("P0*")),
        ("PatientID=P0%3F1", "PatientID", Wildcard("P0?1")),
        ("PatientName=SYNTH%2A", "PatientName", Wildcard("SYNTH*")),
        ("PatientName=doe^john", "PatientName", SingleValue("DOE^JOHN")),
        ("PatientName=*ali*", "PatientName", Wildcard("*ALI*")),
        ("PatientName=jo&fuzzymatching=true", "PatientName", FuzzyName("JO")),
        ("PatientName=jo&fuzzymatching=false", "PatientName", SingleValue("JO")),
        ("StudyDate=20240101", "StudyDate", SingleValue("20240101")),
        ("StudyDate=20240101-20241231", "StudyDate", Range("20240101", "20241231")),
        ("StudyDate=-20241231", "StudyDate", Range(None, "20241231")),
        ("StudyDate=20240101-", "StudyDate", Range("20240101", None)),
        ("StudyTime=13", "StudyTime", Range("13", "135959.999999")),
        ("StudyTime=1305", "StudyTime", Range("1305", "130559.999999")),
        ("StudyTime=130500.5", "StudyTime", Range("130500.5", "130500.599999")),
        ("StudyTime=08-0930", "StudyTime", Range("08", "093059.999999")),
        ("StudyTime=-12", "StudyTime", Range(None, "125959.999999")),
        ("StudyInstanceUID=1.2.3", "StudyInstanceUID", SingleValue("1.2.3")),
        ("StudyInstanceUID=1.2.3%5C1.2.4", "StudyInstanceUID", UidList(("1.2.3", "1.2.4"))),
        ("StudyInstanceUID=1.2.3,1.2.4,1.2.3", "StudyInstanceUID", UidList(("1.2.3", "1.2.4"))),
        ("StudyInstanceUID=1.2.3%2C1.2.3", "StudyInstanceUID", SingleValue("1.2.3")),
        ("ModalitiesInStudy=CT", "ModalitiesInStudy", SingleValue("CT")),
        ("ModalitiesInStudy=CT%5CMR", "ModalitiesInStudy", ValueList(("CT", "MR"))),
        ("ModalitiesInStudy=CT,MR", "ModalitiesInStudy", ValueList(("CT", "MR"))),
        ("StudyDescription=Brain*", "StudyDescription", Wildcard("Brain*")),
        ("StudyDescription=a%2Cb", "StudyDescription", SingleValue("a,b")),
    ],
)
def test_matcher_vectors(query: str, keyword: str, matcher: object) -> None:
    match = only_match(query)
    assert match.keyword == keyword
    assert match.matcher == matcher
    assert match.level is STUDY


def test_person_names_match_case_insensitively_others_do_not() -> None:
    assert only_match("PatientName=x").case_insensitive
    assert only_match("ReferringPhysicianName=x").case_insensitive
    assert not only_match("PatientID=x").case_insensitive
    assert only_match("ReferringPhysicianName=house*").matcher == Wildcard("HOUSE*")


@pytest.mark.parametrize(
    ("query", "level", "matcher"),
    [
        ("SeriesNumber=3", SERIES, SingleValue(3)),
        ("SeriesNumber=+3", SERIES, SingleValue(3)),
        ("InstanceNumber=12", INSTANCE, SingleValue(12)),
        ("Rows=512", INSTANCE, SingleValue(512)),
        ("Modality=MR%5CCT", SERIES, ValueList(("MR", "CT"))),
        ("SeriesDate=20240101-20240131", INSTANCE, Range("20240101", "20240131")),
        ("SOPInstanceUID=1.2.3", INSTANCE, SingleValue("1.2.3")),
    ],
)
def test_lower_level_vectors(query: str, level: QueryLevel, matcher: object) -> None:
    assert only_match(query, level).matcher == matcher


def test_ohif_study_list_query() -> None:
    q = parse("limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060")
    assert q.level is STUDY
    assert q.limit == 101 and q.offset == 0 and not q.fuzzy
    assert q.include_fields == {"StudyDescription", "Modality"}
    assert q.matches == () and q.constraints() == ()
    assert not q.include_all


def test_includefield_forms() -> None:
    q = parse("includefield=StudyDescription&includefield=00080060,0008103E&includefield=all")
    assert q.include_all
    assert q.include_fields == {"StudyDescription", "Modality", "SeriesDescription"}


def test_matching_keys_are_returned_and_universal_ones_do_not_constrain() -> None:
    q = parse("PatientName=&StudyDate=20240101")
    assert {"PatientName", "StudyDate"} <= q.include_fields
    assert [m.keyword for m in q.constraints()] == ["StudyDate"]


def test_defaults_and_scope() -> None:
    q = parse("", SERIES, study_uid="1.2.3")
    assert (q.limit, q.offset, q.fuzzy, q.include_all) == (None, 0, False, False)
    assert q.study_uid == "1.2.3" and q.series_uid is None


@pytest.mark.parametrize(
    ("level", "scope", "levels"),
    [
        (STUDY, {}, {STUDY}),
        (SERIES, {}, {STUDY, SERIES}),
        (SERIES, {"study_uid": "1.2"}, {SERIES}),
        (INSTANCE, {}, {STUDY, SERIES, INSTANCE}),
        (INSTANCE, {"study_uid": "1.2"}, {SERIES, INSTANCE}),
        (INSTANCE, {"study_uid": "1.2", "series_uid": "1.3"}, {INSTANCE}),
    ],
)
def test_returned_levels_follow_the_resource(
    level: QueryLevel, scope: dict[str, str], levels: set[QueryLevel]
) -> None:
    assert parse("", level, **scope).returned_levels == levels


def test_study_attributes_match_at_lower_levels() -> None:
    q = parse("PatientID=P1&Modality=MR&InstanceNumber=1", INSTANCE)
    assert [(m.keyword, m.level) for m in q.matches] == [
        ("PatientID", STUDY), ("Modality", SERIES), ("InstanceNumber", INSTANCE)
    ]


def test_query_is_immutable() -> None:
    q = parse("PatientID=P1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.limit = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("query", "level", "named"),
    [
        ("NoSuchKeyword=1", STUDY, "NoSuchKeyword"),
        ("00191010=1", STUDY, "00191010"),
        ("0010001=1", STUDY, "0010001"),
        ("Modality=MR", STUDY, "Modality"),
        ("SOPClassUID=1.2", SERIES, "SOPClassUID"),
        ("SliceThickness=1", INSTANCE, "SliceThickness"),
        ("StudyDate=2024", STUDY, "StudyDate"),
        ("StudyDate=20240230", STUDY, "StudyDate"),
        ("StudyDate=2024-01-01", STUDY, "StudyDate"),
        ("StudyDate=20240102-20240101", STUDY, "StudyDate"),
        ("StudyDate=-", STUDY, "StudyDate"),
        ("StudyDate=2024*", STUDY, "StudyDate"),
        ("StudyTime=2500", STUDY, "StudyTime"),
        ("StudyTime=1", STUDY, "StudyTime"),
        ("StudyTime=14-12", STUDY, "StudyTime"),
        ("StudyInstanceUID=1.2.x", STUDY, "StudyInstanceUID"),
        ("StudyInstanceUID=1.2.*", STUDY, "StudyInstanceUID"),
        ("StudyInstanceUID=1..2", STUDY, "StudyInstanceUID"),
        ("StudyInstanceUID=" + "1." * 40 + "1", STUDY, "StudyInstanceUID"),
        ("SeriesNumber=1.5", SERIES, "SeriesNumber"),
        ("SeriesNumber=*", SERIES, None),  # universal: allowed
        ("ModalitiesInStudy=CT%5C*", STUDY, "ModalitiesInStudy"),
        ("limit=0", STUDY, "limit"),
        ("limit=x", STUDY, "limit"),
        ("offset=-1", STUDY, "offset"),
        ("fuzzymatching=yes", STUDY, "fuzzymatching"),
        ("includefield=Bogus", STUDY, "Bogus"),
        ("includefield=00081030%2CBogus", STUDY, "Bogus"),
        ("PatientID=a&00100020=b", STUDY, "PatientID"),
        ("ReferencedStudySequence.StudyInstanceUID=1.2", STUDY, "ReferencedStudySequence"),
        ("PatientID=" + "x" * 400, STUDY, "PatientID"),
    ],
)
def test_invalid_queries_name_the_problem(query: str, level: QueryLevel, named: str | None) -> None:
    if named is None:
        parse(query, level)
        return
    with pytest.raises(InvalidQuery) as info:
        parse(query, level)
    assert named in info.value.message


def test_long_uid_lists_are_fine_up_to_a_bound() -> None:
    uids = [f"1.2.840.{n}" for n in range(1000)]
    match = only_match("StudyInstanceUID=" + "%5C".join(uids))
    assert match.matcher == UidList(tuple(uids))
    with pytest.raises(InvalidQuery, match="StudyInstanceUID"):
        parse("StudyInstanceUID=" + "%5C".join([*uids, "1.2.3"]))


def test_path_uids_are_checked() -> None:
    with pytest.raises(InvalidQuery, match="not-a-uid"):
        parse("", SERIES, study_uid="not-a-uid")


def test_keywords_and_tags_resolve_through_the_dictionary() -> None:
    assert resolve_keyword("00100010") == "PatientName"
    assert resolve_keyword("0020000d") == "StudyInstanceUID"
    assert resolve_keyword("PatientName") == "PatientName"
    for keyword in MATCHABLE:
        assert resolve_keyword(keyword) == keyword
