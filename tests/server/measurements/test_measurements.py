"""The viewer's measurements stored as a TID 1500 SR and read back via DICOMweb (SQLite and PostgreSQL).

A real app stores a CT study by STOW; the measurements go in as JSON, come out of QIDO and WADO as
a Comprehensive 3D SR that highdicom parses back to the same tools, points and numbers, and that
dciodvfy (dicom3tools) reports no error on. A second save is a new instance naming the first as its
predecessor; an empty save clears; wrong input is refused with the reason.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import highdicom as hd
import pydicom
import pytest
from starlette.testclient import TestClient

from dicomweb.multipart import MultipartDecoder, PartData, PartEnd, boundary_of
from server.measurements.report import CLEARED
from server.routes.openapi import OPENAPI
from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart
from tests.server.routes.test_openapi_contract import Contract

DICOM = 'multipart/related; type="application/dicom"'
TEMPLATE = "/studies/{study}/measurements"


def store_ct(c: TestClient, n: int = 3, size: int = 64) -> tuple[str, str, list[str]]:
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    sops = [pydicom.uid.generate_uid() for _ in range(n)]
    parts = [ct_instance(study, series, sop, number=i + 1, size=size, patient="Measure^Me")
             for i, sop in enumerate(sops)]
    r = c.post("/dicom-web/studies", content=multipart(parts), headers={"content-type": STOW_TYPE})
    assert r.status_code == 200, r.text
    return study, series, sops


def retrieve(c: TestClient, url: str) -> list[bytes]:
    r = c.get(url, headers={"accept": DICOM})
    assert r.status_code == 200, r.text[:300]
    decoder = MultipartDecoder(boundary_of(r.headers["content-type"]))
    parts: list[bytes] = []
    current = bytearray()
    for event in [*decoder.feed(r.content), *decoder.close()]:
        if isinstance(event, PartData):
            current += event.data
        elif isinstance(event, PartEnd):
            parts.append(bytes(current))
            current = bytearray()
    return parts


def sr_series(c: TestClient, study: str) -> list[dict[str, Any]]:
    r = c.get(f"/dicom-web/studies/{study}/series", params={"Modality": "SR"})
    assert r.status_code in (200, 204), r.text
    return r.json() if r.status_code == 200 else []


def test_measurements_round_trip_as_tid1500_sr(client: TestClient, tmp_path: Path) -> None:
    c = client
    contract = Contract(OPENAPI)
    study, series, sops = store_ct(c)
    on = {"series_instance_uid": series, "sop_instance_uid": sops[1]}
    hu = {"mean": "HU", "sd": "HU", "min": "HU", "max": "HU"}
    body = {"measurements": [
        {**on, "tool": "length", "uid": "0f8fad5b-d9cb-469f-a165-70867728950e", "label": "lesion",
         "points": [[10.5, 12.5], [40.5, 52.5]], "values": {"length": 25.0}},
        {**on, "tool": "angle", "points": [[5, 5], [20, 20], [40, 5]], "values": {"angle": 90.0}},
        {**on, "tool": "ellipse", "points": [[30, 40], [30, 20], [20, 30], [40, 30]],
         "values": {"area": 314.2, "mean": 20.5, "sd": 3.25, "min": -5, "max": 60}, "units": hu},
        {**on, "tool": "rectangle", "points": [[10, 10], [30, 10], [30, 30], [10, 30]],
         "values": {"area": 400, "mean": 11}, "units": {"mean": "HU"}},
        {**on, "tool": "freehand", "points": [[10, 10], [30, 12], [25, 30], [12, 28]],
         "values": {"area": 300, "mean": 42.5}, "units": {"mean": "ml/100g/min"}},
        {"series_instance_uid": series, "sop_instance_uid": sops[2], "tool": "probe", "points": [[3.5, 4.5]],
         "values": {"value": -1000}, "units": {"value": "HU"}},
    ]}
    r = c.post(f"/api/studies/{study}/measurements", json=body)
    assert r.status_code == 200, r.text
    saved = contract.check(r, TEMPLATE)
    assert saved["count"] == 6 and saved["instance_number"] == 1 and saved["study_instance_uid"] == study

    # QIDO: the study has a measurement SR series holding the new instance.
    [found] = sr_series(c, study)
    assert found["0020000E"]["Value"] == [saved["series_instance_uid"]]
    assert found["0008103E"]["Value"] == ["Measurements"]
    r = c.get(f"/dicom-web/studies/{study}/series/{saved['series_instance_uid']}/instances")
    assert [i["00080018"]["Value"][0] for i in r.json()] == [saved["sop_instance_uid"]]

    # WADO: highdicom reads the same tools, points and numbers back.
    [raw] = retrieve(c, f"/dicom-web/studies/{study}/series/{saved['series_instance_uid']}"
                        f"/instances/{saved['sop_instance_uid']}")
    doc = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(io.BytesIO(raw)))
    assert doc.PatientName == "Measure^Me" and doc.StudyInstanceUID == study
    groups = doc.content.get_planar_roi_measurement_groups()
    assert [g.tracking_identifier for g in groups] == [
        "Cornerstone3DTools@^0.1.0:" + t
        for t in ("Length", "Angle", "EllipticalROI", "RectangleROI", "PlanarFreehandROI", "Probe")]
    length, angle, ellipse, rectangle, freehand, probe = groups
    assert length.tracking_uid == "2.25." + str(int("0f8fad5b-d9cb-469f-a165-70867728950e".replace("-", ""), 16))
    assert length.roi.GraphicType == "POLYLINE" and list(length.roi.value.ravel()) == [10.5, 12.5, 40.5, 52.5]
    assert length.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == sops[1]
    assert [(m.name.value, m.value, m.unit.value) for m in length.get_measurements()] == [("410668003", 25.0, "mm")]
    assert angle.roi.value.shape == (3, 2) and angle.get_measurements()[0].unit.value == "deg"
    assert ellipse.roi.GraphicType == "ELLIPSE" and ellipse.roi.value.shape == (4, 2)
    assert {m.name.meaning: (m.value, m.unit.value) for m in ellipse.get_measurements()} == {
        "Area": (314.2, "mm2"), "Mean": (20.5, "[hnsf'U]"), "Standard Deviation": (3.25, "[hnsf'U]"),
        "Minimum": (-5.0, "[hnsf'U]"), "Maximum": (60.0, "[hnsf'U]")}
    # Closed shapes are polylines whose last point repeats the first.
    assert rectangle.roi.value.shape == (5, 2) and list(rectangle.roi.value[-1]) == [10, 10]
    assert freehand.roi.value.shape == (5, 2)
    assert freehand.get_measurements()[1].unit.value == "ml/100g/min"
    assert probe.roi.GraphicType == "POINT"
    assert probe.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == sops[2]
    assert probe.get_measurements()[0].value == -1000

    if shutil.which("dciodvfy"):
        path = tmp_path / "sr.dcm"
        path.write_bytes(raw)
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
        assert not errors, errors

    # A second save is a new instance naming the first as its predecessor; the newest is current.
    r = c.post(f"/api/studies/{study}/measurements", json={"measurements": body["measurements"][:1]})
    second = contract.check(r, TEMPLATE)
    assert second["instance_number"] == 2 and second["series_instance_uid"] == saved["series_instance_uid"]
    [raw2] = retrieve(c, f"/dicom-web/studies/{study}/series/{second['series_instance_uid']}"
                         f"/instances/{second['sop_instance_uid']}")
    ds2 = pydicom.dcmread(io.BytesIO(raw2))
    predecessor = ds2.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert predecessor.ReferencedSOPInstanceUID == saved["sop_instance_uid"]
    assert len(hd.sr.Comprehensive3DSR.from_dataset(ds2).content.get_planar_roi_measurement_groups()) == 1

    # "Clear all": a report without measurements (one empty group names it).
    r = c.post(f"/api/studies/{study}/measurements", json={"measurements": []})
    cleared = contract.check(r, TEMPLATE)
    assert cleared["count"] == 0 and cleared["instance_number"] == 3
    [raw3] = retrieve(c, f"/dicom-web/studies/{study}/series/{cleared['series_instance_uid']}"
                         f"/instances/{cleared['sop_instance_uid']}")
    doc3 = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(io.BytesIO(raw3)))
    assert doc3.content.get_planar_roi_measurement_groups() == []
    assert CLEARED.encode() in raw3
    assert [len(sr_series(c, study))] == [1]

    # Refusals, each naming what is wrong.
    def refused(payload: Any, status: int, words: str, url: str = f"/api/studies/{study}/measurements") -> None:
        r = c.post(url, json=payload) if not isinstance(payload, bytes) else c.post(url, content=payload)
        assert r.status_code == status, r.text
        assert words in contract.check(r, TEMPLATE)["error"], r.text

    one = body["measurements"][0]
    other_study, other_series, other_sops = store_ct(c, n=1)
    refused({"measurements": [{**one, "sop_instance_uid": other_sops[0], "series_instance_uid": other_series}]},
            400, "is not an instance of study")
    refused({"measurements": [{**one, "series_instance_uid": other_series}]}, 400, "belongs to series")
    refused({"measurements": [{**one, "points": [[1, 1], [65.5, 70]]}]}, 400, "outside the 64×64 image")
    refused({"measurements": [{**one, "tool": "arrow"}]}, 400, "tool must be one of")
    refused({"measurements": [{**one, "points": [[1, 1]]}]}, 400, "a length has 2 points")
    refused({"measurements": [{**one, "values": {"mean": 3}}]}, 400, "a length carries length")
    refused({"measurements": [{**one, "values": {"length": "far"}}]}, 400, "must be a finite number")
    refused({"measurements": [one, one]}, 400, "is used twice")
    refused({"measurements": [{**one, "units": {"length": "furlong"}}]}, 400, "unknown unit")
    refused(b"{not json", 400, "not valid JSON")
    unknown = pydicom.uid.generate_uid()
    refused({"measurements": []}, 404, "not in the archive", url=f"/api/studies/{unknown}/measurements")
    refused({"measurements": []}, 400, "UID", url="/api/studies/not-a-uid/measurements")
    # Nothing refused was stored.
    r = c.get(f"/dicom-web/studies/{study}/series/{saved['series_instance_uid']}/instances")
    assert len(r.json()) == 3
    assert sr_series(c, other_study) == []
    missing = {d for d in contract.documented() if d[0] == TEMPLATE} - contract.seen
    assert missing <= {(TEMPLATE, "post", "401"), (TEMPLATE, "post", "403"), (TEMPLATE, "post", "409")}, missing


@pytest.mark.parametrize("tool,points", [("length", [[0, 0], [64, 64]]), ("probe", [[63.9, 0.1]])])
def test_points_on_the_image_border_are_accepted(sqlite_client: TestClient, tool: str,
                                                 points: list[list[float]]) -> None:
    study, series, sops = store_ct(sqlite_client, n=1)
    m = {"tool": tool, "series_instance_uid": series, "sop_instance_uid": sops[0], "points": points}
    r = sqlite_client.post(f"/api/studies/{study}/measurements", json={"measurements": [m]})
    assert r.status_code == 200, r.text


def test_key_image_is_a_key_object_selection_in_the_study(client: TestClient, tmp_path: Path) -> None:
    c = client
    contract = Contract(OPENAPI)
    template = "/studies/{study}/key-images"
    study, series, sops = store_ct(c, n=2)
    url = f"/api/studies/{study}/key-images"
    r = c.post(url, json={"series_instance_uid": series, "sop_instance_uid": sops[1], "note": "出血 bleed"})
    assert r.status_code == 200, r.text
    first = contract.check(r, template)
    r = c.post(url, json={"series_instance_uid": series, "sop_instance_uid": sops[0], "frame": 1})
    second = contract.check(r, template)
    assert (first["instance_number"], second["instance_number"]) == (1, 2)
    assert first["series_instance_uid"] == second["series_instance_uid"]
    r = c.get(f"/dicom-web/studies/{study}/series", params={"Modality": "KO"})
    assert [s["0020000E"]["Value"][0] for s in r.json()] == [first["series_instance_uid"]]
    [raw] = retrieve(c, f"/dicom-web/studies/{study}/series/{first['series_instance_uid']}"
                        f"/instances/{first['sop_instance_uid']}")
    ds = pydicom.dcmread(io.BytesIO(raw))
    ko = hd.ko.KeyObjectSelectionDocument.from_dataset(ds)
    assert ko.ConceptNameCodeSequence[0].CodeValue == "113000"  # Of Interest
    [image] = [i for i in ds.ContentSequence if i.ValueType == "IMAGE"]
    assert image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == sops[1]
    [text] = [i for i in ds.ContentSequence if i.ValueType == "TEXT"]
    assert text.TextValue == "出血 bleed" and ds.PatientName == "Measure^Me"
    if shutil.which("dciodvfy"):
        path = tmp_path / "ko.dcm"
        path.write_bytes(raw)
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
        assert not errors, errors
    _, other_series, other_sops = store_ct(c, n=1)
    for body, status, words in [
        ({"series_instance_uid": other_series, "sop_instance_uid": other_sops[0]}, 400, "is not an instance of study"),
        ({"series_instance_uid": other_series, "sop_instance_uid": sops[0]}, 400, "belongs to series"),
        ({"series_instance_uid": series, "sop_instance_uid": sops[0], "frame": 2}, 400, "has 1 frame"),
        ({"series_instance_uid": series, "sop_instance_uid": "x"}, 400, "must be a DICOM UID"),
    ]:
        r = c.post(url, json=body)
        assert r.status_code == status and words in contract.check(r, template)["error"], r.text
    r = c.post(f"/api/studies/{pydicom.uid.generate_uid()}/key-images",
               json={"series_instance_uid": series, "sop_instance_uid": sops[0]})
    assert r.status_code == 404 and contract.check(r, template)
    assert len(c.get(f"/dicom-web/studies/{study}/series/{first['series_instance_uid']}/instances").json()) == 2
