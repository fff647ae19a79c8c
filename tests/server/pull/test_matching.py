"""Pull rule matching as pure code: the filter language, rule verdicts, windows, stability, order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from server.app_errors import InvalidInput
from server.gateway.rules import misencoded_variants, parse_filter
from server.pull.matching import (
    compile_rule,
    decide,
    exam_time,
    is_stable,
    query_dates,
    queue_key,
    receive_reason,
)

HEAD = "头颅"


def brain(**extra: object) -> object:
    return compile_rule(id=1, name="brain", institution_id=1, priority=10, study_filter="ModalitiesInStudy=MR",
                        series_filter=f"Modality=MR BodyPartExamined~HEAD,{HEAD} ImageType!~LOCALIZER "
                                      "NumberOfSeriesRelatedInstances>=10", **extra)  # type: ignore[arg-type]


def test_modalities_in_study_is_a_containment_match() -> None:
    f = parse_filter("ModalitiesInStudy=CT", {"modalitiesinstudy": "ModalitiesInStudy"})
    assert f.matches({"ModalitiesInStudy": "CT\\PR"})
    assert f.matches({"ModalitiesInStudy": ["PR", "ct"]})
    assert not f.matches({"ModalitiesInStudy": "CTA\\PR"})  # a value, not a substring
    assert not f.matches({})


def test_keywords_match_their_misencoded_variants() -> None:
    gb_as_latin1 = HEAD.encode("gb18030").decode("latin-1")
    utf8_as_cp1252 = HEAD.encode("utf-8").decode("cp1252", errors="replace")
    assert {gb_as_latin1.upper(), utf8_as_cp1252.upper(), HEAD} <= misencoded_variants(HEAD)
    f = parse_filter(f"BodyPartExamined~{HEAD}", {"bodypartexamined": "BodyPartExamined"})
    assert f.matches({"BodyPartExamined": f"x{gb_as_latin1}"})
    assert f.matches({"BodyPartExamined": HEAD})
    assert not f.matches({"BodyPartExamined": "KNEE"})


def test_numeric_negated_and_quoted_terms() -> None:
    fields = {"slicethickness": "SliceThickness", "seriesdescription": "SeriesDescription"}
    f = parse_filter('SliceThickness<=1.5 SeriesDescription~"pcasl 3d",asl SeriesDescription!~mip', fields)
    assert f.matches({"SliceThickness": "1.25", "SeriesDescription": "PCASL 3D tra"})
    assert not f.matches({"SliceThickness": "5", "SeriesDescription": "pcasl 3d"})
    assert not f.matches({"SliceThickness": "1", "SeriesDescription": "asl MIP"})
    assert "SliceThickness<=1.5 does not match SliceThickness '5'" in (
        f.explain({"SliceThickness": "5", "SeriesDescription": "asl"}) or "")
    for bad in ("SliceThickness<=thin", "Colour=red", "SeriesDescription", "SeriesDescription~"):
        with pytest.raises(InvalidInput, match="not understood"):
            parse_filter(bad, fields)


def test_study_description_alone_is_refused() -> None:
    with pytest.raises(InvalidInput, match="StudyDescription alone"):
        compile_rule(id=1, name="x", institution_id=1, study_filter="StudyDescription~brain")
    compile_rule(id=1, name="x", institution_id=1, study_filter="StudyDescription~brain ModalitiesInStudy=MR")
    with pytest.raises(InvalidInput, match="days_back"):
        compile_rule(id=1, name="x", institution_id=1, days_back=-1)


def test_series_selection_and_reasons() -> None:
    rule = brain()
    study = {"ModalitiesInStudy": "MR", "StudyDescription": "."}
    series = [
        {"SeriesInstanceUID": "1", "Modality": "MR", "BodyPartExamined": "HEAD", "ImageType": ["ORIGINAL", "PRIMARY"],
         "NumberOfSeriesRelatedInstances": 60},
        {"SeriesInstanceUID": "2", "Modality": "MR", "BodyPartExamined": "HEAD",
         "ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"], "NumberOfSeriesRelatedInstances": 3},
        {"SeriesInstanceUID": "3", "Modality": "MR", "BodyPartExamined": "HEAD", "NumberOfSeriesRelatedInstances": 4},
        {"SeriesInstanceUID": "4", "Modality": "SR", "NumberOfSeriesRelatedInstances": 1},
    ]
    verdict = decide([rule], study, series).taken_by
    assert verdict is not None and verdict.series_uids == ["1"]
    reasons = {s.series_instance_uid: s.reason for s in verdict.series}
    assert "ImageType!~LOCALIZER" in reasons["2"]
    assert "NumberOfSeriesRelatedInstances>=10" in reasons["3"]
    assert "Modality=MR" in reasons["4"]
    knee = [{**series[0], "BodyPartExamined": "KNEE"}]
    decision = decide([rule], study, knee)
    assert decision.taken_by is None and "BodyPartExamined" in decision.verdicts[0].reason
    # Without series C-FIND the study is taken whole; the series filter waits for the first instance.
    assert decide([rule], study, None).taken_by is not None
    assert receive_reason(rule, knee[0], series_checked=False) is not None
    assert receive_reason(rule, series[0], series_checked=False) is None


def test_the_higher_priority_rule_takes_the_study() -> None:
    low = compile_rule(id=1, name="any MR", institution_id=2, priority=1, study_filter="ModalitiesInStudy=MR")
    high = compile_rule(id=2, name="brain", institution_id=3, priority=5, study_filter="ModalitiesInStudy=MR")
    taken = decide([low, high], {"ModalitiesInStudy": "MR"}, None).taken_by
    assert taken is not None and taken.rule.institution_id == 3


def test_receive_filter_on_image_comments() -> None:
    rule = compile_rule(id=1, name="x", institution_id=1, study_filter="ModalitiesInStudy=MR",
                        receive_filter="ImageComments!~test,phantom")
    assert receive_reason(rule, {"ImageComments": "QA phantom"}, True) is not None
    assert receive_reason(rule, {"ImageComments": "patient"}, True) is None


def test_query_window_crosses_midnight_in_the_source_clock() -> None:
    now = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert query_dates(now, 0, 0) == [date(2026, 3, 1)]
    assert query_dates(now, 8 * 60, 0) == [date(2026, 3, 2)]  # UTC+8 is already tomorrow
    assert query_dates(now, 8 * 60, 1) == [date(2026, 3, 1), date(2026, 3, 2)]
    assert exam_time("20260302", "073000.25", 8 * 60) == datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert exam_time("", "", 0) is None


def test_stability_and_queue_order() -> None:
    assert not is_stable(["MR"], None, 40)
    assert not is_stable(["MR"], 30, 40)
    assert is_stable(["MR"], 40, 40)
    assert is_stable(["DX"], None, 2)  # on sight
    assert not is_stable(["MR"], 0, 0)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(False, 5, t, 1), (True, 0, t + timedelta(hours=3), 2), (False, 5, t - timedelta(hours=1), 3),
            (False, 9, None, 4)]
    assert [r[3] for r in sorted(rows, key=lambda r: queue_key(*r))] == [2, 4, 3, 1]
