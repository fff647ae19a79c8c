"""UPS-RS over the app on SQLite and PostgreSQL: the state table, validation, search, subscriptions.

Expected answers are written out from PS3.4 Table CC.1.1-2 (not read from the code's table).
"""

from __future__ import annotations

from typing import Any

import orjson
import pydicom
import pytest
from starlette.websockets import WebSocketDisconnect

from server.db.analysis import AnalysisJob
from server.workflow import job_workitems
from tests.server.workitems.ups_helpers import JSON_TYPE, UPS, first, performed, state_body, workitem

T = "1.2.826.0.1.3680043.10.1.1"  # the performer's Transaction UID
OTHER = "1.2.826.0.1.3680043.10.1.2"


def _post(c: Any, body: Any, uid: str | None = None, raw: bytes | None = None) -> Any:
    url = UPS + (f"?{uid}" if uid else "")
    return c.post(url, content=raw if raw is not None else orjson.dumps(body), headers=JSON_TYPE)


def _put_state(c: Any, uid: str, state: str, txn: str | None) -> Any:
    return c.put(f"{UPS}/{uid}/state", content=orjson.dumps(state_body(state, txn)), headers=JSON_TYPE)


def _state(c: Any, uid: str) -> str:
    r = c.get(f"{UPS}/{uid}")
    assert r.status_code == 200, r.text
    [ds] = r.json()
    assert "00081195" not in ds  # the Transaction UID is never returned
    return str(first(ds, "00741000"))


def _in_state(c: Any, state: str) -> str:
    """A new workitem brought to ``state`` by the performer holding ``T``."""
    uid = pydicom.uid.generate_uid()
    assert _post(c, workitem(), uid).status_code == 201
    if state == "SCHEDULED":
        return uid
    assert _put_state(c, uid, "IN PROGRESS", T).status_code == 200
    if state == "COMPLETED":
        r = c.put(f"{UPS}/{uid}?transaction={T}", content=orjson.dumps(performed()), headers=JSON_TYPE)
        assert r.status_code == 200, r.text
        assert _put_state(c, uid, "COMPLETED", T).status_code == 200
    elif state == "CANCELED":
        assert _put_state(c, uid, "CANCELED", T).status_code == 200
    assert _state(c, uid) == state
    return uid


# (from state, requested state, Transaction UID) -> (HTTP status, DIMSE status in the message, state after)
TABLE = [
    ("SCHEDULED", "IN PROGRESS", T, 200, "0000", "IN PROGRESS"),
    ("SCHEDULED", "IN PROGRESS", None, 400, "C301", "SCHEDULED"),
    ("IN PROGRESS", "IN PROGRESS", T, 409, "C302", "IN PROGRESS"),
    ("IN PROGRESS", "IN PROGRESS", OTHER, 409, "C301", "IN PROGRESS"),
    ("COMPLETED", "IN PROGRESS", T, 409, "C300", "COMPLETED"),
    ("CANCELED", "IN PROGRESS", T, 409, "C300", "CANCELED"),
    ("SCHEDULED", "COMPLETED", T, 409, "C310", "SCHEDULED"),
    ("IN PROGRESS", "COMPLETED", OTHER, 409, "C301", "IN PROGRESS"),
    ("IN PROGRESS", "COMPLETED", None, 400, "C301", "IN PROGRESS"),
    ("COMPLETED", "COMPLETED", T, 200, "B306", "COMPLETED"),
    ("COMPLETED", "COMPLETED", OTHER, 409, "C301", "COMPLETED"),
    ("CANCELED", "COMPLETED", T, 409, "C300", "CANCELED"),
    ("SCHEDULED", "CANCELED", T, 409, "C310", "SCHEDULED"),
    ("IN PROGRESS", "CANCELED", T, 200, "0000", "CANCELED"),
    ("IN PROGRESS", "CANCELED", OTHER, 409, "C301", "IN PROGRESS"),
    ("COMPLETED", "CANCELED", T, 409, "C300", "COMPLETED"),
    ("CANCELED", "CANCELED", T, 200, "B304", "CANCELED"),
    ("SCHEDULED", "SCHEDULED", T, 400, "C303", "SCHEDULED"),
    ("IN PROGRESS", "SCHEDULED", T, 400, "C303", "IN PROGRESS"),
]


