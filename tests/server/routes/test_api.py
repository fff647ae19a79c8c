"""/api on SQLite and PostgreSQL: uploads, job listing/filters, actions, errors, OpenAPI, events."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.db.analysis import AnalysisJob
from server.db.database import create_engine, session_factory
from server.workflow.jobs import waiting_reason
from tests.conftest import SHARED_DATA
from tests.server.services import hostile_archives as hostile

M0_SERIES = "asl/siemens/pasl3d/13_pasl_3d_m0"


def insert_jobs(database_url: str, specs: list[dict]) -> list[int]:
    async def run() -> list[int]:
        engine = create_engine(database_url)
        ids = []
        try:
            async with session_factory(engine)() as s:
                for i, spec in enumerate(specs):
                    job = AnalysisJob(
                        study_instance_uid=f"1.2.826.0.1.{i}",
                        acquisition_key=f"1.2.826.0.1.{i}.1",
                        series_uids=[f"1.2.826.0.1.{i}.1"],
                        patient_name=spec.get("name", "DOE^JOHN"),
                        patient_name_upper=spec.get("name", "DOE^JOHN").upper(),
                        patient_id=spec.get("pid", f"P{i}"),
                        study_date=spec.get("date", "20240105"),
                        state=spec.get("state", "waiting"),
                        missing=spec.get("missing", []),
                        detected={"missing_raw": spec.get("missing", [])},
                        reason=waiting_reason(spec.get("missing", [])),
                    )
                    s.add(job)
                    await s.flush()
                    ids.append(job.id)
                await s.commit()
        finally:
            await engine.dispose()
        return ids

    return asyncio.run(run())


def test_upload_zip_and_files_lists_studies_and_skips(client, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    files = sorted((shared_data / M0_SERIES).glob("*.dcm"))
    archive = hostile.dicom_zip(files)
    nested = hostile.nested_zip({"x.dcm": files[0].read_bytes()})
    r = client.post(
        "/api/uploads",
        files=[
            ("files", ("study.zip", archive, "application/zip")),
            ("files", ("notes.txt", b"not dicom", "text/plain")),
            ("files", ("nested.zip", nested, "application/zip")),
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["stored"], body["duplicates"], body["failed"]) == (2, 0, [])
    reasons = {s["name"]: s["reason"] for s in body["skipped"]}
    assert reasons["notes.txt"].startswith("not a DICOM file")
    assert reasons["nested.zip/inner.zip"].startswith("nested archive")
    [(study_uid, study)] = body["studies"].items()
    [series] = study["series"].values()
    assert series["stored"] == 2 and series["series_description"]
    assert study["patient_name"] is not None and "jobs" in body

    again = client.post("/api/uploads/stream?filename=study.zip", content=archive,
                        headers={"content-type": "application/zip"})
    assert again.status_code == 200 and again.json()["duplicates"] == 2
    series_uid = next(iter(study["series"]))
    metadata = client.get(f"/dicom-web/studies/{study_uid}/series/{series_uid}/metadata")
    assert metadata.status_code == 200 and len(metadata.json()) == 2


def test_hostile_uploads_get_clear_errors(client) -> None:  # type: ignore[no-untyped-def]
    cases = [
        (hostile.traversal_zip(), 422, "unsafe file name '../../etc/cirrus-owned'"),
        (hostile.bomb_zip(), 422, "zip bomb"),
        (hostile.empty_zip(), 422, "the ZIP archive is empty"),
        (b"PK\x03\x04 not really", 422, "not a readable ZIP archive"),
        (b"just some text", 422, "no DICOM files in the upload"),
    ]
    for data, status, words in cases:
        r = client.post("/api/uploads", files=[("f", ("u.zip", data, "application/zip"))])
        assert r.status_code == status, (words, r.text)
        assert words in r.json()["error"], r.json()
    # DICOM that ingest refuses (no Study Instance UID): named, with ingest's reason.
    import io

    import pydicom

    ds = pydicom.dcmread(SHARED_DATA / M0_SERIES / "0001.dcm")
    del ds.StudyInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf)
    r = client.post("/api/uploads", files=[("f", ("nostudy.dcm", buf.getvalue(), "application/dicom"))])
    assert r.status_code == 422 and "no instance could be stored" in r.json()["error"], r.text
    assert r.json()["failed"][0]["name"] == "nostudy.dcm"
    r = client.post("/api/uploads/stream", content=b"", headers={"content-type": "application/zip"})
    assert r.status_code == 400 and "empty" in r.json()["error"]
    form = {"content-type": "multipart/form-data; boundary=x"}
    r = client.post("/api/uploads", content=b"--x\r\n", headers=form)
    assert r.status_code == 400


def test_job_listing_filters_and_pagination(client, database_url: str) -> None:  # type: ignore[no-untyped-def]
    insert_jobs(
        database_url,
        [
            {"name": "WANG^LI", "pid": "A100", "date": "20240101"},
            {"name": "WANG^FANG", "pid": "A200", "date": "20240215", "state": "queued"},
            {"name": "SMITH^ANN", "pid": "B300", "date": "20240301", "state": "failed"},
        ],
    )
    def names(query: str) -> list[str]:
        r = client.get(f"/api/jobs?{query}")
        assert r.status_code == 200, r.text
        return sorted(j["patient_name"] for j in r.json()["jobs"])

    assert names("patient=wang*") == ["WANG^FANG", "WANG^LI"]
    assert names("patient=%25FANG") == ["WANG^FANG"]
    assert names("patient=B3*") == ["SMITH^ANN"]
    assert names("status=queued,failed") == ["SMITH^ANN", "WANG^FANG"]
    assert names("date=20240201-20240331") == ["SMITH^ANN", "WANG^FANG"]
    assert names("date_to=2024-01-31") == ["WANG^LI"]
    page = client.get("/api/jobs?limit=2&offset=2").json()
    assert page["total"] == 3 and len(page["jobs"]) == 1
    assert client.get("/api/jobs?status=bogus").status_code == 400
    assert "must be a date" in client.get("/api/jobs?date_from=2024").json()["error"]


def test_job_actions_follow_the_state_machine(client, database_url: str) -> None:  # type: ignore[no-untyped-def]
    [job_id] = insert_jobs(database_url, [{"missing": ["pld", "labeling_duration"]}])
    url = f"/api/jobs/{job_id}"
    job = client.get(url).json()
    assert job["state"] == "waiting" and "post-labeling delay" in job["reason"]
    assert client.post(f"{url}/start").status_code == 409

    r = client.post(f"{url}/parameters", json={"pld": 1800})
    assert r.status_code == 400 and "did you mean 1800 ms" in r.json()["error"]
    # Each refusal also as a code with parameters (a UI words it in its language), in the documented shape.
    assert r.json()["problems"] == [{"code": "implausible_seconds", "params": {"name": "pld", "value": 1800.0},
                                     "message": r.json()["error"]}]
    r = client.post(f"{url}/parameters", json={"pld": "1800", "labeling_duration": "x"})
    assert [p["code"] for p in r.json()["problems"]] == ["implausible_seconds", "not_a_number"]
    r = client.post(f"{url}/parameters", json={"pld": {"value": 1800, "unit": "s"}})
    [problem] = r.json()["problems"]
    assert problem["code"] == "implausible_time_hint" and problem["params"]["other_unit"] == "ms"
    assert problem["params"]["value"] == 1800 and problem["params"]["name"] == "pld"
    r = client.post(f"{url}/parameters", json={"flip": 3})
    assert r.status_code == 400 and "unknown parameter 'flip'" in r.json()["error"]
    [problem] = r.json()["problems"]
    assert problem["code"] == "unknown_parameter" and problem["params"] == {"name": "flip"}
    r = client.post(f"{url}/parameters", json={"pld": 1.8})
    assert r.json()["state"] == "waiting" and r.json()["missing"] == ["labeling_duration"]
    r = client.post(f"{url}/parameters", json={"labeling_duration": 1.8, "model": "consensus"})
    job = r.json()
    assert (job["state"], job["missing"], job["priority"]) == ("queued", [], 10)
    assert job["parameters"]["overrides"] == {"pld": 1.8, "labeling_duration": 1.8, "model": "consensus"}

    assert client.post(f"{url}/start?urgent=1").json()["priority"] == 20
    assert client.get(f"{url}/report.pdf").status_code == 409
    assert client.post(f"{url}/cancel").json()["state"] == "cancelled"
    r = client.post(f"{url}/cancel")
    assert r.status_code == 409 and "cannot cancel a job that is cancelled" in r.json()["error"]
    assert client.post(f"{url}/rerun").json()["state"] == "queued"
    r = client.post(f"{url}/diagnosis", json={"diagnostic_text": "左侧额叶灌注减低"})
    assert r.json()["diagnostic_text"] == "左侧额叶灌注减低"
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert client.get("/api/jobs/abc").status_code == 400
    assert client.post(f"{url}/start").status_code == 404


def test_openapi_and_events(client, database_url: str) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    from server.routes.api import routes

    # Every route of /api is described, with each of its methods.
    for route in routes:
        path = route.path  # type: ignore[attr-defined]
        assert path in doc["paths"], path
        for method in route.methods - {"HEAD"}:  # type: ignore[attr-defined]
            if method == "PUT":
                continue  # PUT aliases of POST routes are not listed separately
            assert method.lower() in doc["paths"][path], (method, path)
    for path in ("/uploads", "/jobs", "/jobs/{job_id}", "/jobs/{job_id}/parameters", "/jobs/{job_id}/rerun",
                 "/jobs/{job_id}/report.pdf", "/jobs/{job_id}/report.csv", "/events"):
        assert path in doc["paths"], path
    [job_id] = insert_jobs(database_url, [{}])
    with client.stream("GET", f"/api/events?job={job_id}&max_seconds=0.6") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = b"".join(r.iter_bytes()).decode()
    assert "event: job" in text and f'"id":{job_id}' in text
