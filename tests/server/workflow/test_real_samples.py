"""Every real sample in shared/data through the server: STOW-RS, the quiet-period detector, the worker,
and the outcome (a result, or a refusal naming its reason). SQLite: the workflow's database paths are
the analysis tests' business; here the samples are.

Also a GE-like 3D pCASL series carrying the real Philips sample's patient and study attributes with
invalid values (PatientSex '0', PatientAge '0', ...): the maps are still produced, the result says
what was corrected or dropped."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from starlette.testclient import TestClient

from dicomweb.multipart import closing, new_boundary, part_header
from server.app import create_app
from tests.conftest import authed_client
from tests.quant.builders import ge_series, head, roundtrip, set_raw, small_geometry
from tests.server.workflow.analysis_helpers import wait_jobs

PHILIPS_DYNAMICS = 6  # of 30 (files are ordered 16 control, 16 label per dynamic): the same series, faster


@pytest.fixture
def worker_client(sqlite_url: str, settings_factory):  # type: ignore[no-untyped-def]
    settings = settings_factory(sqlite_url, workers=1, stable_seconds=1.0)
    with authed_client(create_app(settings)) as c:
        yield c


def stow(c: TestClient, blobs: list[bytes]) -> None:
    boundary = new_boundary()
    body = io.BytesIO()
    for i, raw in enumerate(blobs):
        body.write(part_header("application/dicom", first=i == 0, boundary=boundary))
        body.write(raw)
    body.write(closing(boundary))
    r = c.post("/dicom-web/studies", content=body.getvalue(),
               headers={"content-type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
    assert r.status_code == 200, r.text[:500]


def outcome(c: TestClient, study: str, timeout: float = 240) -> tuple[list[dict], str]:
    """The study's finished jobs, or (none, the detector's reason) once detection ran."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = c.get(f"/api/jobs?study={study}").json()["jobs"]
        if listed and all(j["state"] in ("succeeded", "failed", "waiting") for j in listed):
            ids = [j["id"] for j in listed]
            return list(wait_jobs(c.get, ids).values()), ""
        if not listed:
            r = c.post(f"/api/studies/{study}/analyse")
            if r.status_code == 200 and r.json()["outcome"] == "no_acquisition":
                return [], r.json()["reason"]
        time.sleep(1.0)
    raise AssertionError(f"no outcome for study {study} after {timeout}s")


def files(root: Path, limit: int | None = None) -> list[Path]:
    found = sorted(p for p in root.rglob("*.dcm"))
    return found[:limit] if limit else found


