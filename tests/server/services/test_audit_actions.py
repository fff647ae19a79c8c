"""Route and method → audit action and study (pure)."""

from __future__ import annotations

import pytest

from server.services.audit_actions import classify, outcome_of

S = "1.2.3.4"
CASES = [
    ("GET", "/dicom-web/studies", b"PatientID=X", ("query", "")),
    ("GET", f"/dicom-web/studies/{S}/series", b"", ("query", S)),
    ("GET", f"/dicom-web/studies/{S}/series/5.6/instances", b"", ("query", S)),
    ("GET", f"/dicom-web/studies/{S}", b"", ("download", S)),
    ("GET", f"/dicom-web/studies/{S}/series/5.6/instances/7.8", b"", ("download", S)),
    ("GET", f"/dicom-web/studies/{S}/metadata", b"", ("view", S)),
    ("GET", f"/dicom-web/studies/{S}/series/5.6/instances/7.8/frames/1", b"", ("view", S)),
    ("GET", f"/dicom-web/studies/{S}/series/5.6/instances/7.8/bulk/7FE00010", b"", ("download", S)),
    ("GET", f"/dicom-web/studies/{S}/rendered", b"", ("view", S)),
    ("GET", f"/dicom-web/studies/{S}/series/5.6/thumbnail", b"", ("view", S)),
    ("POST", "/dicom-web/studies", b"", ("upload", "")),
    ("POST", f"/dicom-web/studies/{S}", b"", ("upload", S)),
    ("DELETE", f"/dicom-web/studies/{S}/series/5.6", b"", ("delete", S)),
    ("GET", "/dicom-web/workitems", b"PatientID=X", ("query", "")),
    ("GET", "/dicom-web/workitems/1.2.9", b"", ("view", "")),
    ("GET", "/dicom-web/subscribers/AE1", b"since=3", ("view", "")),
    ("POST", "/dicom-web/workitems", b"", ("change", "")),
    ("PUT", "/dicom-web/workitems/1.2.9/state", b"", ("change", "")),
    ("GET", "/wado", f"requestType=WADO&studyUID={S}&contentType=application/dicom".encode(), ("download", S)),
    ("GET", "/wado", f"requestType=WADO&studyUID={S}".encode(), ("view", S)),
    ("POST", "/api/uploads", b"", ("upload", "")),
    # the viewer's measurements: a new SR in the study (a change of that study)
    ("POST", f"/api/studies/{S}/measurements", b"", ("change", S)),
    ("POST", f"/api/studies/{S}/key-images", b"", ("change", S)),
    ("GET", "/api/pull/why", b"study=1.2.3", ("query", "")),
    ("POST", "/api/pull/requests", b"", ("change", "")),
    ("PUT", "/api/pull/rules/3", b"", ("admin", "")),
    ("POST", "/api/pull/hints", b"replace=true", ("admin", "")),
    ("GET", "/api/pull/hints", b"", ("query", "")),
    ("GET", "/api/jobs", b"", ("query", "")),
    ("GET", "/api/jobs/3", b"", ("view", "")),
    ("GET", "/api/jobs/3/report.pdf", b"", ("download", "")),
    ("POST", "/api/jobs/3/start", b"", ("change", "")),
    ("DELETE", "/api/jobs/3", b"", ("delete", "")),
    ("DELETE", f"/api/reading/requests/4/studies/{S}", b"", ("change", S)),
    ("GET", "/api/reading/templates", b"modality=MR", ("query", "")),
    ("PUT", "/api/reading/templates/ct-head", b"", ("admin", "")),
    ("DELETE", "/api/reading/templates/ct-head", b"", ("admin", "")),
    ("POST", "/api/reading/filters", b"", ("change", "")),
    ("DELETE", "/api/reading/filters/3", b"", ("change", "")),
    ("POST", "/api/reading/requests/4/report.pdf", b"", ("download", "")),
    ("GET", "/api/reading/requests/4/report.pdf", b"", ("download", "")),
    ("PUT", "/api/institutions/2/logo", b"", ("admin", "")),
    ("GET", "/api/institutions/2/logo", b"", ("query", "")),
    ("POST", "/api/auth/logout", b"", ("logout", "")),
    ("POST", "/api/users", b"", ("admin", "")),
    ("PATCH", "/api/presets/2", b"", ("admin", "")),
    ("GET", "/api/presets", b"", ("query", "")),
    ("GET", "/api/audit", b"", ("query", "")),
    ("GET", "/api/audit/export.xml", b"", ("download", "")),
]


@pytest.mark.parametrize(("method", "path", "query", "expected"), CASES)
def test_classify(method: str, path: str, query: bytes, expected: tuple[str, str]) -> None:
    found = classify(method, path, query)
    assert found is not None and (found.action.value, found.study_uid) == expected


@pytest.mark.parametrize("method,path", [
    ("GET", "/"), ("GET", "/assets/app.js"), ("GET", "/dicom-web"), ("GET", "/dicom-web/"),
    ("OPTIONS", "/dicom-web/studies"), ("GET", "/api/openapi.json"), ("GET", "/api/events"),
    ("GET", "/api/reading/events"),
    ("POST", "/api/auth/login"), ("GET", "/s/abc"), ("POST", "/api/shares/abc/exchange"),
])
def test_not_audited(method: str, path: str) -> None:
    assert classify(method, path) is None


def test_outcomes() -> None:
    assert [outcome_of(s) for s in (200, 204, 302, 400, 401, 403, 404, 409, 500, 0)] == [
        "success", "success", "success", "refused", "denied", "denied", "not_found", "refused", "error", "error"]
