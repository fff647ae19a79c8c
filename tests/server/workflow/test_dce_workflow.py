"""DCE-MRI end to end on SQLite and PostgreSQL: a synthetic study made from the forward model is
stored through STOW-RS → the detector queues a DCE job → the in-process worker fits it → the maps,
the colour series and the report are in the study; CSV, PDF and the ROI curve endpoint answer.

Studies that are not DCE (ASL, other MR) get no DCE job.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from starlette.testclient import TestClient

from server.app import create_app
from server.routes.openapi import OPENAPI
from server.workflow import dce
from tests.conftest import authed_client
from tests.dicom_helpers import BOUNDARY, multipart, shared_dicom_files
from tests.quant.dce.builders import QUADRANTS, dce_study, phantom
from tests.quant.dce.builders import signal as phantom_signal
from tests.server.routes.test_openapi_contract import Contract
from tests.server.workflow.analysis_helpers import wait_jobs, zip_folder

STOW_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
DICOM_PART = {"accept": 'multipart/related; type="application/dicom"'}
MAP_ROLES = ("KTRANS", "VE", "KEP", "VP")


@pytest.fixture
def worker_client(database_url: str, settings_factory):  # type: ignore[no-untyped-def]
    settings = settings_factory(database_url, workers=1, stable_seconds=0.5)
    with authed_client(create_app(settings)) as c:
        yield c


def _bytes(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _wait_for_dce_job(c: TestClient, study: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [j for j in c.get(f"/api/jobs?study={study}").json()["jobs"] if j["method"] == "DCE"]
        if found:
            return found[0]
        time.sleep(0.3)
    raise AssertionError("no DCE job was queued for the study")


def _instances(c: TestClient, study: str, series: str) -> list[pydicom.Dataset]:
    meta = c.get(f"/dicom-web/studies/{study}/series/{series}/metadata").json()
    out = []
    for item in meta:
        sop = item["00080018"]["Value"][0]
        r = c.get(f"/dicom-web/studies/{study}/series/{series}/instances/{sop}", headers=DICOM_PART)
        assert r.status_code == 200
        body = r.content
        start = body.index(b"\r\n\r\n") + 4
        end = body.rindex(b"\r\n--")
        out.append(pydicom.dcmread(io.BytesIO(body[start:end])))
    return out


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page[^s]", pdf))


def _pdf_title(pdf: bytes) -> str:
    """The document title from the Info dictionary (reportlab writes it as UTF-16 with octal escapes)."""
    m = re.search(rb"/Title \((.*?)\) /", pdf, re.S)
    assert m, "the PDF has no title"
    raw = re.sub(rb"\\([0-7]{3})", lambda g: bytes([int(g.group(1), 8)]), m.group(1))
    raw = re.sub(rb"\\(.)", rb"\1", raw)
    return raw.decode("utf-16") if raw.startswith(b"\xfe\xff") else raw.decode("latin-1")


def _pdf_text(pdf: bytes) -> str:
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return done.stdout.decode()


def _centre(p, name: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    ys, xs = np.nonzero(p.regions[name][1])
    order = np.argsort((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
    return int(ys[order[0]]), int(xs[order[0]])


def test_synthetic_dce_study_through_the_server(worker_client: TestClient, tmp_path: Path) -> None:
    c = worker_client
    p = phantom(shape=(3, 32, 32), n_phases=30, dt=4.0, injection_phase=5)
    datasets = dce_study(p, "ge")
    study = str(datasets[0].StudyInstanceUID)
    r = c.post("/dicom-web/studies", content=multipart([_bytes(d) for d in datasets]),
               headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 200, r.text[:500]

    brief = _wait_for_dce_job(c, study)
    assert brief["labeling"] == "dce" and "DCE 30 phases" in brief["label"] and "VFA" in brief["label"]
    job = wait_jobs(c.get, [brief["id"]], timeout=240)[brief["id"]]
    assert job["state"] == "succeeded", job["reason"]
    assert [j["method"] for j in c.get(f"/api/jobs?study={study}").json()["jobs"]] == ["DCE"]

    # Parameters known when queued, with their source; provenance of the run.
    detected = job["parameters"]["detected"]
    assert detected["flip_angle"]["value"] == 15.0 and detected["flip_angle"]["source"] == "tag"
    assert detected["tr"]["value"] == pytest.approx(0.004)
    assert detected["vfa_flip_angles"]["value"] == [2.0, 5.0, 10.0, 15.0]
    assert detected["agent"]["value"] == "gadobutrol" and detected["agent"]["source"] == "tag"
    assert detected["relaxivity"]["value"] == 5.0
    assert detected["aif"]["value"] == "parker" and detected["hematocrit"]["value"] == 0.42
    assert set(job["parameter_schema"]) >= {"aif", "hematocrit", "injection_phase", "model"}
    assert "pld" not in job["parameter_schema"]
    prov = job["provenance"]
    assert prov["injection_phase"]["value"] == p.injection_phase
    assert prov["t10"]["source"] == "derived" and "VFA" in prov["t10"]["detail"]
    assert job["statistics"]["model"] == "extended_tofts"

    # Derived series in the study (QIDO), values at known voxels.
    [result] = job["results"]
    roles = result["series"]
    for role in MAP_ROLES:
        assert {role, f"{role}_PMAP"} <= set(roles), roles
    assert {"KTRANS_COLOUR", "REPORT"} <= set(roles)
    # The semi-quantitative curve parameters as MR series: the maximum enhancement of the q3 voxel is the
    # phantom's signal peak over its baseline.
    assert {"TTP", "MAXENH", "INITSLOPE", "MAXSLOPE", "WASHOUT", "AUC"} <= set(roles), roles
    sig = phantom_signal(p)
    y3, x3 = _centre(p, "q3")
    truth_enh = 100 * (sig[:, 1, y3, x3].max() / sig[: p.injection_phase, 1, y3, x3].mean() - 1)
    enh = {float(d.ImagePositionPatient[2]): d for d in _instances(c, study, roles["MAXENH"])}[
        float(p.geometry.positions[1][2])]
    assert float(enh.pixel_array[y3, x3]) * float(enh.RescaleSlope) == pytest.approx(truth_enh, rel=0.01)
    listed = c.get(f"/dicom-web/studies/{study}/series", headers={"accept": "application/dicom+json"}).json()
    listed_uids = {s["0020000E"]["Value"][0] for s in listed}
    assert set(roles.values()) <= listed_uids
    [pmap] = _instances(c, study, roles["KTRANS_PMAP"])
    assert pmap.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"
    frames = pmap.pixel_array.astype(float)
    per_frame = pmap.PerFrameFunctionalGroupsSequence
    positions = [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in per_frame]
    mr_ve = {float(d.ImagePositionPatient[2]): d for d in _instances(c, study, roles["VE"])}
    slice_z = float(p.geometry.positions[1][2])
    k = positions.index(slice_z)
    for q, (kt, ve, _vp) in QUADRANTS.items():
        y, x = _centre(p, q)
        assert frames[k, y, x] == pytest.approx(kt, rel=0.02), q
        img = mr_ve[slice_z]
        rwvm = img.RealWorldValueMappingSequence[0]
        assert rwvm.MeasurementUnitsCodeSequence[0].CodeValue == "{ratio}"
        assert float(img.pixel_array[y, x]) * float(rwvm.RealWorldValueSlope) == pytest.approx(ve, rel=0.02), q
    colour = _instances(c, study, roles["KTRANS_COLOUR"])
    assert colour[0].PhotometricInterpretation == "RGB" and len(colour) == p.shape[0]

    # Regional CSV: the whole mask and the Ktrans hot spot.
    rows = list(csv.DictReader(io.StringIO(c.get(f"/api/jobs/{job['id']}/report.csv").text)))
    by = {(r["region"], r["map"]): r for r in rows}
    # The enhancing mask is the tissue and the artery; the quadrants' Ktrans are 0.05–0.3 /min.
    assert int(by[("mask", "ktrans")]["n"]) == int((p.regions["tissue"] | p.regions["artery"]).sum())
    assert 0.05 * 0.98 <= float(by[("mask", "ktrans")]["median"]) <= 0.3 * 1.02
    assert float(by[("hotspot", "ktrans")]["mean"]) == pytest.approx(0.3, rel=0.05)  # the q4 quadrant
    assert by[("mask", "ktrans")]["unit"] == "/min"

    # PDF: three pages (maps, curves and regions, parameters) in both languages; also in the study.
    for lang, title in (("en", "DCE-MRI pharmacokinetic analysis report"), ("zh-CN", "DCE-MRI 药代动力学分析报告")):
        pdf = c.get(f"/api/jobs/{job['id']}/report.pdf?lang={lang}")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert _pdf_pages(pdf.content) == 3
        assert _pdf_title(pdf.content) == title
        assert pdf.content.count(b"/Subtype /Image") >= 2  # the Ktrans slices and the curve plot
    [epdf] = _instances(c, study, roles["REPORT"])
    assert epdf.SeriesDescription == "DCE-MRI report (v1)" and bytes(epdf.EncapsulatedDocument).startswith(b"%PDF")

    # The ROI curve: a circle and a rectangle in the q3 quadrant follow the forward model.
    contract = Contract(OPENAPI)
    cache = c.app.state.ctx.memory.dce
    loads = cache.loads
    y, x = _centre(p, "q3")
    truth_mask = dce.roi_mask(p.shape, {"slice": 1, "x": x, "y": y, "r": 2})
    answer = contract.check(c.get(f"/api/jobs/{job['id']}/dce/curve?slice=1&x={x}&y={y}&r=2"),
                            "/jobs/{job_id}/dce/curve")
    assert answer["n_voxels"] == int(truth_mask.sum())
    expected = p.conc[:, truth_mask].mean(axis=1)
    assert np.allclose(answer["concentration_mM"], expected, atol=0.01 * expected.max())
    assert answer["phase_times_s"] == pytest.approx(list(p.times))
    kt, ve, vp = QUADRANTS["q3"]
    assert answer["maps"]["ktrans"]["median"] == pytest.approx(kt, rel=0.02)
    assert answer["maps"]["ve"]["median"] == pytest.approx(ve, rel=0.02)
    assert answer["maps"]["vp"]["median"] == pytest.approx(vp, rel=0.05)
    assert len(answer["aif"]["plasma_mM"]) == p.times.size and answer["aif"]["kind"] == "parker"
    assert max(answer["relative_enhancement"][:p.injection_phase]) < 0.01 < max(answer["relative_enhancement"])
    rect = contract.check(c.get(f"/api/jobs/{job['id']}/dce/curve?slice=1&x={x - 1}&y={y - 1}&width=3&height=3"),
                          "/jobs/{job_id}/dce/curve")
    assert rect["n_voxels"] == 9 and rect["roi"] == {"slice": 1, "x": x - 1, "y": y - 1, "width": 3, "height": 3}
    # An ellipse and a freehand polygon (the viewer's ROI tools) over the same pixels as masks here.
    ellipse = contract.check(c.get(f"/api/jobs/{job['id']}/dce/curve?slice=1&x={x}&y={y}&rx=2.5&ry=1.2"),
                             "/jobs/{job_id}/dce/curve")
    e_mask = dce.roi_mask(p.shape, {"slice": 1, "x": x, "y": y, "rx": 2.5, "ry": 1.2})
    assert ellipse["n_voxels"] == int(e_mask.sum()) == 11  # rows: 3, 5, 3
    assert np.allclose(ellipse["concentration_mM"], p.conc[:, e_mask].mean(axis=1), atol=0.01 * expected.max())
    square = f"{x - 1.5},{y - 1.5};{x + 1.5},{y - 1.5};{x + 1.5},{y + 1.5};{x - 1.5},{y + 1.5}"
    poly = contract.check(c.get(f"/api/jobs/{job['id']}/dce/curve?slice=1&points={square}"),
                          "/jobs/{job_id}/dce/curve")
    assert poly["n_voxels"] == 9 and poly["concentration_mM"] == pytest.approx(rect["concentration_mM"])
    assert poly["maps"]["ktrans"]["median"] == pytest.approx(rect["maps"]["ktrans"]["median"])
    for bad in (f"slice=1&points={x},{y};{x + 1},{y}", "slice=1&points=1,2;3;4,5", f"slice=1&x=3&points={square}",
                "slice=1&x=3&y=3&rx=2&r=1"):
        assert "error" in contract.check(c.get(f"/api/jobs/{job['id']}/dce/curve?{bad}"), "/jobs/{job_id}/dce/curve")
    # The ROI drawn on an image of the dynamic series (any phase) names it by SOP Instance UID: its slice.
    dynamic = Counter(str(d.SeriesInstanceUID) for d in datasets).most_common(1)[0][0]
    on_slice = [d for d in datasets if str(d.SeriesInstanceUID) == dynamic
                and float(d.ImagePositionPatient[2]) == pytest.approx(slice_z)]
    by_sop = contract.check(c.get(f"/api/jobs/{job['id']}/dce/curve?sop={on_slice[-1].SOPInstanceUID}&points={square}"),
                            "/jobs/{job_id}/dce/curve")
    assert by_sop["roi"]["slice"] == 1 and by_sop["concentration_mM"] == pytest.approx(poly["concentration_mM"])
    # An ROI drawn on a map of the job (same pixel grid) means the same pixels of the dynamic series.
    on_map = contract.check(c.get(f"/api/jobs/{job['id']}/dce/curve?sop={img.SOPInstanceUID}&points={square}"),
                            "/jobs/{job_id}/dce/curve")
    assert on_map["roi"]["slice"] == 1 and on_map["concentration_mM"] == pytest.approx(poly["concentration_mM"])
    assert on_map["maps"]["auc"]["n"] == 9 and on_map["maps"]["ttp"]["median"] is not None
    [colour_img] = [d for d in colour if float(d.ImagePositionPatient[2]) == pytest.approx(slice_z)][:1]
    assert "pixel grid" in contract.check(
        c.get(f"/api/jobs/{job['id']}/dce/curve?sop={colour_img.SOPInstanceUID}&points={square}"),
        "/jobs/{job_id}/dce/curve")["error"]
    other = next(d for d in datasets if str(d.SeriesInstanceUID) != dynamic)
    # A VFA image shares the grid: its slice; an image not in the study is refused.
    vfa_slice = [float(q[2]) for q in p.geometry.positions].index(float(other.ImagePositionPatient[2]))
    assert contract.check(c.get(f"/api/jobs/{job['id']}/dce/curve?sop={other.SOPInstanceUID}&x=3&y=3&r=1"),
                          "/jobs/{job_id}/dce/curve")["roi"]["slice"] == vfa_slice
    assert "not an image of the job's study" in contract.check(
        c.get(f"/api/jobs/{job['id']}/dce/curve?sop=1.2.3.4&x=3&y=3&r=1"), "/jobs/{job_id}/dce/curve")["error"]
    # The series was read once for all these curves; the cache holds its phases and VFA volumes as float32.
    assert cache.loads == loads + 1 and cache.hits >= 5
    assert cache.size == (p.times.size + 4) * int(np.prod(p.shape)) * 4
    for bad in ("slice=1&x=3", "slice=9&x=3&y=3&r=2", "slice=1&x=3&y=3&r=2&width=2", "slice=1&x=a&y=3&r=1"):
        r = contract.check(c.get(f"/api/jobs/{job['id']}/dce/curve?{bad}"), "/jobs/{job_id}/dce/curve")
        assert "error" in r
    contract.check(c.get("/api/jobs/999999/dce/curve?slice=1&x=3&y=3&r=1"), "/jobs/{job_id}/dce/curve")
    # The job's JSON matches the document too (Statistics.dce, method, parameter_schema).
    contract.check(c.get(f"/api/jobs/{job['id']}"), "/jobs/{job_id}")

    # A drawn tumour ROI is kept with the job, which runs again and reports it (CSV, statistics, PDF).
    rois_path = f"/api/jobs/{job['id']}/dce/rois"
    circle = {"slice": 1, "x": 3, "y": 3, "r": 2}
    for bad in ({"rois": {"bad name": circle}}, {"rois": {"t": {**circle, "slice": 7}}}, {"rois": []}, {"other": 1}):
        contract.check(c.put(rois_path, json=bad), "/jobs/{job_id}/dce/rois")
    contract.check(c.put("/api/jobs/999999/dce/rois", json={"rois": {}}), "/jobs/{job_id}/dce/rois")
    tumour = {"slice": 1, "x": x, "y": y, "r": 3}
    # ... with the arterial region drawn on the artery: the AIF is measured there and the region recorded.
    ay, ax = _centre(p, "artery")
    artery = {"slice": 2, "x": ax, "y": ay, "r": 1.5}
    contract.check(c.put(rois_path, json={"rois": {}, "aif_roi": {"slice": 2, "x": 3}}), "/jobs/{job_id}/dce/rois")
    queued = contract.check(c.put(rois_path, json={"rois": {"tumour": tumour}, "aif_roi": artery}),
                            "/jobs/{job_id}/dce/rois")
    assert queued["state"] == "queued" and queued["parameters"]["overrides"]["rois"] == {"tumour": tumour}
    assert queued["parameters"]["overrides"]["aif_roi"] == artery
    again = wait_jobs(c.get, [job["id"]], timeout=240)[job["id"]]
    assert again["state"] == "succeeded" and again["version"] == 2, again["reason"]
    aif = again["statistics"]["dce"]["aif"]
    a_mask = dce.roi_mask(p.shape, artery)
    assert aif["kind"] == "measured" and aif["region"]["how"] == "drawn" and aif["region"]["roi"] == artery
    assert aif["region"]["n_voxels"] == int(a_mask.sum()) and aif["region"]["slices"] == [2]
    assert sorted(map(tuple, aif["region"]["voxels"])) == sorted(map(tuple, np.argwhere(a_mask).tolist()))
    # The measured plasma AIF is the artery's blood curve over (1 − hematocrit).
    blood = p.conc[:, a_mask].mean(axis=1)
    assert np.allclose(aif["plasma_mM"], blood / (1 - 0.42), atol=0.03 * blood.max() / (1 - 0.42))
    # The ROI curve's model values use that AIF again (measured from the recorded voxels).
    measured = contract.check(c.get(f"/api/jobs/{job['id']}/dce/curve?slice=1&x={x}&y={y}&r=2"),
                              "/jobs/{job_id}/dce/curve")
    assert measured["aif"]["kind"] == "measured" and measured["aif"]["region"]["n_voxels"] == int(a_mask.sum())
    assert measured["maps"]["ktrans"]["median"] == pytest.approx(kt, rel=0.05)
    for lang, words in (("en", "Arterial input function: drawn region"), ("zh-CN", "动脉输入函数：手绘区域")):
        text = _pdf_text(c.get(f"/api/jobs/{job['id']}/report.pdf?lang={lang}").content)
        assert words in text and f"{int(a_mask.sum())}" in text, text[:2000]
    rows = list(csv.DictReader(io.StringIO(c.get(f"/api/jobs/{job['id']}/report.csv").text)))
    by = {(r["region"], r["map"]): r for r in rows}
    assert int(by[("roi_tumour", "ktrans")]["n"]) == int(dce.roi_mask(p.shape, tumour).sum())
    assert float(by[("roi_tumour", "ktrans")]["median"]) == pytest.approx(kt, rel=0.02)
    assert set(again["statistics"]["dce"]["curves"]) >= {"mask", "roi_tumour"}
    contract.check(c.get(f"/api/jobs/{job['id']}"), "/jobs/{job_id}")
    contract.provoke_refusals(c, lambda template: template.startswith("/jobs/{job_id}/dce/"))
    for path in ("/jobs/{job_id}/dce/curve", "/jobs/{job_id}/dce/rois"):
        documented = {d for d in contract.documented() if d[0] == path}
        # 409 (no result yet / running) needs a job caught before or during its run.
        assert {d for d in documented - contract.seen if d[2] != "409"} == set(), path

    # New instances in the series: the next curve loads the series again; a DELETE drops the arrays.
    loads = cache.loads
    c.get(f"/api/jobs/{job['id']}/dce/curve?slice=1&x={x}&y={y}&r=2")
    assert cache.loads == loads  # still cached
    extra = datasets[0].copy()
    extra.SOPInstanceUID = pydicom.uid.generate_uid()
    extra.file_meta.MediaStorageSOPInstanceUID = extra.SOPInstanceUID
    r = c.post("/dicom-web/studies", content=multipart([_bytes(extra)]), headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 200, r.text[:300]
    c.get(f"/api/jobs/{job['id']}/dce/curve?slice=1&x={x}&y={y}&r=2")
    assert cache.loads == loads + 1 and len(cache) <= 1
    assert c.delete(f"/dicom-web/studies/{study}").status_code in (200, 204)
    assert len(cache) == 0 and cache.size == 0


@pytest.fixture
def detector_client(database_url: str, settings_factory):  # type: ignore[no-untyped-def]
    settings = settings_factory(database_url, workers=0, stable_seconds=0.5)
    with authed_client(create_app(settings)) as c:
        yield c


def test_other_studies_get_no_dce_job(detector_client: TestClient, shared_data: Path) -> None:
    c = detector_client
    r = c.post("/api/uploads", files=[("file", ("asl.zip", zip_folder(shared_data / "asl/siemens/pcasl3d"),
                                                "application/zip"))])
    assert r.status_code == 200, r.text[:300]
    opened = r.json()["jobs"]
    assert opened and {j["method"] for j in opened} == {"ASL"}
    parts = [p.read_bytes() for p in shared_dicom_files(shared_data / "transfer-syntaxes")[:2]]
    parts += [Path(get_testdata_file(name)).read_bytes() for name in ("MR_small.dcm", "CT_small.dcm")]
    studies = {str(pydicom.dcmread(io.BytesIO(b), stop_before_pixels=True).StudyInstanceUID) for b in parts}
    assert c.post("/dicom-web/studies", content=multipart(parts), headers={"Content-Type": STOW_TYPE}).status_code in (
        200, 202)
    time.sleep(2.0)  # the quiet period passes and the detector evaluates the studies
    for study in studies:
        assert c.get(f"/api/jobs?study={study}").json()["jobs"] == []


def test_non_dce_files_classify_as_nothing(shared_data: Path) -> None:
    files = shared_dicom_files(shared_data / "asl/siemens") + shared_dicom_files(shared_data / "transfer-syntaxes")
    files += [Path(get_testdata_file(n)) for n in ("MR_small.dcm", "MR_small_RLE.dcm", "CT_small.dcm")]
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    assert dce.classify(datasets) == []


def test_missing_flip_angle_waits_and_a_bad_value_fails_visibly(worker_client: TestClient) -> None:
    c = worker_client
    p = phantom(shape=(2, 24, 24), n_phases=20, dt=4.0, injection_phase=4)
    datasets = dce_study(p, "ge")
    for ds in datasets:
        if ds.SeriesDescription == "DCE":
            del ds.FlipAngle
    study = str(datasets[0].StudyInstanceUID)
    assert c.post("/dicom-web/studies", content=multipart([_bytes(d) for d in datasets]),
                  headers={"Content-Type": STOW_TYPE}).status_code == 200
    brief = _wait_for_dce_job(c, study)
    job = wait_jobs(c.get, [brief["id"]], timeout=60)[brief["id"]]
    assert job["state"] == "waiting" and job["missing"] == ["flip_angle"], job
    assert job["reason"] == "waiting for: flip angle of the dynamic series"
    assert "start" in job["actions"] and "set_parameters" in job["actions"]
    # An unknown agent is refused at once; a value the engine refuses fails the run, saying why.
    r = c.post(f"/api/jobs/{job['id']}/parameters", json={"agent": "water"})
    assert r.status_code == 400 and "contrast agent must be one of" in r.json()["error"]
    r = c.post(f"/api/jobs/{job['id']}/parameters", json={"flip_angle": 15, "injection_phase": 0})
    assert r.status_code == 200 and r.json()["state"] == "queued", r.text
    done = wait_jobs(c.get, [job["id"]], timeout=120)[job["id"]]
    assert done["state"] == "failed", done
    assert "injection_phase 0" in done["reason"] and "internal error" not in done["reason"]
    assert "rerun" in done["actions"] and done["parameters"]["overrides"]["flip_angle"] == 15
    listed = c.get("/api/jobs?status=failed").json()["jobs"]
    assert [j["method"] for j in listed if j["id"] == job["id"]] == ["DCE"]


def test_automatic_aif_region_is_recorded_with_the_job(worker_client: TestClient) -> None:
    """``aif = auto``: the engine finds the arterial voxels itself; the job records which (how, count,
    voxels) and they lie in the phantom's artery; the report names the detected region."""
    c = worker_client
    p = phantom(shape=(2, 24, 24), n_phases=20, dt=4.0, injection_phase=4)
    datasets = dce_study(p, "ge")
    for ds in datasets:
        if ds.SeriesDescription == "DCE":
            del ds.FlipAngle  # the job waits, so the AIF choice is made before it runs
    study = str(datasets[0].StudyInstanceUID)
    assert c.post("/dicom-web/studies", content=multipart([_bytes(d) for d in datasets]),
                  headers={"Content-Type": STOW_TYPE}).status_code == 200
    brief = _wait_for_dce_job(c, study)
    job = wait_jobs(c.get, [brief["id"]], timeout=60)[brief["id"]]
    assert job["state"] == "waiting", job
    r = c.post(f"/api/jobs/{job['id']}/parameters", json={"flip_angle": p.flip, "aif": "auto"})
    assert r.status_code == 200 and r.json()["state"] == "queued", r.text
    done = wait_jobs(c.get, [job["id"]], timeout=120)[job["id"]]
    assert done["state"] == "succeeded", done["reason"]
    region = done["statistics"]["dce"]["aif"]["region"]
    assert region["how"] == "auto" and region["roi"] is None and region["n_voxels"] > 0
    artery = p.regions["artery"]
    assert region["voxels"] and all(artery[k, y, x] for k, y, x in region["voxels"]), region
    assert region["n_voxels"] == len(region["voxels"]) <= int(artery.sum())
    dynamic = {str(d.SeriesInstanceUID) for d in datasets if d.SeriesDescription == "DCE"}
    assert {region["series_uid"]} == dynamic and region.get("runs") is None
    prov = done["provenance"]["aif_region"]
    assert prov["source"] == "derived" and prov["value"].startswith(f"auto: {region['n_voxels']} voxels")
    assert region["series_uid"] in prov["detail"]
    rows = list(csv.DictReader(io.StringIO(c.get(f"/api/jobs/{job['id']}/report.csv").text)))
    by = {(r["region"], r["map"]): r for r in rows}
    assert int(by[("aif_region", "max_enhancement")]["n"]) == region["n_voxels"]
    # The ROI curve's model values use the detected region again (not Parker's AIF).
    y, x = _centre(p, "q3")
    answer = c.get(f"/api/jobs/{job['id']}/dce/curve?slice=1&x={x}&y={y}&r=2").json()
    assert answer["aif"]["kind"] == "auto" and answer["aif"]["region"]["how"] == "auto", answer["aif"]
    # ... the same values as the job's Ktrans map (fitted with the detected AIF) on those voxels.
    kt_series = done["results"][-1]["series"]["KTRANS"]
    kt_map = {float(d.ImagePositionPatient[2]): d for d in _instances(c, study, kt_series)}
    img = kt_map[float(p.geometry.positions[1][2])]
    disc = dce.roi_mask(p.shape, {"slice": 1, "x": x, "y": y, "r": 2})[1]
    expected = float(np.median(img.pixel_array[disc] * float(img.RescaleSlope)))
    assert answer["maps"]["ktrans"]["median"] == pytest.approx(expected, rel=0.01)
    for lang, word in (("en", "automatically detected"), ("zh-CN", "自动检测")):
        text = _pdf_text(c.get(f"/api/jobs/{job['id']}/report.pdf?lang={lang}").content)
        assert word in text and str(region["n_voxels"]) in text, text[:1500]
