"""End to end on SQLite and PostgreSQL: upload → detection → worker → derived series and reports.

The in-process worker of the embedded default computes the jobs (``workers=1``).
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.conftest import authed_client
from tests.server.workflow.analysis_helpers import colourful_fraction, ink_fraction, pdf_pages, wait_jobs, zip_folder

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"


@pytest.fixture
def worker_client(database_url: str, settings_factory):  # type: ignore[no-untyped-def]
    settings = settings_factory(database_url, workers=1, stable_seconds=1.0)
    with authed_client(create_app(settings)) as c:
        yield c


def series_metadata(client: TestClient, study: str, series: str) -> list[dict]:
    r = client.get(f"/dicom-web/studies/{study}/series/{series}/metadata")
    assert r.status_code == 200, r.text
    return r.json()


def qido_series(client: TestClient, study: str) -> list[str]:
    r = client.get(f"/dicom-web/studies/{study}/series", headers={"accept": "application/dicom+json"})
    assert r.status_code == 200, r.text
    return [s["0020000E"]["Value"][0] for s in r.json()]


def test_siemens_zip_jobs_succeed_with_plausible_cbf(worker_client: TestClient, shared_data: Path,
                                                     tmp_path: Path) -> None:
    c = worker_client
    r = c.post("/api/uploads", files=[("file", ("siemens.zip", zip_folder(shared_data / "asl/siemens"),
                                                "application/zip"))])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stored"] == 135 and body["failed"] == []
    assert any(s["name"].endswith("LICENSE") for s in body["skipped"])
    labels = {j["label"].split(":")[1].strip(): j["id"] for j in body["jobs"]}
    assert set(labels) == {"pcasl_2d", "pasl_3d", "pcasl_3d"}, labels
    jobs = wait_jobs(c.get, list(labels.values()))
    # 3D pCASL: M0 first volume, 8 pairs and one unpaired last control (left out, said so);
    # background suppression (sAsl.ulSuppressionMode) lowers α to 0.85 × 0.83.
    pcasl3d = jobs[labels["pcasl_3d"]]
    assert pcasl3d["state"] == "succeeded", pcasl3d["reason"]
    assert 30 < pcasl3d["statistics"]["whole_brain"]["mean"] < 80, pcasl3d["statistics"]["whole_brain"]
    assert pcasl3d["provenance"]["bs_efficiency"]["value"] == 0.83
    assert pcasl3d["provenance"]["m0"]["value"] == "first volume"
    assert "has no partner and was left out" in pcasl3d["reason"]
    # 3D PASL cannot be quantified: its "M0" series was acquired with the ASL protocol itself
    # (labeling and background suppression on), so there is no M0; the job fails saying so.
    pasl3d = jobs[labels["pasl_3d"]]
    assert pasl3d["state"] == "failed", pasl3d
    assert "'pasl_3d_m0' was not used as M0" in pasl3d["reason"], pasl3d["reason"]
    assert "background suppression" in pasl3d["reason"] and "internal error" not in pasl3d["reason"]

    job = jobs[labels["pcasl_2d"]]
    assert job["state"] == "succeeded", job["reason"]
    whole = job["statistics"]["whole_brain"]
    assert 20 < whole["mean"] < 80, whole
    assert job["provenance"]["m0"]["value"] == "separate series"
    listed = c.get(f"/api/jobs?study={job['study_instance_uid']}&status=succeeded").json()["jobs"]
    assert [j["cbf_mean"] for j in listed if j["id"] == job["id"]] == [whole["mean"]]
    assert job["provenance"]["pld"]["source"] in ("protocol", "tag")
    assert set(job["timings"]) >= {"load", "quantify", "store", "total"}
    study = job["study_instance_uid"]
    [result] = job["results"]
    cbf_series = result["series"]["CBF"]
    cbf_meta = series_metadata(c, study, cbf_series)
    assert len(cbf_meta) > 1
    first_sop = cbf_meta[0]["00080018"]["Value"][0]
    inst = c.get(f"/dicom-web/studies/{study}/series/{cbf_series}/instances/{first_sop}",
                 headers={"accept": 'multipart/related; type="application/dicom"'})
    assert inst.status_code == 200
    listed = qido_series(c, study)
    assert cbf_series in listed and result["series"]["REPORT"] in listed

    # CSV and PDF reports; the PDF is also in the study as Encapsulated PDF.
    csv_text = c.get(f"/api/jobs/{job['id']}/report.csv").text
    assert csv_text.splitlines()[0].startswith("region,n,mean")
    assert any(line.startswith("whole_brain,") for line in csv_text.splitlines())
    c.post(f"/api/jobs/{job['id']}/diagnosis", json={"diagnostic_text": "双侧灌注对称 / symmetric"})
    for lang in ("zh-CN", "en"):
        pdf = c.get(f"/api/jobs/{job['id']}/report.pdf?lang={lang}")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        out = tmp_path / lang
        out.mkdir()
        pages = pdf_pages(pdf.content, out)
        # 1: header and CBF slices in colour; 2: regional table and bar plot; 3-5: the disease
        # panels (table, L/R bars, outlined map slices); 6: parameters, diagnosis.
        assert len(pages) == 6
        assert colourful_fraction(pages[0]) > 0.03
        assert 0.005 < colourful_fraction(pages[1]) < colourful_fraction(pages[0])
        panels = [colourful_fraction(page) for page in pages[2:5]]
        assert all(f > 0.01 for f in panels), panels
        assert ink_fraction(pages[1]) > 0.03 and ink_fraction(pages[5]) > 0.01
        assert colourful_fraction(pages[5]) < 0.001
    [epdf_meta] = series_metadata(c, study, result["series"]["REPORT"])
    assert epdf_meta["00080016"]["Value"][0] == ENCAPSULATED_PDF
    sop = epdf_meta["00080018"]["Value"][0]
    raw = c.get(f"/dicom-web/studies/{study}/series/{result['series']['REPORT']}/instances/{sop}",
                headers={"accept": 'multipart/related; type="application/dicom"'})
    assert b"%PDF" in raw.content
    # The edited report goes into the study as a second instance of the report series.
    stored = c.post(f"/api/jobs/{job['id']}/report?lang=en")
    assert stored.status_code == 201, stored.text
    assert stored.json()["instance_number"] == 2
    assert len(series_metadata(c, study, result["series"]["REPORT"])) == 2

    # A re-run writes version 2 and supersedes version 1; nothing is duplicated.
    # The in-process worker may claim the job before the answer is built.
    assert c.post(f"/api/jobs/{job['id']}/rerun").json()["state"] in ("queued", "running")
    again = wait_jobs(c.get, [job["id"]], final={"succeeded", "failed"})[job["id"]]
    assert again["state"] == "succeeded" and again["version"] == 2
    v1, v2 = again["results"]
    assert (v1["superseded"], v2["superseded"]) == (True, False)
    assert v2["series"]["CBF"] != cbf_series
    assert len(series_metadata(c, study, cbf_series)) == len(cbf_meta)
    v2_meta = series_metadata(c, study, v2["series"]["CBF"])
    assert len(v2_meta) == len(cbf_meta)
    assert v2_meta[0]["0008103E"]["Value"][0].endswith("(v2)")


def test_philips_job_waits_for_parameters_then_succeeds(worker_client: TestClient, shared_data: Path,
                                                        tmp_path: Path) -> None:
    c = worker_client
    # The first 6 of the 30 dynamics (files are ordered 16 control, 16 label per dynamic):
    # the same series, a fifth of the ingest time.
    subset = tmp_path / "202_SOURCE_-_pCASL"
    subset.mkdir()
    for f in sorted((shared_data / "asl/philips/202_SOURCE_-_pCASL").glob("*.dcm"))[: 6 * 32]:
        (subset / f.name).symlink_to(f)
    data = zip_folder(subset)
    r = c.post("/api/uploads/stream?filename=philips.zip", content=data,
               headers={"content-type": "application/zip"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stored"] == 192
    [job] = body["jobs"]
    assert job["state"] == "waiting"
    assert set(job["missing"]) >= {"pld", "labeling_duration"}
    assert "post-labeling delay" in job["reason"] and "labeling duration" in job["reason"]
    # What the scanner does not write, a person enters (labeling type too when it is missing).
    entered = {"pld": 1.8, "labeling_duration": 1.8, "labeling_type": "pcasl"}
    r = c.post(f"/api/jobs/{job['id']}/parameters", json={k: entered[k] for k in job["missing"]})
    assert r.status_code == 200 and r.json()["state"] in ("queued", "running", "succeeded"), r.text
    done = wait_jobs(c.get, [job["id"]], final={"succeeded", "failed", "waiting"})[job["id"]]
    # No M0 series and no background suppression: the mean control image, TR-corrected, is M0.
    assert done["state"] == "succeeded", done["reason"]
    m0 = done["provenance"]["m0"]
    assert (m0["value"], m0["source"]) == ("control", "derived") and "TR-corrected" in m0["detail"]
    assert done["provenance"]["m0_tr"]["value"] == 4.55
    # This Philips sample is a spherical phantom without flow: ΔM is noise, CBF near zero.
    assert abs(done["statistics"]["whole_brain"]["mean"]) < 5
    assert done["provenance"]["pld"]["source"] == "user"
    listed = c.get("/api/jobs?status=succeeded&patient=*").json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]


def test_stow_then_quiet_period_opens_and_runs_the_job(worker_client: TestClient, shared_data: Path) -> None:
    """Instances arriving over STOW-RS are analysed once the study is quiet (no upload call)."""
    from dicomweb.multipart import closing, new_boundary, part_header

    c = worker_client
    files = sorted((shared_data / "asl/siemens/pcasl2d").rglob("*.dcm"))
    boundary = new_boundary()
    body = io.BytesIO()
    for i, f in enumerate(files):
        body.write(part_header("application/dicom", first=i == 0, boundary=boundary))
        body.write(f.read_bytes())
    body.write(closing(boundary))
    r = c.post("/dicom-web/studies", content=body.getvalue(),
               headers={"content-type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
    assert r.status_code == 200, r.text
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    import time

    # Under load a 1 s quiet period can pass between two STOW batches: the job may
    # first see part of the series and fail; the later instances re-evaluate it.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        listed = c.get(f"/api/jobs?study={study}").json()["jobs"]
        if listed and listed[0]["state"] == "succeeded":
            break
        time.sleep(0.3)
    [job] = listed
    assert job["state"] == "succeeded", job
    full = c.get(f"/api/jobs/{job['id']}").json()
    assert full["results"][-1]["series"]["CBF"]


def test_new_instances_re_evaluate_a_job_waiting_for_m0(worker_client: TestClient, shared_data: Path) -> None:
    """The ASL series alone: the job waits for an M0 series; uploading it later runs the job."""
    c = worker_client
    asl = shared_data / "asl/siemens/pcasl2d/9_pcasl_2d"
    r = c.post("/api/uploads", files=[("f", ("asl.zip", zip_folder(asl), "application/zip"))])
    assert r.status_code == 200, r.text
    [job] = r.json()["jobs"]
    waiting = wait_jobs(c.get, [job["id"]], final={"waiting", "succeeded", "failed"})[job["id"]]
    assert (waiting["state"], waiting["missing"]) == ("waiting", ["m0"]), waiting
    m0 = shared_data / "asl/siemens/pcasl2d/10_pcasl_2d_m0"
    r = c.post("/api/uploads", files=[("f", ("m0.zip", zip_folder(m0), "application/zip"))])
    assert r.status_code == 200 and [j["id"] for j in r.json()["jobs"]] == [job["id"]]
    done = wait_jobs(c.get, [job["id"]], final={"succeeded", "failed"})[job["id"]]
    assert done["state"] == "succeeded", done["reason"]
    assert done["m0_series_instance_uid"]


def test_several_delays_uploaded_together_each_analysed(worker_client: TestClient, tmp_path: Path) -> None:
    """Three GE single-delay series of one study (GE writes one series per delay): each delay
    is analysed; no series is left out or used twice."""
    import numpy as np
    from pydicom.uid import generate_uid

    from quant import Geometry
    from tests.quant.builders import ge_series

    shape = (6, 32, 32)
    geometry = Geometry(
        shape=shape, pixel_spacing=(3.0, 3.0), slice_thickness=5.0,
        orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        positions=tuple((-48.0, -48.0, 5.0 * k) for k in range(shape[0])),
        frame_of_reference_uid=generate_uid(),
    )
    zz, yy, xx = np.mgrid[: shape[0], : shape[1], : shape[2]]
    m0 = np.where((yy - 16) ** 2 + (xx - 16) ** 2 < 12**2, 1000.0, 0.0)
    study, files = generate_uid(), []
    for i, pld in enumerate((1500.0, 2000.0, 2500.0)):
        dm = m0 * 0.008 * np.exp(-(pld / 1000.0) / 1.65)
        for j, ds in enumerate(ge_series(dm, m0, geometry, pld_ms=pld)):
            ds.StudyInstanceUID = study
            ds.SeriesNumber = 7 + i
            ds.FrameOfReferenceUID = geometry.frame_of_reference_uid
            path = tmp_path / f"s{i}_{j:03d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            files.append(path)
    series = {str(pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID) for f in files}
    assert len(series) == 3
    archive = zip_folder(tmp_path, tmp_path)
    r = worker_client.post("/api/uploads", files=[("f", ("ge.zip", archive, "application/zip"))])
    assert r.status_code == 200, r.text
    opened = r.json()["jobs"]
    used = [u for j in opened for u in j["series_instance_uids"]]
    assert sorted(used) == sorted(series)  # every delay in exactly one job
    done = wait_jobs(worker_client.get, [j["id"] for j in opened], final={"succeeded", "failed", "waiting"})
    for job in done.values():
        assert job["state"] == "succeeded", job["reason"]
        assert 5 < job["statistics"]["whole_brain"]["mean"] < 200
