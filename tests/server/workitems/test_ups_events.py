"""UPS Progress Report and SCP Status Change events (PS3.4 CC.2.4) on SQLite and PostgreSQL, over the
WebSocket channel of the real app: exact event reports, once per change, in order."""

from __future__ import annotations

import functools
from typing import Any

import orjson
import pydicom
from pydicom.uid import generate_uid

from server.app import create_app
from server.db.analysis import AnalysisJob
from server.workflow import job_workitems, queue
from tests.conftest import authed_client
from tests.server.workitems.ups_helpers import JSON_TYPE, UPS, first, state_body, workitem

GLOBAL = "1.2.840.10008.5.1.4.34.5"


def _progress(percent: int, text: str) -> bytes:
    return orjson.dumps({"00741002": {"vr": "SQ", "Value": [{
        "00741004": {"vr": "DS", "Value": [percent]}, "00741006": {"vr": "ST", "Value": [text]}}]}})


def _next(ws: Any, skip_status: bool = True) -> dict[str, Any]:
    while True:
        report: dict[str, Any] = orjson.loads(ws.receive_text())
        if not (skip_status and first(report, "00001002") == 4):
            return report


def _progress_of(report: dict[str, Any]) -> tuple[str, int, Any, Any]:
    [item] = report["00741002"]["Value"]
    return first(report, "00001000"), first(report, "00001002"), first(item, "00741004"), first(item, "00741006")


def test_a_performer_updating_progress_sends_progress_reports(client: Any) -> None:
    uid, txn, ae = generate_uid(), generate_uid(), "PROG" + generate_uid()[-4:]
    assert client.post(f"{UPS}?{uid}", content=orjson.dumps(workitem()), headers=JSON_TYPE).status_code == 201
    assert client.post(f"{UPS}/{uid}/subscribers/{ae}").status_code == 201
    with client.websocket_connect(f"/dicom-web/subscribers/{ae}?since=0") as ws:
        assert first(_next(ws), "00741000") == "SCHEDULED"
        r = client.put(f"{UPS}/{uid}/state", content=orjson.dumps(state_body("IN PROGRESS", txn)), headers=JSON_TYPE)
        assert r.status_code == 200
        assert [first(_next(ws), "00001002") for _ in range(2)] == [1, 5]
        assert client.put(f"{UPS}/{uid}?transaction={txn}", content=_progress(40, "registering"),
                          headers=JSON_TYPE).status_code == 200
        assert _progress_of(_next(ws)) == (uid, 3, 40, "registering")
        # The same progress again is no news; the next change is the next event.
        assert client.put(f"{UPS}/{uid}?transaction={txn}", content=_progress(40, "registering"),
                          headers=JSON_TYPE).status_code == 200
        label = {"00741204": {"vr": "LO", "Value": ["renamed"]}}
        assert client.put(f"{UPS}/{uid}?transaction={txn}", content=orjson.dumps(label),
                          headers=JSON_TYPE).status_code == 200  # not progress: no report
        assert client.put(f"{UPS}/{uid}?transaction={txn}", content=_progress(75, "fitting"),
                          headers=JSON_TYPE).status_code == 200
        report = _next(ws)
        assert _progress_of(report) == (uid, 3, 75, "fitting")
        assert first(report, "00000002") == "1.2.840.10008.5.1.4.34.6.4"


def test_an_internal_workers_progress_is_reported_once_per_change(client: Any) -> None:
    ctx = client.app.state.ctx

    async def new_job() -> AnalysisJob:
        async with ctx.write_session() as s:
            job = AnalysisJob(study_instance_uid=generate_uid(), acquisition_key=generate_uid(),
                              series_uids=[generate_uid()], patient_id="PROGRESS", state="queued")
            s.add(job)
            await s.commit()
            await s.refresh(job)
        await job_workitems.reconcile(ctx)
        return job

    job = client.portal.call(new_job)
    uid, ae = job.workitem_uid, "WORKER" + generate_uid()[-4:]
    assert client.post(f"{UPS}/{uid}/subscribers/{ae}").status_code == 201
    lease = client.portal.call(queue.claim, ctx.engine, "test-worker", 60)
    assert lease is not None and lease.job_id == job.id
    with client.websocket_connect(f"/dicom-web/subscribers/{ae}?since=0") as ws:
        client.portal.call(job_workitems.reconcile, ctx)
        got = [_next(ws) for _ in range(3)]
        assert [(first(e, "00001002"), first(e, "00741000")) for e in got] == [
            (1, "SCHEDULED"), (1, "IN PROGRESS"), (5, None)]  # the claim itself is no progress
        for value, stage in [(0.2, "classifying"), (0.2, "classifying"), (0.204, "classifying"), (0.6, "fitting")]:
            assert client.portal.call(queue.heartbeat, ctx.engine, lease, 60, value, stage)
            client.portal.call(job_workitems.reconcile, ctx)
            client.portal.call(job_workitems.reconcile, ctx)  # a second pass (another process) adds nothing
        assert _progress_of(_next(ws)) == (uid, 3, 20, "classifying")
        assert _progress_of(_next(ws)) == (uid, 3, 60, "fitting")
        assert client.portal.call(functools.partial(queue.finish, ctx.engine, lease, "fail", reason="stopped"))
        client.portal.call(job_workitems.reconcile, ctx)
        last = _next(ws)
        assert (first(last, "00001002"), first(last, "00741000")) == (1, "CANCELED")  # nothing in between


