"""Entered times with their unit, every wrong value at once, protocol presets and QC in the job, end to end
(real server and worker, SQLite and PostgreSQL) on the real Philips pCASL source series."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.routes.openapi import OPENAPI
from tests.conftest import authed_client
from tests.server.routes.test_openapi_contract import Contract
from tests.server.workflow.analysis_helpers import wait_jobs, zip_folder

DYNAMICS = 3  # files are ordered 16 control, 16 label per dynamic


@pytest.fixture
def worker_client(database_url: str, settings_factory):  # type: ignore[no-untyped-def]
    settings = settings_factory(database_url, workers=1, stable_seconds=1.0)
    with authed_client(create_app(settings)) as c:
        yield c


def philips_subset(shared_data: Path, out: Path, new_uids: bool) -> bytes:
    """The first dynamics of the real series; with ``new_uids`` as another study of the same protocol."""
    out.mkdir()
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    for f in sorted((shared_data / "asl/philips/202_SOURCE_-_pCASL").glob("*.dcm"))[: DYNAMICS * 32]:
        if not new_uids:
            (out / f.name).symlink_to(f)
            continue
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(out / f.name, enforce_file_format=True)
    return zip_folder(out)


def upload(c: TestClient, data: bytes) -> dict:
    r = c.post("/api/uploads/stream?filename=philips.zip", content=data, headers={"content-type": "application/zip"})
    assert r.status_code == 200, r.text
    [job] = r.json()["jobs"]
    return job


def test_units_all_errors_at_once_preset_then_next_study_starts_at_once(
        worker_client: TestClient, shared_data: Path, tmp_path: Path) -> None:
    c = worker_client
    job = upload(c, philips_subset(shared_data, tmp_path / "first", new_uids=False))
    assert job["state"] == "waiting"
    assert {"pld", "labeling_duration"} <= set(job["missing"])
    full = c.get(f"/api/jobs/{job['id']}").json()
    # The labeling type follows from the series name ("SOURCE - pCASL").
    assert full["parameters"]["detected"]["labeling_type"]["source"] == "series description"
    assert full["protocol"]["manufacturer"] == "Philips" and full["protocol"]["key"]

    # 1800 without a unit is seconds, and refused; both wrong values are named in one answer.
    r = c.post(f"/api/jobs/{job['id']}/parameters", json={"pld": 1800, "labeling_duration": 1800})
    assert r.status_code == 400, r.text
    assert "post-labeling delay" in r.text and "labeling duration" in r.text and "ms" in r.text
    r = c.post(f"/api/jobs/{job['id']}/parameters", json={"parameters": {"pld": 1800}, "units": {"pld": "s"}})
    assert r.status_code == 400 and "1800 ms" in r.text, r.text
    assert c.get(f"/api/jobs/{job['id']}").json()["state"] == "waiting"  # nothing half-stored

    body = {"parameters": {"pld": {"value": 1800, "unit": "ms"}, "labeling_duration": "1.8"},
            "units": {"labeling_duration": "s"}, "remember": True}
    r = c.post(f"/api/jobs/{job['id']}/parameters", json=body)
    assert r.status_code == 200, r.text
    done = wait_jobs(c.get, [job["id"]], timeout=600)[job["id"]]
    assert done["state"] == "succeeded", done["reason"]
    pld = done["provenance"]["pld"]
    assert pld["source"] == "user" and pld["value"] == pytest.approx(1.8) and "1800 ms" in pld["detail"]
    assert done["provenance"]["labeling_duration"]["value"] == pytest.approx(1.8)
    # QC with numbers in the result and in the queue; the phantom has no perfusion: never "pass".
    qc = done["statistics"]["qc"]
    assert qc["status"] == "fail" and "whole_brain_cbf" in qc["measures"]
    assert any(f["code"].startswith("cbf_") for f in qc["flags"])
    [listed] = c.get(f"/api/jobs?study={done['study_instance_uid']}").json()["jobs"]
    assert listed["qc"]["status"] == "fail" and listed["qc"]["flags"]

    contract = Contract(OPENAPI)  # the presets' own contract run (every documented answer, checked)
    [preset] = contract.check(c.get("/api/presets"), "/presets")["presets"]
    assert preset["manufacturer"] == "Philips"
    assert preset["values"]["pld"] == pytest.approx(1.8) and preset["values"]["labeling_duration"] == 1.8
    assert "labeling_type" not in preset["values"]  # read from the series name, not entered

    # Another study of the same protocol starts at once, provenance "preset".
    second = upload(c, philips_subset(shared_data, tmp_path / "second", new_uids=True))
    assert second["state"] in ("queued", "running", "succeeded"), second
    again = wait_jobs(c.get, [second["id"]], timeout=600)[second["id"]]
    assert again["state"] == "succeeded", again["reason"]
    assert again["provenance"]["pld"]["source"] == "preset"
    assert again["override_notes"]["pld"]["preset_id"] == preset["id"]
    one = f"/api/presets/{preset['id']}"
    assert contract.check(c.get(one), "/presets/{preset_id}")["times_used"] == 1

    # The preset's value edited for this study only, after the job ran: it runs again with the
    # edited value (provenance "user"), the first result superseded; the preset keeps its value.
    assert "set_parameters" in again["actions"]
    r = c.post(f"/api/jobs/{second['id']}/parameters", json={"parameters": {"pld": {"value": 2000, "unit": "ms"}}})
    assert r.status_code == 200 and r.json()["state"] in ("queued", "running"), r.text
    edited = wait_jobs(c.get, [second["id"]], timeout=600)[second["id"]]
    assert edited["state"] == "succeeded", edited["reason"]
    assert edited["version"] == again["version"] + 1
    assert edited["provenance"]["pld"]["source"] == "user" and edited["provenance"]["pld"]["value"] == 2.0
    assert edited["provenance"]["labeling_duration"]["source"] == "preset"
    by_version = {res["version"]: res for res in edited["results"]}
    assert by_version[again["version"]]["superseded"] and not by_version[edited["version"]]["superseded"]
    assert edited["statistics"]["whole_brain"] != again["statistics"]["whole_brain"]  # PLD 2.0 s, not 1.8 s
    assert contract.check(c.get(one), "/presets/{preset_id}")["values"]["pld"] == pytest.approx(1.8)

    # Administrators edit and delete presets.
    r = c.patch(one, json={"values": {"pld": 2000}, "units": {"pld": "ms"}})
    assert r.status_code == 200 and contract.check(r, "/presets/{preset_id}")["values"]["pld"] == 2.0, r.text
    r = c.patch(one, json={"values": {"pld": 2000}})
    assert r.status_code == 400 and "ms" in contract.check(r, "/presets/{preset_id}")["error"]
    r = c.patch(one, json={"values": {"model": "ge"}})
    assert r.status_code == 400 and "unknown parameter" in contract.check(r, "/presets/{preset_id}")["error"]
    for method in ("GET", "PATCH", "DELETE"):  # a malformed id (400) and one that does not exist (404)
        for raw in ("abc", "999999"):
            contract.check(c.request(method, f"/api/presets/{raw}", json={"values": {}}), "/presets/{preset_id}")
    r = c.delete(one)
    contract.check(r, "/presets/{preset_id}")
    assert r.status_code == 204, r.text
    contract.check(c.delete(f"/api/presets/{preset['id'] + 1000}"), "/presets/{preset_id}")
    assert contract.check(c.get(one), "/presets/{preset_id}") and c.get(one).status_code == 404
    contract.provoke_refusals(c, lambda template: template.startswith("/presets"))
    documented = {d for d in contract.documented() if d[0].startswith("/presets")}
    assert documented - contract.seen == set(), sorted(documented - contract.seen)
