"""UPS over DIMSE (PS3.4 Annex CC) against a real `cirrus dimse` process, pynetdicom as the SCU
(DCMTK has no UPS SCU), on SQLite and PostgreSQL. A real `cirrus serve` on the same database shows
that both protocols act on the same workitems: created over DIMSE → seen over UPS-RS, and back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    UnifiedProcedureStepPull,
    UnifiedProcedureStepPush,
    UnifiedProcedureStepQuery,
    UnifiedProcedureStepWatch,
)

from tests.conftest import LiveServer, live_server_env
from tests.e2e.dimse_helpers import DimseProcess, cirrus
from tests.server.workitems.ups_helpers import JSON_TYPE, UPS, first, performed, workitem

GLOBAL = "1.2.840.10008.5.1.4.34.5"


class Site:
    def __init__(self, http: httpx.Client, dimse: DimseProcess, server: LiveServer) -> None:
        self.http = http
        self.dimse = dimse
        self.url = server.url
        self.headers = server.headers

    def associate(self, calling: str = "WORKLIST") -> Any:
        ae = AE(ae_title=calling)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
        for cx in (UnifiedProcedureStepPush, UnifiedProcedureStepPull, UnifiedProcedureStepWatch,
                   UnifiedProcedureStepQuery):
            ae.add_requested_context(cx)
        assoc = ae.associate("127.0.0.1", self.dimse.port, ae_title=self.dimse.ae_title)
        assert assoc.is_established, self.dimse.output()
        return assoc


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    data = tmp_path / "live"
    data.mkdir()
    env = live_server_env(database_url, data)
    assert cirrus(env, "ae", "add", "WORKLIST").returncode == 0
    server = LiveServer(env, data).start()
    dimse = DimseProcess(env, data / "dimse.log").start()
    try:
        with httpx.Client(base_url=server.url, timeout=60, headers=server.headers) as http:
            yield Site(http, dimse, server)
    finally:
        dimse.stop()
        server.stop()


def _workitem_dataset(patient_id: str) -> Dataset:
    """The same minimal workitem as the UPS-RS tests', as a pydicom dataset (an N-CREATE Attribute List)."""
    return Dataset.from_json(workitem(patient_id=patient_id, accession="DIMSE1"))


def _status(rsp: Dataset) -> int:
    return int(rsp.Status)


def _state_info(state: str, txn: str) -> Dataset:
    ds = Dataset()
    ds.ProcedureStepState = state
    ds.TransactionUID = txn
    return ds