def study_of(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def test_every_real_sample_through_the_server(worker_client: TestClient, shared_data: Path) -> None:
    c = worker_client
    report: dict[str, str] = {}

    # Siemens: three ASL acquisitions in one study (M0 series beside two of them).
    siemens = [files(shared_data / f"asl/siemens/{name}") for name in ("pcasl2d", "pcasl3d", "pasl3d")]
    for group in siemens:
        stow(c, [p.read_bytes() for p in group])
    jobs, reason = outcome(c, study_of(siemens[0][0]))
    by_label = {j["label"].split(":")[1].strip(): j for j in jobs}
    assert set(by_label) == {"pcasl_2d", "pcasl_3d", "pasl_3d"}, (by_label, reason)
    for name, job in sorted(by_label.items()):
        report[f"siemens {name}"] = f"{job['state']}: " + (
            f"CBF {job['statistics']['whole_brain']['mean']:.1f}, QC {job['statistics']['qc']['status']}"
            if job["state"] == "succeeded" else job["reason"])
    for name in ("pcasl_2d", "pcasl_3d"):
        job = by_label[name]
        assert job["state"] == "succeeded", job["reason"]
        assert 20 < job["statistics"]["whole_brain"]["mean"] < 80
        assert job["statistics"]["qc"]["status"] in ("pass", "warning", "fail")
        assert job["results"][-1]["series"]["CBF"]
    pasl = by_label["pasl_3d"]
    assert pasl["state"] == "failed" and "was not used as M0" in pasl["reason"]

    # Philips raw pCASL: the classic files carry no PLD or labeling duration; both asked at once.
    philips = files(shared_data / "asl/philips/202_SOURCE_-_pCASL", PHILIPS_DYNAMICS * 32)
    stow(c, [p.read_bytes() for p in philips])
    [job], _ = outcome(c, study_of(philips[0]))
    assert job["state"] == "waiting" and {"pld", "labeling_duration"} <= set(job["missing"]), job
    report["philips 202 SOURCE - pCASL"] = f"waiting: {job['reason']}"
    r = c.post(f"/api/jobs/{job['id']}/parameters",
               json={"parameters": {"pld": 1800, "labeling_duration": 1800},
                     "units": {"pld": "ms", "labeling_duration": "ms"}})
    assert r.status_code == 200, r.text
    done = wait_jobs(c.get, [job["id"]])[job["id"]]
    assert done["state"] == "succeeded", done["reason"]
    # A phantom without flow: CBF ≈ 0, and QC says it is not a normal result.
    assert done["statistics"]["qc"]["status"] == "fail"
    report["philips 202 SOURCE - pCASL (PLD, LD entered in ms)"] = (
        f"succeeded: CBF {done['statistics']['whole_brain']['mean']:.2f}, QC fail "
        + "; ".join(f["code"] for f in done["statistics"]["qc"]["flags"]))

    # Philips scanner ΔM series (201): in the same study as 202; it is not an input (not CBF, no
    # control/label), so it opens no job of its own.
    scanner = files(shared_data / "asl/philips/201_pCASL")
    stow(c, [p.read_bytes() for p in scanner])
    time.sleep(3)
    listed = c.get(f"/api/jobs?study={study_of(scanner[0])}").json()["jobs"]
    report["philips 201 pCASL (scanner ΔM)"] = f"{len(listed)} job(s) in its study: " + ", ".join(
        j["label"] for j in listed)
    assert all("201" not in j["label"] and "SOURCE" in j["label"] for j in listed), listed

    # Transfer syntaxes: one Siemens BOLD EPI image in 9 encodings (sAsl.ulMode = 0x1 in its protocol).
    ts = files(shared_data / "transfer-syntaxes")
    studies = {study_of(p) for p in ts}
    stow(c, [p.read_bytes() for p in ts])
    for study in sorted(studies):
        jobs, reason = outcome(c, study)
        assert jobs == [] and "not a perfusion acquisition" in reason, (jobs, reason)
        report[f"transfer-syntaxes study {study[-12:]}"] = f"no job: {reason[:200]}"
    for name, text in report.items():
        print(f"{name}: {text}")


def test_ge_like_series_with_invalid_demographics_still_produces_maps(worker_client: TestClient,
                                                                      shared_data: Path) -> None:
    c = worker_client
    real = pydicom.dcmread(files(shared_data / "asl/philips/202_SOURCE_-_pCASL")[0], stop_before_pixels=True)
    g = small_geometry(nz=6, ny=32, nx=32)
    brain = head(g.shape)
    series = ge_series(np.where(brain, 8.0, 0.0), np.where(brain, 1000.0, 0.0), g, nex=3)
    bad = {"PatientSex": "0", "PatientAge": "0", "PatientBirthDate": "19750230", "StudyTime": "25:61",
           "ReferringPhysicianName": "x" * 80, "BodyPartExamined": "brain/head!", "InstitutionName": "A" * 90}
    blobs = []
    for ds in series:
        for keyword in ("PatientName", "PatientID", "StudyDate", "StudyDescription", "AccessionNumber"):
            if keyword in real:
                setattr(ds, keyword, real.data_element(keyword).value)
        for keyword, text in bad.items():
            set_raw(ds, keyword, text)
        buf = io.BytesIO()
        roundtrip(ds).save_as(buf, enforce_file_format=True)
        blobs.append(buf.getvalue())
    stow(c, blobs)
    [job], reason = outcome(c, str(series[0].StudyInstanceUID))
    assert job["state"] == "succeeded", (job["reason"], reason)
    assert job["results"][-1]["series"]["CBF"]
    assert "PatientSex" in job["reason"] and "PatientAge" in job["reason"], job["reason"]
    # The derived CBF objects hold no invalid PatientSex/PatientAge.
    study, cbf = job["study_instance_uid"], job["results"][-1]["series"]["CBF"]
    meta = c.get(f"/dicom-web/studies/{study}/series/{cbf}/metadata").json()
    for inst in meta:
        assert inst.get("00100040", {}).get("Value", [""])[0] in ("", "M", "F", "O")
        assert inst.get("00101010", {}).get("Value", ["000Y"])[0] != "0"