def test_scp_status_change_on_going_down_and_restart(database_url: str, settings_factory: Any) -> None:
    ae = "STATUS" + generate_uid()[-4:]
    settings = settings_factory(database_url)
    with authed_client(create_app(settings)) as c:
        assert c.post(f"{UPS}/{GLOBAL}/subscribers/{ae}").status_code == 201
        uid = generate_uid()
        assert c.post(f"{UPS}?{uid}", content=orjson.dumps(workitem()), headers=JSON_TYPE).status_code == 201
        with c.websocket_connect(f"/dicom-web/subscribers/{ae}?since=0") as ws:
            seen = _next(ws)
        assert first(seen, "00001000") == uid
        since = first(seen, "00091001")
    with authed_client(create_app(settings)) as c:  # the same database: a restart
        with c.websocket_connect(f"/dicom-web/subscribers/{ae}?since={since}") as ws:
            down, up = _next(ws, skip_status=False), _next(ws, skip_status=False)
        assert c.get(f"{UPS}/{uid}").status_code == 200  # the workitems survived: WARM START
    assert {k: v for k, v in down.items() if k != "00091001"} == {
        "00000002": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.34.6.4"]},
        "00001000": {"vr": "UI", "Value": [GLOBAL]},
        "00001002": {"vr": "US", "Value": [4]},
        "00741242": {"vr": "CS", "Value": ["GOING DOWN"]},
        "00090010": {"vr": "LO", "Value": ["CIRRUS UPS"]},
    }
    assert first(up, "00001002") == 4 and first(up, "00741242") == "RESTARTED"
    assert first(up, "00741244") == "WARM START" and first(up, "00741246") == "WARM START"
    assert first(down, "00091001") < first(up, "00091001")


def test_status_changes_reach_only_subscribers() -> None:
    from server.db.workitems import WorkitemEvent
    from server.workflow.workitems import Interest

    event = WorkitemEvent(seq=1, workitem_uid=GLOBAL, institution_id=0, event_type=4, report={}, snapshot={})
    nobody = Interest(workitems=frozenset(), everything=False, filters=())
    one = Interest(workitems=frozenset({pydicom.uid.generate_uid()}), everything=False, filters=(), subscribed=True)
    assert not nobody.wants(event) and one.wants(event)


def test_deletion_lock_keeps_a_final_workitem_past_its_retention(database_url: str, settings_factory: Any) -> None:
    """PS3.4 CC.2.3.1: with a retention set, final workitems are deleted unless a deletion lock holds them."""
    from server.workflow import workitems as service

    settings = settings_factory(database_url, ups_retention_days=1e-9)
    with authed_client(create_app(settings)) as c:
        ctx = c.app.state.ctx
        txn = generate_uid()
        free, locked, watched, running = (generate_uid() for _ in range(4))
        for uid in (free, locked, watched, running):
            assert c.post(f"{UPS}?{uid}", content=orjson.dumps(workitem(patient_id=f"RET-{uid[-6:]}")),
                          headers=JSON_TYPE).status_code == 201
            assert c.put(f"{UPS}/{uid}/state", content=orjson.dumps(state_body("IN PROGRESS", txn)),
                         headers=JSON_TYPE).status_code == 200
        assert c.post(f"{UPS}/{locked}/subscribers/KEEPER", params={"deletionlock": "true"}).status_code == 201
        assert c.post(f"{UPS}/{watched}/subscribers/WATCHER", params={"deletionlock": "false"}).status_code == 201
        for uid in (free, locked, watched):
            assert c.put(f"{UPS}/{uid}/state", content=orjson.dumps(state_body("CANCELED", txn)),
                         headers=JSON_TYPE).status_code == 200
        assert c.portal.call(service.purge_final, ctx) == 2  # free and watched; running is not final
        assert [c.get(f"{UPS}/{u}").status_code for u in (free, locked, watched, running)] == [404, 200, 404, 200]
        # Released by unsubscribing: then it goes too.
        assert c.delete(f"{UPS}/{locked}/subscribers/KEEPER").status_code == 200
        assert c.portal.call(service.purge_final, ctx) == 1
        assert c.get(f"{UPS}/{locked}").status_code == 404
        # A global subscription with a deletion lock holds every workitem of its institution.
        other = generate_uid()
        assert c.post(f"{UPS}?{other}", content=orjson.dumps(workitem()), headers=JSON_TYPE).status_code == 201
        assert c.post(f"{UPS}/{GLOBAL}/subscribers/ALL", params={"deletionlock": "true"}).status_code == 201
        assert c.post(f"{UPS}/{other}/cancelrequest").status_code == 202  # SCHEDULED: canceled at once
        assert c.portal.call(service.purge_final, ctx) == 0
        assert c.get(f"{UPS}/{other}").status_code == 200
    # Without a retention nothing is ever deleted.
    with authed_client(create_app(settings_factory(database_url))) as c:
        assert c.portal.call(service.purge_final, c.app.state.ctx) == 0
