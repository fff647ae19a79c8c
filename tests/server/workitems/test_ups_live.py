"""UPS-RS against real ``cirrus serve`` processes on SQLite and PostgreSQL.

Concurrent claims over real HTTP, an analysis job's life seen by a WebSocket subscriber (the job
driven by the real queue functions a worker uses), an external claim keeping the internal
workers off a job, and (PostgreSQL) an event raised through one process reaching a subscriber
connected to another.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pydicom
import pytest
import websockets
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db.analysis import AnalysisJob, AnalysisResult
from server.db.database import create_engine
from server.workflow import queue
from tests.conftest import LiveServer, live_server_env, make_database_url
from tests.server.workitems.ups_helpers import JSON_TYPE, first, performed, state_body, workitem

UPS = "/dicom-web/workitems"
GLOBAL = "1.2.840.10008.5.1.4.34.5"


def _claim_race(server: LiveServer, uid: str) -> list[httpx.Response]:
    """Two clients send the claim at the same instant; their answers."""
    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def claim(txn: str) -> None:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as c:
            body = orjson.dumps(state_body("IN PROGRESS", txn))
            barrier.wait()
            answers.append(c.put(f"{UPS}/{uid}/state", content=body, headers=JSON_TYPE))

    threads = [threading.Thread(target=claim, args=(pydicom.uid.generate_uid(),)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _insert_job(url: str, state: str = "queued", labeling: str = "pcasl") -> AnalysisJob:
    engine = create_engine(url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as s:
            job = AnalysisJob(study_instance_uid=pydicom.uid.generate_uid(), acquisition_key=uuid.uuid4().hex,
                              series_uids=[pydicom.uid.generate_uid()], patient_name="Job^Patient",
                              patient_name_upper="JOB^PATIENT", patient_id="JOBPID", study_date="20260301",
                              exam_datetime="20260301080000", state=state, labeling=labeling)
            s.add(job)
            await s.commit()
            return job
    finally:
        await engine.dispose()


async def _job(url: str, job_id: int) -> AnalysisJob:
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as s:
            return (await s.exec(select(AnalysisJob).where(col(AnalysisJob.id) == job_id))).one()
    finally:
        await engine.dispose()


def test_two_clients_claim_at_once_exactly_one_wins(live_server: LiveServer, database_url: str) -> None:
    with httpx.Client(base_url=live_server.url, headers=live_server.headers, timeout=30) as c:
        for _ in range(4):
            uid = pydicom.uid.generate_uid()
            assert c.post(f"{UPS}?{uid}", content=orjson.dumps(workitem()), headers=JSON_TYPE).status_code == 201
            answers = _claim_race(live_server, uid)
            assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
            loser = next(r for r in answers if r.status_code == 409)
            # The loser's Transaction UID is not the lock's (C301), and the message names the state.
            assert loser.json()["error"].startswith("C301") and "the workitem is IN PROGRESS" in loser.json()["error"]
            assert loser.json()["state"] == "IN PROGRESS"
            [ds] = c.get(f"{UPS}/{uid}").json()
            assert first(ds, "00741000") == "IN PROGRESS"
        job = _run(_insert_job(database_url))
        answers = _claim_race(live_server, job.workitem_uid)
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        stored = _run(_job(database_url, job.id or 0))
        assert stored.state == "running" and stored.lease_owner.startswith("ups:")


async def _receive(ws: Any, n: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The next ``n`` workitem events (SCP Status Changes of servers starting and stopping left out)."""
    out: list[dict[str, Any]] = []
    while len(out) < n:
        report = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
        if first(report, "00001002") != 4:
            out.append(report)
    return out


def _summary(report: dict[str, Any]) -> tuple[str, int, str | None]:
    return first(report, "00001000"), first(report, "00001002"), first(report, "00741000")


def _ws_url(server: LiveServer, ae: str, since: int | None = None) -> str:
    return server.url.replace("http", "ws") + f"/dicom-web/subscribers/{ae}" + (f"?since={since}" if since else "")