def test_the_state_table(client: Any) -> None:
    failures = []
    for start, target, txn, status, code, after in TABLE:
        uid = _in_state(client, start)
        r = _put_state(client, uid, target, txn)
        message = r.json()["error"] if r.status_code >= 400 else r.headers.get("warning", "")
        got = (r.status_code, code in message or (code == "0000" and not message), _state(client, uid))
        if got != (status, True, after):
            failures.append(f"{start} -> {target} ({txn}): {r.status_code} {message!r} then {got[2]}")
        if r.status_code == 409:
            assert f"the workitem is {start}" in message and r.json()["state"] == start
    assert not failures, "\n".join(failures)


def test_completed_needs_the_final_state_attributes(client: Any) -> None:
    uid = _in_state(client, "IN PROGRESS")
    r = _put_state(client, uid, "COMPLETED", T)
    assert r.status_code == 409
    assert "C304" in r.json()["error"] and "UnifiedProcedureStepPerformedProcedureSequence" in r.json()["error"]
    assert _state(client, uid) == "IN PROGRESS"


def test_unknown_workitem_is_404(client: Any) -> None:
    uid = pydicom.uid.generate_uid()
    assert client.get(f"{UPS}/{uid}").status_code == 404
    assert _put_state(client, uid, "IN PROGRESS", T).status_code == 404
    assert client.post(f"{UPS}/{uid}/cancelrequest").status_code == 404


@pytest.mark.parametrize("start,status,after,warning", [
    ("SCHEDULED", 202, "CANCELED", ""), ("IN PROGRESS", 202, "IN PROGRESS", ""),
    ("COMPLETED", 409, "COMPLETED", ""), ("CANCELED", 202, "CANCELED", "B304")])
def test_cancel_request(client: Any, start: str, status: int, after: str, warning: str) -> None:
    uid = _in_state(client, start)
    body = {"00741238": {"vr": "LT", "Value": ["patient left"]}}
    r = client.post(f"{UPS}/{uid}/cancelrequest", content=orjson.dumps(body), headers=JSON_TYPE)
    assert r.status_code == status, r.text
    assert warning in r.headers.get("warning", "")
    if status == 409:
        assert "C311" in r.json()["error"] and "COMPLETED" in r.json()["error"]
    assert _state(client, uid) == after
    if start == "SCHEDULED":
        [ds] = client.get(f"{UPS}/{uid}").json()
        progress = ds["00741002"]["Value"][0]
        assert first(progress, "00741238") == "patient left" and first(progress, "00404052")


def test_update_rules(client: Any) -> None:
    comment = {"00400400": {"vr": "LT", "Value": ["bring the contrast"]}}
    scheduled = _in_state(client, "SCHEDULED")
    r = client.put(f"{UPS}/{scheduled}", content=orjson.dumps(comment), headers=JSON_TYPE)
    assert r.status_code == 200, r.text
    assert first(client.get(f"{UPS}/{scheduled}").json()[0], "00400400") == "bring the contrast"
    busy = _in_state(client, "IN PROGRESS")
    r = client.put(f"{UPS}/{busy}", content=orjson.dumps(comment), headers=JSON_TYPE)
    assert r.status_code == 400 and "Transaction UID" in r.json()["error"]
    r = client.put(f"{UPS}/{busy}?transaction={OTHER}", content=orjson.dumps(comment), headers=JSON_TYPE)
    assert r.status_code == 409 and "IN PROGRESS" in r.json()["error"]
    with_uid = {**comment, "00081195": {"vr": "UI", "Value": [T]}}
    assert client.post(f"{UPS}/{busy}", content=orjson.dumps(with_uid), headers=JSON_TYPE).status_code == 200
    for final in ("COMPLETED", "CANCELED"):
        done = _in_state(client, final)
        r = client.put(f"{UPS}/{done}?transaction={T}", content=orjson.dumps(comment), headers=JSON_TYPE)
        assert r.status_code == 409 and final in r.json()["error"] and "C300" in r.json()["error"]
    state_change = {"00741000": {"vr": "CS", "Value": ["COMPLETED"]}}
    r = client.put(f"{UPS}/{scheduled}", content=orjson.dumps(state_change), headers=JSON_TYPE)
    assert r.status_code == 400 and "ProcedureStepState" in r.json()["error"]


