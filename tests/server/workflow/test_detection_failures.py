"""A failed analysis detection shows in the queue; "analyse this study" (issue 12), SQLite and PostgreSQL.

Detection is made to fail for real: the study's stored objects are moved away from the blob
store, so reading their headers fails; moving them back makes the next detection succeed.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from server.app import create_app
from server.auth.principal import Role
from server.db.access import GrantReason, StudyGrant
from server.db.analysis import AnalysisJob
from server.db.archive import Study
from server.routes.openapi import OPENAPI
from tests.auth_helpers import bearer, create_institution, create_user, token_for
from tests.conftest import authed_client
from tests.dicom_helpers import ct_instance
from tests.server.routes.test_openapi_contract import Contract
from tests.server.workflow.analysis_helpers import zip_folder


def mr_instance() -> tuple[bytes, str]:
    ds = pydicom.dcmread(io.BytesIO(ct_instance()))
    ds.Modality = "MR"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), str(ds.StudyInstanceUID)


def store(c: TestClient, data: bytes, headers: dict[str, str] | None = None) -> None:
    r = c.post("/dicom-web/studies", content=data, headers={"Content-Type": "application/dicom", **(headers or {})})
    assert r.status_code == 200, r.text


def failures(c: TestClient, study: str) -> list[dict[str, Any]]:
    r = c.get(f"/api/jobs?status=detection_failed&study={study}")
    assert r.status_code == 200, r.text
    return r.json()["jobs"]  # type: ignore[no-any-return]


@pytest.fixture
def quiet_client(database_url: str, settings_factory) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """No quiet-period detection during the test: only the explicit actions detect."""
    with authed_client(create_app(settings_factory(database_url, stable_seconds=3600))) as c:
        yield c


def test_a_detector_failure_shows_in_the_queue_until_a_retry_succeeds(
    database_url: str, settings_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    settings = settings_factory(database_url, stable_seconds=0.3)
    data, study = mr_instance()
    blobs, aside = settings.data_dir / "blobs", tmp_path / "aside"
    with authed_client(create_app(settings)) as c:
        store(c, data)
        shutil.move(str(blobs), str(aside))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (rows := failures(c, study)):
            time.sleep(0.1)
        [row] = rows
        assert row["state"] == "detection_failed"
        assert row["reason"].startswith("analysis detection failed: "), row
        assert row["actions"] == ["retry_detection", "delete"]
        assert row["attempts"] >= 1 and row["patient_id"] and row["study_date"]
        # While it keeps failing, the row stays one row and counts the attempts.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and failures(c, study)[0]["attempts"] < 2:
            time.sleep(0.1)
        [again] = failures(c, study)
        assert again["id"] == row["id"] and again["attempts"] >= 2
        # The unfiltered queue lists it too (the analysis page shows every state).
        assert row["id"] in [j["id"] for j in c.get(f"/api/jobs?study={study}").json()["jobs"]]
        shutil.move(str(aside), str(blobs))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and failures(c, study):
            time.sleep(0.1)
        assert failures(c, study) == [], "a detection that succeeded again left its failure in the queue"
        assert c.get(f"/api/jobs/{row['id']}").status_code == 404


def test_retry_button_and_analyse_this_study(quiet_client: TestClient, settings_factory, database_url: str,
                                             tmp_path: Path) -> None:
    c = quiet_client
    data, study = mr_instance()
    store(c, data)
    blobs, aside = c.app.state.ctx.settings.data_dir / "blobs", tmp_path / "aside"  # type: ignore[attr-defined]
    shutil.move(str(blobs), str(aside))
    r = c.post(f"/api/studies/{study}/analyse")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "detection_failed" and body["jobs"] == [] and body["created"] == []
    assert body["reason"].startswith("analysis detection failed: ")
    failure = body["detection_failure"]
    assert failure["state"] == "detection_failed" and failure["attempts"] == 1
    assert [j["id"] for j in failures(c, study)] == [failure["id"]]
    # Retry while the objects are still unreadable: still failed, one more attempt.
    r = c.post(f"/api/jobs/{failure['id']}/retry-detection")
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "detection_failed" and r.json()["detection_failure"]["attempts"] == 2
    # Other actions of the job table do not apply to a failed detection.
    assert c.post(f"/api/jobs/{failure['id']}/start").status_code == 409
    shutil.move(str(aside), str(blobs))
    r = c.post(f"/api/jobs/{failure['id']}/retry-detection")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "no_acquisition" and body["detection_failure"] is None
    assert body["reason"].startswith("not a perfusion acquisition: no ASL series found"), body["reason"]
    assert failures(c, study) == []
    assert c.post(f"/api/jobs/{failure['id']}/retry-detection").status_code == 404


def test_analyse_a_ct_study_says_why_there_is_no_job(quiet_client: TestClient) -> None:
    raw = ct_instance()
    study = str(pydicom.dcmread(io.BytesIO(raw)).StudyInstanceUID)
    store(quiet_client, raw)
    r = quiet_client.post(f"/api/studies/{study}/analyse")
    assert r.status_code == 200, r.text
    assert r.json() == {"study_instance_uid": study, "outcome": "no_acquisition", "jobs": [], "created": [],
                        "reason": "the study holds no MR series (analysis needs an ASL or DCE perfusion acquisition)",
                        "detection_failure": None}
    assert quiet_client.post("/api/studies/1.2.3.4.5/analyse").status_code == 404
    assert quiet_client.post("/api/studies/not-a-uid/analyse").status_code == 400


def test_analyse_an_asl_study_opens_its_job_once(quiet_client: TestClient, shared_data: Path) -> None:
    c = quiet_client
    asl = shared_data / "asl/siemens/pcasl2d/9_pcasl_2d"
    r = c.post("/api/uploads?analyse=0", files=[("f", ("asl.zip", zip_folder(asl), "application/zip"))])
    assert r.status_code == 200 and r.json()["jobs"] == [], r.text
    study = next(iter(r.json()["studies"]))
    assert c.get(f"/api/jobs?study={study}").json()["total"] == 0
    first = c.post(f"/api/studies/{study}/analyse").json()
    assert first["outcome"] == "jobs", first
    [job] = first["jobs"]
    assert first["created"] == [job["id"]] and job["method"] == "ASL" and job["state"] in ("waiting", "queued")
    second = c.post(f"/api/studies/{study}/analyse").json()
    assert second["outcome"] == "jobs" and second["created"] == [] and [j["id"] for j in second["jobs"]] == [job["id"]]


async def _grant(ctx: Any, study_uid: str, institution_id: int) -> None:
    async with ctx.write_session() as s:
        row = (await s.exec(select(Study).where(col(Study.study_instance_uid) == study_uid))).one()
        s.add(StudyGrant(study_id=row.id, institution_id=institution_id, reason=GrantReason.ASSISTANCE.value,
                         source_id=0))
        await s.commit()


def test_only_the_owning_institution_analyses_a_study(quiet_client: TestClient) -> None:
    c = quiet_client
    ctx = c.app.state.ctx  # type: ignore[attr-defined]
    portal = c.portal
    assert portal is not None

    async def people() -> dict[str, str]:
        own, other = await create_institution(ctx), await create_institution(ctx)
        out = {}
        for name, role, inst in (("tech", Role.TECHNOLOGIST, own), ("requester", Role.REQUESTING_DOCTOR, own),
                                 ("ro", Role.READ_ONLY, own), ("other_tech", Role.TECHNOLOGIST, other)):
            out[name] = await token_for(ctx, await create_user(ctx, role, inst), scope="write")
        out["other"] = str(other)
        return out

    who = portal.call(people)
    raw, study = mr_instance()
    store(c, raw, bearer(who["tech"]))  # stored by the technologist: owned by its institution
    assert c.post(f"/api/studies/{study}/analyse", headers=bearer(who["tech"])).status_code == 200
    assert c.post(f"/api/studies/{study}/analyse", headers=bearer(who["requester"])).status_code == 200
    assert c.post(f"/api/studies/{study}/analyse", headers=bearer(who["ro"])).status_code == 403
    assert c.post(f"/api/studies/{study}/analyse", headers=bearer(who["other_tech"])).status_code == 404
    portal.call(_grant, ctx, study, int(who["other"]))
    r = c.post(f"/api/studies/{study}/analyse", headers=bearer(who["other_tech"]))
    assert r.status_code == 403 and "owns" in r.json()["error"], r.text


async def _waiting_job(ctx: Any, study_uid: str) -> int:
    async with ctx.write_session() as s:
        job = AnalysisJob(study_instance_uid=study_uid, acquisition_key="1.2.826.0.1.3680043.10.9", state="waiting",
                          missing=["pld"], detected={"missing_raw": ["pld"]})
        s.add(job)
        await s.commit()
        return int(job.id or 0)


def test_the_answers_match_the_openapi_document(quiet_client: TestClient, tmp_path: Path) -> None:
    c = quiet_client
    ctx = c.app.state.ctx  # type: ignore[attr-defined]
    assert c.portal is not None
    contract = Contract(OPENAPI)
    analyse, retry = "/studies/{study}/analyse", "/jobs/{job_id}/retry-detection"

    async def read_only() -> str:
        return await token_for(ctx, await create_user(ctx, Role.READ_ONLY), scope="write")

    ro = bearer(c.portal.call(read_only))
    raw = ct_instance()
    ct_study = str(pydicom.dcmread(io.BytesIO(raw)).StudyInstanceUID)
    store(c, raw)
    data, mr_study = mr_instance()
    store(c, data)
    assert contract.check(c.post(f"/api/studies/{ct_study}/analyse"), analyse)["outcome"] == "no_acquisition"
    contract.check(c.post("/api/studies/bad-uid/analyse"), analyse)  # 400
    contract.check(c.post("/api/studies/1.2.3.999/analyse"), analyse)  # 404
    contract.check(c.post(f"/api/studies/{ct_study}/analyse", headers=ro), analyse)  # 403
    blobs, aside = ctx.settings.data_dir / "blobs", tmp_path / "aside"
    shutil.move(str(blobs), str(aside))
    failed = contract.check(c.post(f"/api/studies/{mr_study}/analyse"), analyse)
    assert failed["outcome"] == "detection_failed"
    shutil.move(str(aside), str(blobs))
    job_id = failed["detection_failure"]["id"]
    contract.check(c.post(f"/api/jobs/{job_id}/retry-detection", headers=ro), retry)  # 403
    assert contract.check(c.post(f"/api/jobs/{job_id}/retry-detection"), retry)["outcome"] == "no_acquisition"
    contract.check(c.post(f"/api/jobs/{job_id}/retry-detection"), retry)  # 404: the row is gone
    contract.check(c.post("/api/jobs/abc/retry-detection"), retry)  # 400
    waiting = c.portal.call(_waiting_job, ctx, mr_study)
    contract.check(c.post(f"/api/jobs/{waiting}/retry-detection"), retry)  # 409
    contract.provoke_refusals(c, lambda template: template in (analyse, retry))
    mine = {d for d in contract.documented() if d[0] in (analyse, retry)}
    assert mine - contract.seen == set()
    listed = contract.check(c.get("/api/jobs?status=detection_failed"), "/jobs")
    assert listed["jobs"] == []
