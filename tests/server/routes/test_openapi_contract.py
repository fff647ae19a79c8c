"""The OpenAPI document of /api is the contract: real answers of a running app must match it.

A real app (SQLite and PostgreSQL, the in-process analysis worker) is driven through uploads, a
finished analysis, every job action, the reports, the event stream and the error paths; each answer is
checked against the response the document declares for its path, method and status (status and media
type must be documented, JSON bodies must validate). The document's schemas are closed, so a field the
server adds, renames or drops fails here; the frontend's types are generated from the same document
(viewer-frontend: ``npm run gen:api``), so the two cannot drift apart silently.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.testclient import TestClient

from server.app import create_app
from server.auth.principal import Role
from server.db.analysis import AnalysisJob
from server.db.database import create_engine, session_factory, utcnow
from server.routes.openapi import JOB_EVENT, OPENAPI
from tests.auth_helpers import bearer, create_user, token_for
from tests.conftest import authed_client

DOC_URI = "urn:cirrus:api:openapi"
STUDY = "asl/siemens/pcasl3d"
FINAL = {"succeeded", "failed", "cancelled"}
# Documented answers this test cannot be sure to provoke: deleting a running job (409) needs the
# worker caught in the act; the test tries, and checks the answer when it happens.
NOT_PROVOKED = {("/jobs/{job_id}", "delete", "409"),
                # over a concurrency limit: tests/server/routes/test_concurrency_limits.py
                ("/uploads", "post", "429"), ("/uploads/stream", "post", "429")}


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class Contract:
    """Checks answers against the document and records which documented answers were seen."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.registry = Registry().with_resource(DOC_URI, Resource(contents=doc, specification=DRAFT202012))
        self.seen: set[tuple[str, str, str]] = set()

    def validate(self, instance: Any, pointer: str) -> None:
        validator = Draft202012Validator({"$ref": f"{DOC_URI}#/{pointer}"}, registry=self.registry)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors[:10]]
            raise AssertionError(f"answer does not match {pointer}:\n" + "\n".join(lines))

    def check(self, response: httpx.Response, template: str) -> Any:
        method = response.request.method.lower()
        operation = self.doc["paths"][template][method]
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{method.upper()} {template} answered {status}, which the document does not declare: {response.text[:300]}"
        )
        self.seen.add((template, method, status))
        content = operation["responses"][status].get("content")
        if not content:
            assert response.content == b"", f"{method.upper()} {template} {status} has a body the document lacks"
            return None
        media = response.headers["content-type"].split(";")[0].strip()
        assert media in content, f"{method.upper()} {template} {status} sent {media}, documented: {list(content)}"
        if media != "application/json":
            return response.content
        body = response.json()
        self.validate(body, _pointer("paths", template, method, "responses", status, "content", media, "schema"))
        return body

    def provoke_refusals(self, c: TestClient, wanted: Callable[[str], bool]) -> None:
        """Send every documented 401 and 403 of the operations ``wanted`` picks that were not seen yet:
        without credentials (401) and as a read-only user (403). Both come from the authentication
        middleware and its rule table, before the route runs, so placeholder path values do."""
        read_only = c.portal.call(_read_only_token, c.app.state.ctx)  # type: ignore[union-attr]
        for template, method, status in sorted(self.documented() - self.seen):
            if status not in ("401", "403") or not wanted(template):
                continue
            path = "/api" + re.sub(r"\{[^}]+\}", "1", template)
            headers = {"Authorization": ""} if status == "401" else bearer(read_only)
            self.check(c.request(method.upper(), path, headers=headers), template)

    def documented(self) -> set[tuple[str, str, str]]:
        return {
            (path, method, status)
            for path, ops in self.doc["paths"].items()
            for method, op in ops.items()
            for status in op["responses"]
        }


async def _read_only_token(ctx: Any) -> str:
    return await token_for(ctx, await create_user(ctx, Role.READ_ONLY), scope="read", name="contract")


def parse_event_stream(text: str) -> list[dict[str, Any]]:
    """Messages of a text/event-stream body (WHATWG HTML, server-sent events), fields by name."""
    import orjson

    messages = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if set(fields) - {"retry"}:
            message: dict[str, Any] = dict(fields)
            if "data" in message:
                message["data"] = orjson.loads(message["data"])
            messages.append(message)
    return messages


def zip_of(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder.parent).as_posix())
    return buf.getvalue()


def insert_waiting_job(database_url: str, missing: list[str], state: str = "waiting",
                       acquisition: str = "1.2.826.0.1.3680043.10.1.1") -> int:
    async def run() -> int:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as s:
                job = AnalysisJob(
                    study_instance_uid="1.2.826.0.1.3680043.10.1",
                    acquisition_key=acquisition,
                    series_uids=[acquisition],
                    patient_name="CONTRACT^TEST",
                    patient_name_upper="CONTRACT^TEST",
                    state=state,
                    missing=missing,
                    detected={"missing_raw": missing},
                )
                if state == "running":  # held by a worker that is not this test's: its lease never runs out here
                    job.lease_owner = "contract-test"
                    job.lease_expires_at = utcnow() + timedelta(days=1)
                s.add(job)
                await s.commit()
                return int(job.id or 0)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def app_client(database_url: str, settings_factory):  # type: ignore[no-untyped-def]
    settings = settings_factory(database_url, workers=1, stable_seconds=1.0, max_upload_bytes=64 * 1024 * 1024)
    with authed_client(create_app(settings)) as c:
        yield c