def test_dimse_ups_push_pull_query_watch_with_one_authority(site: Site) -> None:
    pid, txn = "DIMSE-" + generate_uid()[-6:], generate_uid()
    assoc = site.associate()
    try:
        # N-CREATE (UPS Push): the workitem is created; UPS-RS sees it at once.
        uid = generate_uid()
        rsp, attrs = assoc.send_n_create(_workitem_dataset(pid), UnifiedProcedureStepPush, uid)
        assert _status(rsp) in (0x0000, 0xB300), rsp
        assert attrs.ProcedureStepState == "SCHEDULED" and attrs.PatientID == pid
        [ds] = site.http.get(f"{UPS}/{uid}").json()
        assert first(ds, "00100020") == pid and first(ds, "00741000") == "SCHEDULED"

        # A workitem created over UPS-RS is found by C-FIND (UPS Query) with the requested keys only.
        rs_uid = generate_uid()
        r = site.http.post(f"{UPS}?{rs_uid}", content=orjson.dumps(workitem(patient_id=pid, start="20260302080000")),
                           headers=JSON_TYPE)
        assert r.status_code == 201, r.text
        query = Dataset()
        query.PatientID = pid
        query.SOPInstanceUID = ""
        query.ProcedureStepState = ""
        query.ScheduledProcedureStepStartDateTime = ""
        answers = [(s, i) for s, i in assoc.send_c_find(query, UnifiedProcedureStepQuery) if s.Status == 0xFF00]
        assert sorted(i.SOPInstanceUID for _, i in answers) == sorted([uid, rs_uid])
        for _, ident in answers:
            assert {e.keyword for e in ident} == {"SpecificCharacterSet", "PatientID", "SOPInstanceUID",
                                                 "ProcedureStepState", "ScheduledProcedureStepStartDateTime"}
            assert ident.ProcedureStepState == "SCHEDULED"
        # A key Cirrus cannot match: refused (A900) naming it, never an unfiltered list.
        bad = Dataset()
        bad.Modality = "MR"
        [(status, _)] = list(assoc.send_c_find(bad, UnifiedProcedureStepQuery))
        assert status.Status == 0xA900 and "Modality" in str(status.get("ErrorComment", ""))

        # N-ACTION Change State (UPS Pull) claims the UPS-RS workitem; UPS-RS sees IN PROGRESS.
        rsp, _ = assoc.send_n_action(_state_info("IN PROGRESS", txn), 1, UnifiedProcedureStepPull, rs_uid)
        assert _status(rsp) == 0x0000, rsp
        [ds] = site.http.get(f"{UPS}/{rs_uid}").json()
        assert first(ds, "00741000") == "IN PROGRESS"
        # A second claim through UPS-RS with another Transaction UID loses (409 naming IN PROGRESS).
        r = site.http.put(f"{UPS}/{rs_uid}/state", content=orjson.dumps({
            "00741000": {"vr": "CS", "Value": ["IN PROGRESS"]},
            "00081195": {"vr": "UI", "Value": [generate_uid()]}}), headers=JSON_TYPE)
        assert r.status_code == 409 and "IN PROGRESS" in r.json()["error"]

        # N-SET without the lock's Transaction UID is refused (C301); with it, it updates.
        change = Dataset.from_json(performed())
        rsp, _ = assoc.send_n_set(change, UnifiedProcedureStepPull, rs_uid)
        assert _status(rsp) == 0xC301, rsp
        change.TransactionUID = txn
        rsp, _ = assoc.send_n_set(change, UnifiedProcedureStepPull, rs_uid)
        assert _status(rsp) == 0x0000, rsp
        rsp, _ = assoc.send_n_action(_state_info("COMPLETED", txn), 1, UnifiedProcedureStepPull, rs_uid)
        assert _status(rsp) == 0x0000, rsp
        [ds] = site.http.get(f"{UPS}/{rs_uid}").json()
        assert first(ds, "00741000") == "COMPLETED"
        assert first(ds["00741216"]["Value"][0], "00404050") == "20260301090500"  # the N-SET's values

        # N-GET of selected attributes; the Transaction UID is never returned.
        rsp, got = assoc.send_n_get([0x00741000, 0x00100020, 0x00081195], UnifiedProcedureStepPull, rs_uid)
        assert _status(rsp) == 0x0000
        assert got.ProcedureStepState == "COMPLETED" and got.PatientID == pid and "TransactionUID" not in got
        rsp, _ = assoc.send_n_get([0x00741000, 0x00100020], UnifiedProcedureStepPull, generate_uid())
        assert _status(rsp) == 0xC307

        # Request Cancel of the DIMSE-made workitem over UPS-RS (SCHEDULED: the SCP cancels it), then over DIMSE.
        assert site.http.post(f"{UPS}/{uid}/cancelrequest").status_code == 202
        reason = Dataset()  # (pynetdicom sends an empty Action Information badly: give a reason)
        reason.ReasonForCancellation = "ordered twice"
        rsp, _ = assoc.send_n_action(reason, 2, UnifiedProcedureStepPush, uid)
        assert _status(rsp) == 0xB304, rsp  # warning: already CANCELED (Table CC.1.1-2)
        rsp, got = assoc.send_n_get([0x00741000, 0x00100020], UnifiedProcedureStepPush, uid)
        assert got.ProcedureStepState == "CANCELED"

        # Subscribe (UPS Watch, N-ACTION 3) globally for AE WATCHER: recorded as UPS-RS subscriptions are.
        info = Dataset()
        info.ReceivingAE = "WATCHER"
        info.DeletionLock = "FALSE"
        rsp, _ = assoc.send_n_action(info, 3, UnifiedProcedureStepWatch, GLOBAL)
        assert _status(rsp) == 0x0000, rsp
        rsp, _ = assoc.send_n_action(info, 9, UnifiedProcedureStepWatch, GLOBAL)
        assert _status(rsp) == 0x0123  # no such action type
    finally:
        assoc.release()
    # The subscription made over DIMSE delivers on the WebSocket channel of its AE.
    async def watch() -> list[dict[str, Any]]:
        url = site.url.replace("http", "ws", 1) + "/dicom-web/subscribers/WATCHER"
        async with websockets.connect(url, additional_headers=site.headers) as ws:
            new = generate_uid()
            await asyncio.to_thread(site.http.post, f"{UPS}?{new}", content=orjson.dumps(workitem()),
                                    headers=JSON_TYPE)
            while True:
                report = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                if first(report, "00001000") == new:
                    return [report]

    [report] = asyncio.run(watch())
    assert first(report, "00001002") == 1 and first(report, "00741000") == "SCHEDULED"


def test_an_unknown_calling_ae_is_not_served(site: Site) -> None:
    ae = AE(ae_title="STRANGER")
    ae.add_requested_context(UnifiedProcedureStepPush)
    assoc = ae.associate("127.0.0.1", site.dimse.port, ae_title=site.dimse.ae_title)
    assert assoc.is_rejected
