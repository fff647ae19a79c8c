"""The audit log on SQLite and PostgreSQL: requests recorded by the middleware, append-only table,
admin query and exports (CSV, DICOM PS3.15 audit message XML), and recording that never blocks."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
import time
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from server.app import create_app
from server.auth.principal import Role
from server.context import open_context
from server.db.database import create_engine
from server.routes.openapi import OPENAPI
from server.services.audit import AuditEntry, AuditWriter
from tests.auth_helpers import PASSWORD, bearer, create_user, token_for
from tests.conftest import authed_client
from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart
from tests.server.routes.test_openapi_contract import Contract

ACCEPT_DICOM = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}


def drain(client: TestClient) -> None:
    client.portal.call(client.app.state.audit.drain)  # type: ignore[union-attr,attr-defined]


def records(client: TestClient, **query: str) -> list[dict[str, Any]]:
    drain(client)
    r = client.get("/api/audit", params={"limit": "1000", **query})
    assert r.status_code == 200, r.text
    return r.json()["records"][::-1]  # oldest first


def stow(client: TestClient, study: str, n: int = 2, patient: str = "Wang^Fang") -> None:
    parts = [ct_instance(study=study, number=i + 1, patient=patient) for i in range(n)]
    r = client.post("/dicom-web/studies", content=multipart(parts), headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 200, r.text


def test_dicomweb_requests_give_the_right_rows(client: TestClient) -> None:
    study = generate_uid()
    stow(client, study)
    assert client.get("/dicom-web/studies", params={"PatientID": "PID-WANG"}).status_code == 200
    assert client.get(f"/dicom-web/studies/{study}/series").status_code == 200
    assert client.get(f"/dicom-web/studies/{study}/metadata").status_code == 200
    assert client.get(f"/dicom-web/studies/{study}", headers=ACCEPT_DICOM).status_code == 200
    missing = generate_uid()
    assert client.get(f"/dicom-web/studies/{missing}/metadata").status_code == 404
    assert client.delete(f"/dicom-web/studies/{study}").status_code in (200, 204)
    assert client.get("/").status_code in (200, 404)  # the app itself is not audited

    rows = [r for r in records(client) if r["path"].startswith("/dicom-web")]
    got = [(r["action"], r["study_uid"], r["outcome"], r["status"], r["method"]) for r in rows]
    assert got == [
        ("upload", study, "success", 200, "POST"),
        ("query", "", "success", 200, "GET"),
        ("query", study, "success", 200, "GET"),
        ("view", study, "success", 200, "GET"),
        ("download", study, "success", 200, "GET"),
        ("view", missing, "not_found", 404, "GET"),
        ("delete", study, "success", rows[-1]["status"], "DELETE"),
    ]
    # The patient comes from the study (the path names only the study), also for the deleted one.
    assert [r["patient_id"] for r in rows if r["study_uid"] == study] == ["PID-WANG"] * 5
    assert rows[1]["path"] == "/dicom-web/studies?PatientID=PID-WANG"
    assert all(r["client_address"] == "testclient" and r["at"] for r in rows)
    assert {(r["actor"], r["auth_method"], r["acting_for_institution_id"]) for r in rows} == {("admin", "token", 1)}
    assert all(isinstance(r["token_id"], int) and isinstance(r["actor_user_id"], int) for r in rows)
    # Filters.
    assert [r["action"] for r in records(client, study=study, action="view,download")] == ["view", "download"]
    assert len(records(client, patient="PID-WANG")) == 5
    assert records(client, outcome="not_found")[0]["study_uid"] == missing
    assert records(client, since="2999-01-01") == []
    r = client.get("/api/audit", params={"action": "peek"})
    assert r.status_code == 400 and "unknown action" in r.json()["error"]
    page = client.get("/api/audit", params={"limit": "2", "offset": "1"}).json()
    assert page["limit"] == 2 and page["offset"] == 1 and len(page["records"]) == 2 and page["total"] >= 8


def test_upload_route_names_every_stored_study(client: TestClient) -> None:
    a, b = generate_uid(), generate_uid()
    files = [("files", (f"{i}.dcm", ct_instance(study=s, patient=p), "application/dicom"))
             for i, (s, p) in enumerate([(a, "Li^Lei"), (b, "Zhao^Min")])]
    r = client.post("/api/uploads", files=files, params={"analyse": "0"})
    assert r.status_code == 200, r.text
    rows = [r for r in records(client, action="upload")]
    assert {(r["study_uid"], r["patient_id"]) for r in rows} == {(a, "PID-LI"), (b, "PID-ZHAO")}


async def test_the_table_refuses_update_and_delete(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO audit_log (at, actor, auth_method, client_address, action, outcome, status, patient_id, "
                "study_uid, method, path, detail) VALUES (CURRENT_TIMESTAMP, 'a', '', '', 'view', 'success', 200, "
                "'', '', 'GET', '/x', '')"))
        for statement in ("UPDATE audit_log SET actor = 'b'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
        if engine.dialect.name == "postgresql":
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text("TRUNCATE audit_log"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT actor FROM audit_log"))).scalars().all() == ["a"]
    finally:
        await engine.dispose()


def test_csv_and_xml_exports(client: TestClient) -> None:
    study = generate_uid()
    stow(client, study, patient="Sun^Yi")
    client.get(f"/dicom-web/studies/{study}/metadata")
    client.get(f"/dicom-web/studies/{generate_uid()}/metadata")
    drain(client)

    r = client.get("/api/audit/export.csv", params={"study": study})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["action"], row["patient_id"], row["outcome"]) for row in table] == [
        ("upload", "PID-SUN", "success"), ("view", "PID-SUN", "success")]

    r = client.get("/api/audit/export.xml")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "AuditMessages"
    messages = root.findall("AuditMessage")
    assert len(messages) >= 3
    for m in messages:
        assert [c.tag for c in m][:1] == ["EventIdentification"]
        event = m.find("EventIdentification")
        assert event is not None and event.get("EventActionCode") in {"C", "R", "U", "D", "E"}
        assert event.get("EventDateTime") and event.get("EventOutcomeIndicator") in {"0", "4", "8", "12"}
        event_id = event.find("EventID")
        assert event_id is not None and event_id.get("codeSystemName") == "DCM"
        assert event_id.get("csd-code") and event_id.get("originalText")
        participants = m.findall("ActiveParticipant")
        assert [p.get("UserIsRequestor") for p in participants] == ["true", "false"]
        assert all(p.get("UserID") for p in participants)
        source = m.find("AuditSourceIdentification")
        assert source is not None and source.get("AuditSourceID") == "Cirrus"
    [stored] = [m for m in messages if m.find("EventIdentification").get("EventActionCode") == "C"]  # type: ignore[union-attr]
    assert stored.find("EventIdentification/EventID").get("csd-code") == "110104"  # type: ignore[union-attr]
    objects = {o.find("ParticipantObjectIDTypeCode").get("csd-code"): o.get("ParticipantObjectID")  # type: ignore[union-attr]
               for o in stored.findall("ParticipantObjectIdentification")}
    assert objects == {"2": "PID-SUN", "110180": study}
    failed = [m for m in messages if m.find("EventIdentification").get("EventOutcomeIndicator") == "4"]  # type: ignore[union-attr]
    assert failed and failed[0].find("EventIdentification/EventOutcomeDescription").text == "HTTP 404"  # type: ignore[union-attr]


async def _doctor_token(ctx: Any) -> str:
    doctor = await create_user(ctx, Role.REPORTING_DOCTOR, username="dr.zhang")
    return await token_for(ctx, doctor, scope="read")


def _rows(c: TestClient, database_url: str) -> list[tuple[Any, ...]]:
    async def read() -> list[Any]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return list(await conn.execute(text(
                    "SELECT actor, actor_user_id, token_id, auth_method, acting_for_institution_id, action, "
                    "outcome, status, path, detail FROM audit_log ORDER BY id")))
        finally:
            await engine.dispose()

    drain(c)
    return [tuple(r) for r in c.portal.call(read)]  # type: ignore[union-attr]


def test_non_admin_gets_403_and_every_actor_and_refusal_is_recorded(
    database_url: str, settings_factory  # type: ignore[no-untyped-def]
) -> None:
    with TestClient(create_app(settings_factory(database_url))) as c:
        token = c.portal.call(_doctor_token, c.app.state.ctx)  # type: ignore[union-attr,attr-defined]
        for path in ("/api/audit", "/api/audit/export.csv", "/api/audit/export.xml"):
            assert c.get(path, headers=bearer(token)).status_code == 403
        assert c.get("/dicom-web/studies", headers=bearer(token)).status_code == 200
        assert c.get("/dicom-web/studies", headers=bearer("cirrus_not-a-real-token")).status_code == 401
        assert c.get("/dicom-web/studies").status_code == 401
        assert c.post("/api/auth/login", json={"username": "dr.zhang", "password": "wrong"}).status_code == 401
        assert c.post("/api/auth/login", json={"username": "dr.zhang", "password": PASSWORD}).status_code == 200
        rows = _rows(c, database_url)
    doctor = rows[0][1]
    assert isinstance(doctor, int) and rows[0][2] is not None
    me = ("dr.zhang", doctor, rows[0][2], "token", 1)
    assert [r[:8] for r in rows[:4]] == [
        (*me, "query", "denied", 403), (*me, "download", "denied", 403), (*me, "download", "denied", 403),
        (*me, "query", "success", 200)]
    assert [r[:8] for r in rows[4:6]] == [("", None, None, "", None, "query", "denied", 401)] * 2
    assert rows[6][:8] == ("dr.zhang", None, None, "", None, "failed_login", "denied", 401)
    assert rows[6][9] == "wrong username or password"
    assert rows[7][:8] == ("dr.zhang", doctor, None, "session", 1, "login", "success", 200)
    assert len(rows) == 8


def _hold_audit_table(database_url: str, held: threading.Event, release: threading.Event) -> None:
    """From another connection, keep audit_log locked against inserts until ``release``."""

    async def run() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                sqlite = engine.dialect.name == "sqlite"
                # SQLite: BEGIN IMMEDIATE takes the database's one write lock (server.db.database).
                conn = await conn.execution_options(sqlite_immediate=True) if sqlite else conn
                async with conn.begin():
                    if not sqlite:
                        await conn.exec_driver_sql("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
                    held.set()
                    while not release.is_set():
                        await asyncio.sleep(0.01)
                    await conn.rollback()
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_a_burst_is_answered_while_the_writer_is_blocked_and_all_recorded_after(
    database_url: str, settings_factory  # type: ignore[no-untyped-def]
) -> None:
    with authed_client(create_app(settings_factory(database_url))) as c:
        study = generate_uid()
        stow(c, study)
        drain(c)
        writer = c.app.state.audit  # type: ignore[attr-defined]
        written = writer.written
        held, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_audit_table, args=(database_url, held, release))
        holder.start()
        try:
            assert held.wait(10)
            started = time.monotonic()
            for _ in range(200):
                assert c.get(f"/dicom-web/studies/{study}/series").status_code == 200
            elapsed = time.monotonic() - started
            assert writer.written == written, "the writer cannot have written while the table is held"
        finally:
            release.set()
            holder.join()
        # 200 answers in well under the time one blocked insert waits (busy timeout / lock wait).
        assert elapsed < 20, elapsed
        rows = records(c, study=study, action="query")
        assert len(rows) == 200 and writer.dropped == 0


def test_answers_match_the_openapi_document(client: TestClient) -> None:
    contract = Contract(OPENAPI)
    stow(client, generate_uid())
    drain(client)
    doctor = client.portal.call(_doctor_token, client.app.state.ctx)  # type: ignore[union-attr,attr-defined]
    for template in ("/audit", "/audit/export.csv", "/audit/export.xml"):
        path = "/api" + template
        contract.check(client.get(path), template)
        contract.check(client.get(path, params={"since": "yesterday"}), template)
        contract.check(client.get(path, headers={"Authorization": ""}), template)
        contract.check(client.get(path, headers=bearer(doctor)), template)
    page = contract.check(client.get("/api/audit", params={"action": "upload,query"}), "/audit")
    assert page["records"] and {r["action"] for r in page["records"]} <= {"upload", "query"}
    documented = {d for d in contract.documented() if d[0].startswith("/audit")}
    assert documented - contract.seen == set()


async def test_a_full_queue_counts_and_logs_every_drop(database_url: str, settings_factory,  # type: ignore[no-untyped-def]
                                                        caplog: pytest.LogCaptureFixture) -> None:
    async with open_context(settings_factory(database_url)) as ctx:
        writer = AuditWriter(ctx, queue_size=2, batch_size=10, linger=0)
        writer.start()
        held, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_audit_table, args=(database_url, held, release))
        holder.start()
        try:
            assert await asyncio.to_thread(held.wait, 10)
            writer.record(AuditEntry(action="view", outcome="success", path="/first"))
            await asyncio.sleep(0.2)  # the writer takes the first one and waits for the table
            for n in range(5):
                writer.record(AuditEntry(action="view", outcome="success", path=f"/p{n}",
                                         method="VERYLONGMETHOD"))
            assert writer.dropped == 3
        finally:
            release.set()
            await asyncio.to_thread(holder.join)
        await writer.drain()
        assert (writer.written, writer.dropped) == (3, 3)
        dropped = [r.getMessage() for r in caplog.records if "audit record dropped" in r.getMessage()]
        assert len(dropped) == 3 and "/p2" in dropped[0] and "the audit queue is full" in dropped[0]
        await writer.stop()
        async with ctx.engine.connect() as conn:
            paths = (await conn.execute(text("SELECT path, method FROM audit_log ORDER BY id"))).all()
        assert [tuple(p) for p in paths] == [("/first", ""), ("/p0", "VERYLONG"), ("/p1", "VERYLONG")]