def test_the_document_is_valid_openapi_and_served() -> None:
    validate_openapi(OPENAPI)
    schemas = OPENAPI["components"]["schemas"]
    assert schemas["JobEvent"]["properties"]["event"] == {"const": JOB_EVENT}
    # Every object schema is closed, so that an unannounced field fails the contract.
    for name, schema in schemas.items():
        if schema.get("type") == "object" and "properties" in schema:
            assert schema.get("additionalProperties") is False, name


def test_real_answers_match_the_document(app_client: TestClient, database_url: str, shared_data: Path) -> None:
    c = app_client
    served = c.get("/api/openapi.json")
    contract = Contract(served.json())
    contract.check(served, "/openapi.json")
    assert served.json() == OPENAPI

    # Uploads: a study as a multipart form, the same again as a raw stream, and the refusals.
    archive = zip_of(shared_data / STUDY)
    upload = contract.check(
        c.post("/api/uploads", files=[("files", ("study.zip", archive, "application/zip")),
                                      ("files", ("notes.txt", b"not dicom", "text/plain"))]),
        "/uploads",
    )
    assert upload["stored"] > 0 and upload["skipped"] and upload["jobs"], upload
    again = contract.check(
        c.post("/api/uploads/stream?filename=study.zip", content=archive, headers={"content-type": "application/zip"}),
        "/uploads/stream",
    )
    assert again["duplicates"] == upload["stored"]
    refused = contract.check(c.post("/api/uploads", files=[("f", ("a.txt", b"text", "text/plain"))]), "/uploads")
    assert "no DICOM files" in refused["error"]
    contract.check(c.post("/api/uploads/stream?filename=x.dcm", content=b"just text"), "/uploads/stream")
    contract.check(c.post("/api/uploads/stream", content=b"", headers={"content-type": "application/zip"}),
                   "/uploads/stream")
    contract.check(c.post("/api/uploads", content=b"--x\r\n--x--\r\n",
                          headers={"content-type": "multipart/form-data; boundary=x"}), "/uploads")
    too_big = {"content-type": "application/zip", "content-length": str(65 * 1024 * 1024)}
    contract.check(c.post("/api/uploads", content=b"PK", headers=too_big), "/uploads")
    contract.check(c.post("/api/uploads/stream", content=b"PK", headers=too_big), "/uploads/stream")

    # The analysis runs in the app's worker; every answer on the way is checked.
    job_id = upload["jobs"][0]["id"]
    deadline = time.monotonic() + 240
    while True:
        job = contract.check(c.get(f"/api/jobs/{job_id}"), "/jobs/{job_id}")
        if job["state"] in FINAL or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job["state"] == "succeeded", job["reason"]
    assert job["results"] and job["statistics"]["whole_brain"]["mean"] > 0

    page = contract.check(c.get("/api/jobs?limit=5"), "/jobs")
    assert job_id in [j["id"] for j in page["jobs"]]
    contract.check(c.get("/api/jobs?status=bogus"), "/jobs")

    with c.stream("GET", "/api/events?max_seconds=0.6") as r:
        text = b"".join(r.iter_bytes()).decode()
    contract.check(httpx.Response(r.status_code, headers=r.headers, request=r.request), "/events")
    messages = parse_event_stream(text)
    assert messages, text[:300]
    for i, message in enumerate(messages):
        contract.validate(message, "components/schemas/JobEvent")
        assert message["event"] == JOB_EVENT, i
    contract.check(c.get("/api/events?job=abc"), "/events")

    # Reports and the edited diagnosis of the finished job.
    assert contract.check(c.get(f"/api/jobs/{job_id}/report.pdf?lang=en"), "/jobs/{job_id}/report.pdf")[:4] == b"%PDF"
    contract.check(c.get(f"/api/jobs/{job_id}/report.csv"), "/jobs/{job_id}/report.csv")
    panel = contract.check(c.get(f"/api/jobs/{job_id}/panels/alzheimers.csv"), "/jobs/{job_id}/panels/{panel}.csv")
    assert panel.startswith(b"region,name,cbf_left"), panel[:200]
    contract.check(c.get(f"/api/jobs/{job_id}/panels/bogus.csv"), "/jobs/{job_id}/panels/{panel}.csv")  # 404
    noted = contract.check(c.post(f"/api/jobs/{job_id}/diagnosis", json={"diagnostic_text": "正常"}),
                           "/jobs/{job_id}/diagnosis")
    assert noted["diagnostic_text"] == "正常"
    contract.check(c.post(f"/api/jobs/{job_id}/diagnosis", json={"diagnostic_text": 3}), "/jobs/{job_id}/diagnosis")
    contract.check(c.post(f"/api/jobs/{job_id}/report?lang=en"), "/jobs/{job_id}/report")

    # Actions and their refusals.
    contract.check(c.post(f"/api/jobs/{job_id}/start"), "/jobs/{job_id}/start")  # 409: it is finished
    contract.check(c.post(f"/api/jobs/{job_id}/rerun"), "/jobs/{job_id}/rerun")
    cancelled = contract.check(c.post(f"/api/jobs/{job_id}/cancel"), "/jobs/{job_id}/cancel")
    if cancelled.get("state") != "cancelled":  # the rerun had already finished: cancel is refused (409)
        contract.check(c.post(f"/api/jobs/{job_id}/rerun"), "/jobs/{job_id}/rerun")
        contract.check(c.post(f"/api/jobs/{job_id}/cancel"), "/jobs/{job_id}/cancel")
    contract.check(c.post(f"/api/jobs/{job_id}/cancel"), "/jobs/{job_id}/cancel")  # 409: already cancelled
    contract.check(c.post(f"/api/jobs/{job_id}/rerun"), "/jobs/{job_id}/rerun")
    for _ in range(480):  # until the rerun is out of the worker's hands
        if contract.check(c.get(f"/api/jobs/{job_id}"), "/jobs/{job_id}")["state"] in FINAL:
            break
        time.sleep(0.5)

    waiting = insert_waiting_job(database_url, ["pld", "labeling_duration"])
    url = f"/api/jobs/{waiting}"
    contract.check(c.post(f"{url}/start"), "/jobs/{job_id}/start")  # 409: parameters missing
    contract.check(c.post(f"{url}/rerun"), "/jobs/{job_id}/rerun")  # 409: not finished
    contract.check(c.post(f"{url}/parameters", json={"pld": 1800}), "/jobs/{job_id}/parameters")  # 400
    contract.check(c.post(f"{url}/parameters", json={"pld": 1.8}), "/jobs/{job_id}/parameters")
    contract.check(c.get(f"{url}/report.pdf"), "/jobs/{job_id}/report.pdf")  # 409: no result
    contract.check(c.get(f"{url}/report.csv"), "/jobs/{job_id}/report.csv")  # 409
    contract.check(c.get(f"{url}/panels/metabolic.csv"), "/jobs/{job_id}/panels/{panel}.csv")  # 409
    contract.check(c.post(f"{url}/report"), "/jobs/{job_id}/report")  # 409
    contract.check(c.post(f"{url}/cancel"), "/jobs/{job_id}/cancel")
    # Values can be edited after a run too (the job runs again), but not while it runs: 409.
    held = insert_waiting_job(database_url, [], state="running", acquisition="1.2.826.0.1.3680043.10.1.2")
    contract.check(c.post(f"/api/jobs/{held}/parameters", json={"pld": 1.8}), "/jobs/{job_id}/parameters")  # 409
    contract.check(c.delete(url), "/jobs/{job_id}")
    contract.check(c.delete(url), "/jobs/{job_id}")  # 404

    ready = insert_waiting_job(database_url, [])
    started = contract.check(c.post(f"/api/jobs/{ready}/start?urgent=1"), "/jobs/{job_id}/start")
    assert started["state"] == "queued" and started["priority"] == 20

    # A job that is running cannot be deleted.
    contract.check(c.post(f"/api/jobs/{job_id}/rerun"), "/jobs/{job_id}/rerun")
    for _ in range(240):
        state = contract.check(c.get(f"/api/jobs/{job_id}"), "/jobs/{job_id}")["state"]
        if state != "queued":
            break
        time.sleep(0.1)
    if state == "running":
        contract.check(c.delete(f"/api/jobs/{job_id}"), "/jobs/{job_id}")

    # Malformed job ids and unknown jobs, on every job path and method.
    for template, ops in OPENAPI["paths"].items():
        if "{job_id}" not in template:
            continue
        for method in ops:
            for raw in ("abc", "999999"):
                path = "/api" + template.replace("{job_id}", raw)
                contract.check(c.request(method.upper(), path), template)

    # The reading workflow's, the accounts', the share links', the audit log's, the DCE curve's and the
    # detection's paths have their own contract runs (tests/server/reading/test_http.py,
    # tests/server/auth/test_http.py, tests/server/shares/, tests/server/routes/test_audit.py,
    # tests/server/workflow/test_dce_workflow.py, tests/server/workflow/test_detection_failures.py,
    # tests/server/pull/test_pull_http.py, tests/server/workflow/test_presets_units.py).
    own_runs = ("/reading/", "/auth/", "/tokens", "/users", "/institutions", "/studies/", "/shares/", "/audit",
                "/jobs/{job_id}/dce/", "/jobs/{job_id}/retry-detection", "/pull/",
                "/presets")
    contract.provoke_refusals(c, lambda template: not template.startswith(own_runs))
    documented = {d for d in contract.documented() if not d[0].startswith(own_runs)}
    missing = documented - contract.seen - NOT_PROVOKED
    assert not missing, f"documented answers never produced: {sorted(missing)}"