def test_analysis_job_life_reaches_a_subscriber_in_order(live_server: LiveServer, database_url: str) -> None:
    ae = "JOBS" + uuid.uuid4().hex[:6].upper()

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=live_server.url, headers=live_server.headers) as c:
            assert (await c.post(f"{UPS}/{GLOBAL}/subscribers/{ae}")).status_code == 201
            start = orjson.loads((await c.get(UPS, params={"limit": "1"})).content)  # the server is up
            assert isinstance(start, list)
            async with websockets.connect(_ws_url(live_server, ae), additional_headers=live_server.headers) as ws:
                job = await _insert_job(database_url)  # what the detector does
                uid = job.workitem_uid
                [scheduled] = await _receive(ws, 1)
                assert _summary(scheduled) == (uid, 1, "SCHEDULED")
                engine = create_engine(database_url)
                try:
                    lease = await queue.claim(engine, "test-worker", 60)  # an internal worker takes it
                    assert lease is not None and lease.job_id == job.id
                    claimed = await _receive(ws, 2)
                    derived = pydicom.uid.generate_uid()
                    async with AsyncSession(engine) as s:
                        s.add(AnalysisResult(job_id=job.id or 0, version=1, study_instance_uid=job.study_instance_uid,
                                             series={"CBF": derived}))
                        await s.commit()
                    assert await queue.finish(engine, lease, "succeed", version=1)
                    [completed] = await _receive(ws, 1)
                finally:
                    await engine.dispose()
            events = [scheduled, *claimed, completed]
            assert [_summary(e) for e in events] == [(uid, 1, "SCHEDULED"), (uid, 1, "IN PROGRESS"), (uid, 5, None),
                                                     (uid, 1, "COMPLETED")]
            seqs = [first(e, "00091001") for e in events]
            assert seqs == sorted(seqs) and len(set(seqs)) == 4
            [ds] = orjson.loads((await c.get(f"{UPS}/{uid}")).content)
            assert first(ds, "00741000") == "COMPLETED"
            assert first(ds["00404018"]["Value"][0], "00080104") == "ASL perfusion quantification"
            assert first(ds["00404021"]["Value"][0], "0020000E") == job.series_uids[0]
            output = ds["00741216"]["Value"][0]["00404033"]["Value"]
            assert [first(o, "0020000E") for o in output] == [derived]
            found = orjson.loads((await c.get(UPS, params={"ProcedureStepState": "COMPLETED",
                                                           "PatientID": "JOBPID"})).content)
            assert uid in [first(d, "00080018") for d in found]
            # A reconnecting client asks for what followed the first event: the rest, in order.
            async with websockets.connect(_ws_url(live_server, ae, seqs[0]),
                                          additional_headers=live_server.headers) as ws:
                again = await _receive(ws, 3)
            assert [first(e, "00091001") for e in again] == seqs[1:]

    _run(scenario())


def test_an_external_claim_keeps_the_internal_workers_off_the_job(live_server: LiveServer,
                                                                   database_url: str) -> None:
    job = _run(_insert_job(database_url, labeling="dce"))
    txn = pydicom.uid.generate_uid()
    with httpx.Client(base_url=live_server.url, headers=live_server.headers, timeout=30) as c:
        [ds] = c.get(f"{UPS}/{job.workitem_uid}").json()
        assert first(ds["00404018"]["Value"][0], "00080104") == "DCE perfusion quantification"
        r = c.put(f"{UPS}/{job.workitem_uid}/state", content=orjson.dumps(state_body("IN PROGRESS", txn)),
                  headers=JSON_TYPE)
        assert r.status_code == 200, r.text

        async def internal() -> tuple[Any, Any]:
            engine = create_engine(database_url)
            try:
                far = time.time() + 10**6
                return await queue.claim(engine, "internal", 60), await queue.reap_expired(
                    engine, datetime.fromtimestamp(far, UTC))
            finally:
                await engine.dispose()

        lease, reaped = _run(internal())
        assert lease is None and reaped == []
        r = c.put(f"{UPS}/{job.workitem_uid}/state", content=orjson.dumps(state_body("COMPLETED", txn)),
                  headers=JSON_TYPE)
        assert r.status_code == 409 and "C304" in r.json()["error"]
        output = pydicom.uid.generate_uid()
        r = c.put(f"{UPS}/{job.workitem_uid}?transaction={txn}",
                  content=orjson.dumps(performed(output, job.study_instance_uid)), headers=JSON_TYPE)
        assert r.status_code == 200, r.text
        r = c.put(f"{UPS}/{job.workitem_uid}/state",
                  content=orjson.dumps(state_body("COMPLETED", pydicom.uid.generate_uid())), headers=JSON_TYPE)
        assert r.status_code == 409 and "C301" in r.json()["error"]
        r = c.put(f"{UPS}/{job.workitem_uid}/state", content=orjson.dumps(state_body("COMPLETED", txn)),
                  headers=JSON_TYPE)
        assert r.status_code == 200, r.text
    assert _run(_job(database_url, job.id or 0)).state == "succeeded"


@pytest.fixture
def pg_url() -> Any:
    yield from make_database_url("postgres", Path("/nonexistent"))


def test_an_event_through_one_process_reaches_a_subscriber_of_another(pg_url: str, tmp_path: Path) -> None:
    servers = []
    try:
        for name in ("one", "two"):
            data = tmp_path / name
            data.mkdir()
            # Channels re-read the event table only once a minute: within the test's 15 s only the
            # NOTIFY that process 1 sends can wake the subscriber's sender in process 2.
            env = live_server_env(pg_url, data, CIRRUS_UPS_POLL_SECONDS="60")
            servers.append(LiveServer(env, data).start())
        one, two = servers
        ae = "PROC" + uuid.uuid4().hex[:6].upper()

        async def scenario() -> float:
            async with httpx.AsyncClient(base_url=two.url, headers=two.headers) as c2, \
                    httpx.AsyncClient(base_url=one.url, headers=one.headers) as c1:
                assert (await c2.post(f"{UPS}/{GLOBAL}/subscribers/{ae}")).status_code == 201
                async with websockets.connect(_ws_url(two, ae), additional_headers=two.headers) as ws:
                    await asyncio.sleep(0.3)
                    uid = pydicom.uid.generate_uid()
                    sent = time.monotonic()
                    r = await c1.post(f"{UPS}?{uid}", content=orjson.dumps(workitem()), headers=JSON_TYPE)
                    assert r.status_code == 201
                    [report] = await _receive(ws, 1)
                    assert _summary(report) == (uid, 1, "SCHEDULED")
                    return time.monotonic() - sent

        latency = _run(scenario())
        print(f"event from process 1 reached the subscriber of process 2 after {latency * 1000:.0f} ms")
    finally:
        for s in servers:
            s.stop()
