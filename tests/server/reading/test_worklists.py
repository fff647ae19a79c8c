"""Worklist filters, the version diff and the numbers a report inserts (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.app_errors import InvalidInput
from server.db.analysis import AnalysisJob
from server.reading.quantities import measurements_of
from server.reading.worklists import _local_midnight, diff_lines, parse_filter


def test_filters_parse_and_name_the_bad_one() -> None:
    f = parse_filter({"list": "to_report", "state": "to_report,returned", "preset": "custom", "from": "2026-12-01",
                      "to": "2026-12-02", "digit": "7", "requesting": "3", "q": "张", "exact": "1", "tz": "480",
                      "limit": "20", "offset": "40"})
    assert (f.list, f.states, f.digit, f.requesting_institution_id, f.exact, f.tz_minutes, f.limit, f.offset) == (
        "to_report", ("to_report", "returned"), "7", 3, True, 480, 20, 40)
    for params, word in [({"list": "x"}, "list"), ({"state": "done"}, "state"), ({"digit": "12"}, "digit"),
                         ({"from": "2026-13-01"}, "from"), ({"limit": "0"}, "limit"), ({"tz": "9999"}, "tz"),
                         ({"colour": "red"}, "colour"), ({"preset": "year"}, "preset")]:
        with pytest.raises(InvalidInput, match=word):
            parse_filter(params)


def test_today_is_the_callers_day() -> None:
    now = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)  # 01:00 on 3 December in Beijing
    assert _local_midnight(now, 480) == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    assert _local_midnight(now, 0) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


def test_diff_marks_removed_and_added_lines() -> None:
    assert diff_lines("a\nb\nc", "a\nB\nc\nd") == [
        {"op": "=", "text": "a"}, {"op": "-", "text": "b"}, {"op": "+", "text": "B"}, {"op": "=", "text": "c"},
        {"op": "+", "text": "d"}]
    assert diff_lines("", "x") == [{"op": "+", "text": "x"}]


def test_measurements_from_the_analysis_statistics() -> None:
    job = AnalysisJob(id=4, version=2, model="buxton", study_instance_uid="1.2", acquisition_key="k", statistics={
        "whole_brain": {"n": 10, "mean": 45.678, "median": 44.0, "sd": 9.0},
        "left_hemisphere": {"n": 5, "mean": None}, "asymmetry_index_percent": -3.21,
        "att_whole_brain": {"n": 10, "mean": 1.4}})
    got = measurements_of(job)
    assert [(m["name"], m["value"], m["unit"]) for m in got] == [
        ("CBF whole brain", 45.68, "ml/(100.g.min)"), ("CBF asymmetry index", -3.21, "%"),
        ("ATT whole brain", 1.4, "s")]
    assert got[0]["source"] == "ASL analysis job 4 v2 (buxton)" and got[0]["unit_label"] == "ml/100g/min"
    assert measurements_of(AnalysisJob(id=1, study_instance_uid="1", acquisition_key="k")) == []
