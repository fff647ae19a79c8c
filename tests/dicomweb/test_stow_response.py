"""Store Instances Response (PS3.18 Annex I) and Warning texts."""

from __future__ import annotations

from dicomweb.http_warnings import (
    additional_results,
    fuzzy_not_supported,
    ignored_parameters,
    stow_malformed_body,
    stow_partial,
    warning,
)
from dicomweb.qido import IgnoredParameter
from dicomweb.stow import FailureReason, InstanceOutcome, http_status, response_json, study_retrieve_url

BASE = "https://pacs.example/dicom-web/"


def ok(study: str, sop: str) -> InstanceOutcome:
    return InstanceOutcome("1.2.840.10008.5.1.4.1.1.2", sop, study, study + ".1", "stored")


def failed(sop: str = "") -> InstanceOutcome:
    return InstanceOutcome("", sop, "", "", "failed", int(FailureReason.CANNOT_UNDERSTAND), "not DICOM")


def build(outcomes: list[InstanceOutcome]) -> dict:  # type: ignore[type-arg]
    return response_json(
        outcomes,
        lambda o: f"{BASE}studies/{o.study_instance_uid}/series/{o.series_instance_uid}/instances/{o.sop_instance_uid}",
        lambda uid: f"{BASE}studies/{uid}",
    )


def test_one_study_gets_its_retrieve_url() -> None:
    body = build([ok("1.2.3", "1.2.3.9"), ok("1.2.3", "1.2.3.10")])
    assert body["00081190"] == {"vr": "UR", "Value": [f"{BASE}studies/1.2.3"]}
    refs = body["00081199"]["Value"]
    assert refs[0]["00081190"]["Value"] == [f"{BASE}studies/1.2.3/series/1.2.3.1/instances/1.2.3.9"]
    assert "00081198" not in body


def test_retrieve_url_is_type_2_empty_for_several_studies_or_none_stored() -> None:
    assert build([ok("1.2.3", "9"), ok("1.2.4", "10")])["00081190"] == {"vr": "UR"}
    body = build([failed(), failed("1.2.5")])
    assert body["00081190"] == {"vr": "UR"}
    assert [i["00081197"]["Value"][0] for i in body["00081198"]["Value"]] == [0xC000, 0xC000]
    # failures do not count: the stored instances are all of one study
    assert build([ok("1.2.3", "9"), failed()])["00081190"]["Value"] == [f"{BASE}studies/1.2.3"]
    assert study_retrieve_url([], lambda uid: uid) is None


def test_legacy_string_is_used_as_given() -> None:
    body = response_json([failed()], lambda o: "", f"{BASE}studies/1.2.3")
    assert body["00081190"]["Value"] == [f"{BASE}studies/1.2.3"]


def test_status_codes() -> None:
    assert http_status([]) == 204
    assert http_status([ok("1", "2")]) == 200
    assert http_status([ok("1", "2"), failed()]) == 202
    assert http_status([failed()]) == 409


def test_warning_values_are_rfc7234_with_ps318_texts() -> None:
    assert warning('say "hi"\r\nnext') == r'299 cirrus "say \"hi\"  next"'
    assert warning("é", agent="pacs.example:443") == '299 pacs.example:443 "?"'
    assert fuzzy_not_supported() == (
        '299 cirrus "The fuzzymatching parameter is not supported. Only literal matching has been performed."')
    assert additional_results(12) == '299 cirrus "There are 12 additional results that can be requested"'
    assert additional_results(None) == '299 cirrus "There are additional results that can be requested"'
    text = ignored_parameters([IgnoredParameter("Foo", "unknown attribute 'Foo'")])
    assert text == ('299 cirrus "The following query parameters are not supported and were ignored: '
                    "Foo (unknown attribute 'Foo')\"")
    assert ignored_parameters([]) is None
    assert stow_partial([ok("1", "2"), failed(), failed()]) == (
        '299 cirrus "C000: 1 of 3 instances stored, 2 failed (FailedSOPSequence lists each, with FailureReason)"')
    assert stow_partial([ok("1", "2")]) is None and stow_partial([failed()]) is None
    assert stow_malformed_body(3, "no closing boundary").startswith('299 cirrus "C000: malformed multipart body after')
