"""Hostile parameters never answer 5xx (issue 12), on SQLite and PostgreSQL.

The named cases have exact answers (400 naming the parameter); then a sweep sends hostile values
for every parameter of every DICOMweb and WADO-URI route and asserts no 5xx, and that the stored
instance is still byte-identical afterwards.
"""

from __future__ import annotations

import io
from urllib.parse import quote

import pydicom
import pytest

from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart

HOSTILE = [
    "100000000000000000000", "-1", "0", "%00", "nan", "inf", "-inf", "1e400", "40,1", "40,0", "1,1,1",
    ",", "", "*", "\\", "a" * 5000, "%ff%fe", "%C0%AF", "'; DROP TABLE study; --", "7FE00010.0.1",
    "9223372036854775808", "1.2.3", "1..2", "..", "%2e%2e%2f",
]


@pytest.fixture
def stored(client):  # type: ignore[no-untyped-def]
    data = ct_instance(size=8)
    r = client.post("/dicom-web/studies", content=multipart([data]), headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 200, r.text
    ds = pydicom.dcmread(io.BytesIO(data))
    return data, str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def _wado_uri(st: str, se: str, so: str, extra: str) -> str:
    return f"/wado?requestType=WADO&studyUID={st}&seriesUID={se}&objectUID={so}&{extra}"


def test_named_cases_answer_400_naming_the_parameter(client, stored) -> None:  # type: ignore[no-untyped-def]
    _, st, se, so = stored
    inst = f"/dicom-web/studies/{st}/series/{se}/instances/{so}"
    cases = {
        "/dicom-web/studies?offset=100000000000000000000": "offset",
        "/dicom-web/studies?limit=100000000000000000000": "limit",
        "/dicom-web/studies?PatientName=%00": "PatientName",
        "/dicom-web/studies?PatientID=Ab%00c": "PatientID",
        "/dicom-web/studies?ModalitiesInStudy=%00": "ModalitiesInStudy",
        f"/dicom-web/studies/{st}/instances?00100010=%00": "00100010",
        inst + "/rendered?window=nan,40": "window",
        inst + "/bulk/7FE00010.0.1": "bulk data path",
        inst + "/bulk/%00": "bulk data path",
        inst + "/frames/1,1": "repeated",
        inst + "/frames/" + ",".join(["1"] * 20000): "more than",
        _wado_uri(st, se, so, "anonymize=yes"): "anonymize",
        _wado_uri(st, se, so, "contentType=application/dicom&anonymize=yes"): "anonymize",
        _wado_uri(st, se, so, "contentType=image/jpeg&windowCenter=nan&windowWidth=nan"): "windowCenter",
        _wado_uri(st, se, so, "contentType=image/jpeg&windowCenter=40&windowWidth=inf"): "windowWidth",
        "/api/jobs?offset=99999999999999999999": "offset",
        "/api/jobs/9223372036854775808": "job id",
    }
    for url, name in cases.items():
        r = client.get(url)
        assert r.status_code == 400, (url[:120], r.status_code, r.text[:200])
        assert name in r.json()["error"], (url[:120], r.text[:200])
    for method in ("DELETE", "POST"):
        r = client.request(method, "/api/jobs/9223372036854775808" + ("/start" if method == "POST" else ""))
        assert r.status_code == 400 and "job id" in r.text


def test_narrow_windows_render(client, stored) -> None:  # type: ignore[no-untyped-def]
    _, st, se, so = stored
    inst = f"/dicom-web/studies/{st}/series/{se}/instances/{so}"
    for url in (inst + "/rendered?window=40,1", inst + "/rendered?window=40,1,LINEAR",
                inst + "/frames/1/rendered?window=40,1",
                _wado_uri(st, se, so, "contentType=image/jpeg&windowCenter=40&windowWidth=1")):
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:200])
        assert r.content[:2] == b"\xff\xd8"


def test_sweep_dicomweb_parameters_never_answer_5xx(client, stored) -> None:  # type: ignore[no-untyped-def]
    data, st, se, so = stored
    inst = f"/dicom-web/studies/{st}/series/{se}/instances/{so}"
    query_routes = {
        "/dicom-web/studies": ["offset", "limit", "fuzzymatching", "includefield", "PatientName", "PatientID",
                               "StudyDate", "StudyTime", "AccessionNumber", "StudyInstanceUID",
                               "ModalitiesInStudy", "00100010", "00091010", "ReferencedStudySequence.CodeValue"],
        f"/dicom-web/studies/{st}/series": ["Modality", "SeriesNumber", "SeriesInstanceUID", "offset", "limit"],
        f"/dicom-web/studies/{st}/series/{se}/instances": ["SOPInstanceUID", "InstanceNumber", "offset"],
        "/dicom-web/instances": ["SOPClassUID", "limit"],
        inst + "/rendered": ["window", "viewport", "quality", "annotation", "charset", "palette"],
        inst + "/frames/1/rendered": ["window", "viewport", "quality"],
        f"/dicom-web/studies/{st}/series/{se}/rendered": ["window", "viewport"],
        inst + "/thumbnail": ["viewport"],
        inst + "/metadata": ["includefield", "charset"],
        "/wado": ["requestType", "studyUID", "seriesUID", "objectUID", "contentType", "windowCenter",
                  "windowWidth", "rows", "columns", "frameNumber", "imageQuality", "transferSyntax"],
    }
    statuses: dict[int, int] = {}
    for route, names in query_routes.items():
        for name in names:
            for value in HOSTILE:
                base = {"requestType": "WADO", "studyUID": st, "seriesUID": se, "objectUID": so,
                        "contentType": "image/jpeg"} if route == "/wado" else {}
                base[name] = value
                query = "&".join(f"{k}={v if v.startswith('%') else quote(v, safe=',')}" for k, v in base.items())
                r = client.get(f"{route}?{query}")
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                assert r.status_code < 500, (route, name, value[:40], r.text[:200])
    path_templates = [
        "/dicom-web/studies/{v}", "/dicom-web/studies/{v}/metadata", "/dicom-web/studies/{v}/series",
        f"/dicom-web/studies/{st}/series/{{v}}", inst + "/frames/{v}", inst + "/bulk/{v}",
        inst + "/frames/{v}/rendered", "/api/jobs/{v}", "/api/jobs/{v}/report.csv",
    ]
    for template in path_templates:
        for value in HOSTILE:
            if not value or value in ("..", "%2e%2e%2f"):
                continue
            r = client.get(template.replace("{v}", value if value.startswith("%") else quote(value, safe=",")))
            assert r.status_code < 500, (template, value[:40], r.text[:200])
    assert statuses.get(200, 0) > 0 and statuses.get(400, 0) > 0
    got = client.get(inst, headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert got.status_code == 200 and data in got.content, "the stored instance is byte-identical"