@pytest.mark.parametrize("keyword", ["ProcedureStepLabel", "ScheduledProcedureStepPriority",
                                     "ScheduledProcedureStepStartDateTime", "InputReadinessState",
                                     "ProcedureStepState"])
def test_missing_type1_attribute_is_400_naming_it(client: Any, keyword: str) -> None:
    uid = pydicom.uid.generate_uid()
    r = _post(client, workitem(**{keyword: True}), uid)
    assert r.status_code == 400, r.text
    assert keyword in r.json()["error"] and "Type 1" in r.json()["error"]
    assert client.get(f"{UPS}/{uid}").status_code == 404  # nothing half-stored


@pytest.mark.parametrize("raw,names", [
    (b"", "empty"), (b"{not json", "not JSON"), (b"[{}, {}]", "2 datasets"), (b'"text"', "DICOM JSON dataset"),
    (b'{"PatientID": {"vr": "LO"}}', "'PatientID'"), (b'{"00100020": "x"}', "00100020"),
    (b'{"00100020": {"vr": "LO", "Value": "x"}}', "Value must be an array"),
    (b'{"0040A370": {"vr": "SQ", "Value": [1]}}', "0040A370[1]"),
])
def test_malformed_bodies_are_400(client: Any, raw: bytes, names: str) -> None:
    r = _post(client, None, raw=raw)
    assert r.status_code == 400, r.text
    assert names in r.json()["error"]


def test_bad_values_are_400(client: Any) -> None:
    ds = workitem()
    ds["00741000"] = {"vr": "CS", "Value": ["IN PROGRESS"]}
    r = _post(client, ds)
    assert r.status_code == 400 and "ProcedureStepState" in r.json()["error"]
    ds = workitem()
    ds["00741200"] = {"vr": "CS", "Value": ["URGENT"]}
    assert "ScheduledProcedureStepPriority" in _post(client, ds).json()["error"]
    assert "SOPInstanceUID" in _post(client, workitem(), "1.02.3").json()["error"]
    uid = pydicom.uid.generate_uid()
    assert _post(client, workitem(), uid).status_code == 201
    r = _post(client, workitem(), uid)
    assert r.status_code == 409 and "0111" in r.json()["error"]
    r = client.put(f"{UPS}/{uid}/state", content=orjson.dumps(state_body("DONE", T)), headers=JSON_TYPE)
    assert r.status_code == 400 and "ProcedureStepState" in r.json()["error"]


def test_search(client: Any) -> None:
    tag = pydicom.uid.generate_uid()[-8:]
    uids = {}
    for i, start in enumerate(["20260301080000", "20260302100000", "20260305120000"]):
        uid = pydicom.uid.generate_uid()
        body = workitem(patient_id=f"P{tag}", start=start, accession=f"A{tag}{i}")
        assert _post(client, body, uid).status_code == 201
        uids[start] = uid
    assert _put_state(client, uids["20260305120000"], "IN PROGRESS", T).status_code == 200

    def found(**params: str) -> list[str]:
        r = client.get(UPS, params={"PatientID": f"P{tag}", **params})
        assert r.status_code == 200, r.text
        return [first(ds, "00080018") for ds in r.json()]

    assert found() == [uids["20260301080000"], uids["20260302100000"], uids["20260305120000"]]
    assert found(ScheduledProcedureStepStartDateTime="20260302-20260305") == [
        uids["20260302100000"], uids["20260305120000"]]
    assert found(ScheduledProcedureStepStartDateTime="-20260301") == [uids["20260301080000"]]
    assert found(ProcedureStepState="IN PROGRESS") == [uids["20260305120000"]]
    assert found(AccessionNumber=f"A{tag}1") == [uids["20260302100000"]]
    assert found(limit="1", offset="1") == [uids["20260302100000"]]
    r = client.get(UPS, params={"PatientID": f"P{tag}", "limit": "1"})
    assert "00400400" not in r.json()[0] and "00100020" in r.json()[0]
    r = client.get(UPS, params={"PatientID": f"P{tag}", "limit": "1", "includefield": "PatientSex"})
    assert "00100040" in r.json()[0]
    for bad, name in [({"limit": "0"}, "limit"), ({"ScheduledProcedureStepStartDateTime": "2026-03-01-02"},
                                                         "ScheduledProcedureStepStartDateTime"),
                      ({"ProcedureStepState": "DONE"}, "ProcedureStepState"), ({"Nonsense": "1"}, "Nonsense"),
                      ({"Modality": "MR"}, "Modality")]:
        r = client.get(UPS, params=bad)
        assert r.status_code == 400 and name in r.json()["error"], (bad, r.text)


def _events(ws: Any, n: int) -> list[dict[str, Any]]:
    """The next ``n`` workitem events (SCP Status Changes of apps starting and stopping left out)."""
    out: list[dict[str, Any]] = []
    while len(out) < n:
        report = orjson.loads(ws.receive_text())
        if first(report, "00001002") != 4:
            out.append(report)
    return out


def _summary(report: dict[str, Any]) -> tuple[str, int, str | None]:
    return first(report, "00001000"), first(report, "00001002"), first(report, "00741000")


def test_subscriber_gets_every_event_in_order_and_again_after_reconnect(client: Any) -> None:
    ae = "WATCHER" + pydicom.uid.generate_uid()[-4:]
    assert client.post(f"{UPS}/1.2.840.10008.5.1.4.34.5/subscribers/{ae}").status_code == 201
    with client.websocket_connect(f"/dicom-web/subscribers/{ae}") as ws:
        uid = _in_state(client, "IN PROGRESS")
        client.post(f"{UPS}/{uid}/cancelrequest")
        assert _put_state(client, uid, "CANCELED", T).status_code == 200
        got = _events(ws, 5)
    assert [_summary(e) for e in got] == [(uid, 1, "SCHEDULED"), (uid, 1, "IN PROGRESS"), (uid, 5, None),
                                          (uid, 2, None), (uid, 1, "CANCELED")]
    seqs = [first(e, "00091001") for e in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5 and all(first(e, "00090010") == "CIRRUS UPS" for e in got)
    with client.websocket_connect(f"/dicom-web/subscribers/{ae}?since={seqs[1]}") as ws:
        again = _events(ws, 3)
    assert [first(e, "00091001") for e in again] == seqs[2:]


def test_workitem_and_filtered_subscriptions(client: Any) -> None:
    ae = "FILT" + pydicom.uid.generate_uid()[-4:]
    tag = pydicom.uid.generate_uid()[-8:]
    r = client.post(f"{UPS}/1.2.840.10008.5.1.4.34.5.1/subscribers/{ae}", params={"PatientID": f"F{tag}"})
    assert r.status_code == 201, r.text
    other = pydicom.uid.generate_uid()
    assert _post(client, workitem(patient_id="someone-else"), other).status_code == 201
    mine = pydicom.uid.generate_uid()
    with client.websocket_connect(f"/dicom-web/subscribers/{ae}?since=0") as ws:
        assert _post(client, workitem(patient_id=f"F{tag}"), mine).status_code == 201
        [report] = _events(ws, 1)
    assert _summary(report) == (mine, 1, "SCHEDULED")
    assert client.post(f"{UPS}/1.2.840.10008.5.1.4.34.5.1/subscribers/{ae}", params={"Bogus": "1"}).status_code == 400
    one = "ONE" + tag[-4:]
    assert client.post(f"{UPS}/{other}/subscribers/{one}").status_code == 201
    with client.websocket_connect(f"/dicom-web/subscribers/{one}") as ws:
        assert _put_state(client, mine, "IN PROGRESS", T).status_code == 200
        assert _put_state(client, other, "IN PROGRESS", T).status_code == 200
        first_event = _events(ws, 1)[0]
    assert _summary(first_event) == (other, 1, "IN PROGRESS")
    assert client.delete(f"{UPS}/{other}/subscribers/{one}").status_code == 200
    assert client.post(f"{UPS}/1.2.840.10008.5.1.4.34.5/subscribers/{ae}/suspend").status_code == 404
    assert client.post(f"{UPS}/1.2.840.10008.5.1.4.34.5.1/subscribers/{ae}/suspend").status_code == 200
    assert client.post(f"{UPS}/{mine}/subscribers/bad\\ae").status_code == 400


def test_websocket_needs_credentials(client: Any) -> None:
    auth = client.headers.pop("Authorization")
    try:
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/dicom-web/subscribers/AE"):
            pass
        assert refused.value.code == 1008
    finally:
        client.headers["Authorization"] = auth


def test_a_job_canceled_through_ups_and_run_again_is_a_new_workitem(client: Any) -> None:
    ctx = client.app.state.ctx

    async def new_job() -> AnalysisJob:
        async with ctx.write_session() as s:
            job = AnalysisJob(study_instance_uid=pydicom.uid.generate_uid(), acquisition_key=pydicom.uid.generate_uid(),
                              series_uids=[pydicom.uid.generate_uid()], patient_id="RERUN", state="queued")
            s.add(job)
            await s.commit()
            await s.refresh(job)
        await job_workitems.reconcile(ctx)
        return job

    job = client.portal.call(new_job)
    ae = "RERUN" + pydicom.uid.generate_uid()[-4:]
    assert client.post(f"{UPS}/{job.workitem_uid}/subscribers/{ae}").status_code == 201
    with client.websocket_connect(f"/dicom-web/subscribers/{ae}?since=0") as ws:
        r = client.post(f"{UPS}/{job.workitem_uid}/cancelrequest",
                        content=orjson.dumps({"00741238": {"vr": "LT", "Value": ["wrong series"]}}), headers=JSON_TYPE)
        assert r.status_code == 202, r.text
        got = [_summary(e) for e in _events(ws, 3)]
    uid = job.workitem_uid
    assert got == [(uid, 1, "SCHEDULED"), (uid, 1, "IN PROGRESS"), (uid, 1, "CANCELED")]
    [ds] = client.get(f"{UPS}/{uid}").json()
    assert first(ds["00741002"]["Value"][0], "00741238") == "wrong series"
    assert client.get(f"/api/jobs/{job.id}").json()["state"] == "cancelled"
    assert client.post(f"/api/jobs/{job.id}/rerun").status_code == 200
    client.portal.call(job_workitems.reconcile, ctx)
    assert client.get(f"{UPS}/{uid}").status_code == 404  # a final UPS stays final: a new procedure step
    [again] = client.get(UPS, params={"PatientID": "RERUN"}).json()
    assert first(again, "00080018") != uid and first(again, "00741000") == "SCHEDULED"


@pytest.mark.parametrize("change", [
    {"00100020": {"vr": "LO", "Value": [{"x": 1}]}},
    {"00741000": {"vr": "CS", "Value": [5]}},
    {"00404005": {"vr": "DT", "Value": [{"Alphabetic": "x"}]}},
    {"0040A370": {"vr": "SQ", "Value": [{"0020000D": {"vr": "UI", "Value": ["9" * 80]}}]}},
    {"0040A370": {"vr": "SQ", "Value": [{"0020000D": {"vr": "UI", "Value": [None]}}]}},
    {"00080018": {"vr": "UI", "Value": [12]}},
    {"00081195": {"vr": "UI", "Value": ["1.2.3"]}},
    {"00741216": {"vr": "SQ", "Value": [{}]}},
    {"00404021": {"vr": "SQ", "Value": [{"0040E020": {"vr": "CS", "Value": ["DICOM"]}}]}},
])
def test_hostile_values_answer_4xx_never_5xx(client: Any, change: dict[str, Any]) -> None:
    r = _post(client, {**workitem(), **change})
    assert 400 <= r.status_code < 500 or r.status_code == 201, r.text
    if r.status_code != 201:
        assert r.json()["error"]
