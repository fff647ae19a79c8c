"""DIMSE operations in the audit log: a real `cirrus dimse` process driven by DCMTK (echoscu, storescu,
findscu, getscu, movescu) as hospitals' AEs, and refused associations; the records are read through a
real `cirrus serve`'s ``/api/audit`` on the same database (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pydicom
from pydicom.data import get_testdata_file
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from tests.conftest import LiveServer, live_server_env
from tests.e2e.dimse_helpers import DimseProcess, cirrus, require_dcmtk


def dimse_records(server: LiveServer, want: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The DIMSE records (oldest first) once ``want`` of them are written (the writer batches)."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{server.url}/api/audit", params={"limit": "1000"}, headers=server.headers, timeout=30)
        assert r.status_code == 200, r.text
        rows = [row for row in r.json()["records"][::-1] if row["path"].startswith("dimse:")]
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_store_find_get_move_are_audited(database_url: str, tmp_path: Path) -> None:
    require_dcmtk()
    data = tmp_path / "live"
    data.mkdir()
    env = live_server_env(database_url, data)
    assert cirrus(env, "ae", "add", "MODALITY").returncode == 0
    other = cirrus({**env, "CIRRUS_INSTITUTION": "Other Hospital"}, "ae", "add", "OTHERWS",
                   "--institution", "Other Hospital", "--host", "127.0.0.1", "--port", "1")
    assert other.returncode == 0, other.stdout + other.stderr
    server = LiveServer(env, data).start()
    dimse = DimseProcess(env, data / "dimse.log").start()
    try:
        ct = Path(str(get_testdata_file("CT_small.dcm")))
        ds = pydicom.dcmread(ct, stop_before_pixels=True)
        study, patient = str(ds.StudyInstanceUID), str(ds.PatientID)
        assert dimse.tool("storescu", "MODALITY", "-xe", str(ct)).returncode == 0
        # Another hospital's AE adding an instance to that study: refused (0124H), audited as denied.
        intruder = pydicom.dcmread(ct)
        intruder.SOPInstanceUID = intruder.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        intruder_path = tmp_path / "intruder.dcm"
        intruder.save_as(intruder_path)
        assert dimse.tool("storescu", "OTHERWS", "-xe", str(intruder_path)).returncode != 0
        out = tmp_path / "find"
        out.mkdir()
        found = dimse.tool("findscu", "MODALITY", "-S", "-X", "-od", str(out), "-k", "QueryRetrieveLevel=STUDY",
                           "-k", f"StudyInstanceUID={study}")
        assert found.returncode == 0 and len(list(out.glob("rsp*.dcm"))) == 1
        got = tmp_path / "got"
        got.mkdir()
        fetched = dimse.tool("getscu", "MODALITY", "-S", "-k", "QueryRetrieveLevel=STUDY",
                             "-k", f"StudyInstanceUID={study}", "-od", str(got))
        assert fetched.returncode == 0 and len(list(got.iterdir())) == 1, fetched.stderr
        moved = dimse.tool("movescu", "MODALITY", "-S", "-aem", "NOBODY", "-k", "QueryRetrieveLevel=STUDY",
                           "-k", f"StudyInstanceUID={study}")
        assert moved.returncode != 0

        rows = dimse_records(server, 5)
        got_rows = [(r["method"], r["action"], r["outcome"], r["status"], r["actor"], r["study_uid"]) for r in rows]
        assert got_rows == [
            ("C-STORE", "upload", "success", 0x0000, "MODALITY", study),
            ("C-STORE", "upload", "denied", 0x0124, "OTHERWS", study),
            ("C-FIND", "query", "success", 0x0000, "MODALITY", study),
            ("C-GET", "download", "success", 0x0000, "MODALITY", study),
            ("C-MOVE", "download", "refused", 0xA801, "MODALITY", study),
        ]
        details = [r["detail"] for r in rows]
        assert details[0] == "calling AE MODALITY; status 0x0000; 1 instance(s)"
        assert details[1] == "calling AE OTHERWS; status 0x0124; 1 instance(s)"
        assert details[2] == "calling AE MODALITY; status 0x0000; STUDY level; 1 match(es)"
        assert details[3] == "calling AE MODALITY; status 0x0000; 1 instance(s)"
        assert details[4] == "calling AE MODALITY; status 0xA801; destination NOBODY refused"
        # Who and for which institution: the calling AE's, from the AE table.
        institutions = [r["acting_for_institution_id"] for r in rows]
        assert institutions[0] == institutions[2] == institutions[3] == institutions[4] != institutions[1]
        assert all(r["auth_method"] == "dimse" and r["path"] == "dimse:CIRRUS" for r in rows)
        assert all(r["client_address"] == "127.0.0.1" for r in rows)
        assert all(r["patient_id"] == patient for r in rows)
    finally:
        dimse.stop()
        server.stop()
        shutil.rmtree(data / "tmp", ignore_errors=True)


def test_echo_and_refused_associations_are_audited(database_url: str, tmp_path: Path) -> None:
    """C-ECHO is recorded as the calling AE's sign-in; every refused association as a failed one:
    an AE missing from the table, one barred from calling (both denied), one over its limit of
    open associations (refused). Actor the calling AE, its institution when the table knows it,
    the client address."""
    require_dcmtk()
    data = tmp_path / "live"
    data.mkdir()
    env = live_server_env(database_url, data)
    for args in (("MODALITY",), ("BARRED", "--no-calls"), ("LIMITED", "--max-associations", "1")):
        added = cirrus(env, "ae", "add", *args)
        assert added.returncode == 0, added.stdout + added.stderr
    server = LiveServer(env, data).start()
    dimse = DimseProcess(env, data / "dimse.log").start()
    try:
        assert dimse.tool("echoscu", "MODALITY").returncode == 0
        stranger = dimse.tool("echoscu", "STRANGER")
        assert stranger.returncode != 0 and "Association Rejected" in stranger.stderr, stranger.stderr
        assert dimse.tool("echoscu", "BARRED").returncode != 0
        limited = AE(ae_title="LIMITED")
        limited.add_requested_context(Verification)
        held = limited.associate("127.0.0.1", dimse.port, ae_title="CIRRUS")
        assert held.is_established
        try:
            assert held.send_c_echo().Status == 0x0000
            over = dimse.tool("echoscu", "LIMITED")
            assert over.returncode != 0 and "Local Limit Exceeded" in over.stderr, over.stderr
        finally:
            held.release()

        rows = dimse_records(server, 5)
        assert [(r["method"], r["action"], r["outcome"], r["status"], r["actor"]) for r in rows] == [
            ("C-ECHO", "login", "success", 0x0000, "MODALITY"),
            ("A-ASSOC", "failed_login", "denied", 0, "STRANGER"),
            ("A-ASSOC", "failed_login", "denied", 0, "BARRED"),
            ("C-ECHO", "login", "success", 0x0000, "LIMITED"),
            ("A-ASSOC", "failed_login", "refused", 0, "LIMITED"),
        ]
        assert [r["detail"] for r in rows] == [
            "calling AE MODALITY; status 0x0000",
            "calling AE STRANGER; rejected: calling AE title not in the AE table",
            "calling AE BARRED; rejected: calling AE title not allowed to call",
            "calling AE LIMITED; status 0x0000",
            "calling AE LIMITED; rejected: 1 association(s) open, the AE's limit",
        ]
        # The AE table names the institution of known callers; a stranger acts for nobody.
        institutions = [r["acting_for_institution_id"] for r in rows]
        assert institutions[1] is None
        assert None not in (institutions[0], institutions[2], institutions[3], institutions[4])
        assert all(r["auth_method"] == "dimse" and r["path"] == "dimse:CIRRUS" for r in rows)
        assert all(r["client_address"] == "127.0.0.1" for r in rows)
        assert all(r["study_uid"] == "" and r["patient_id"] == "" for r in rows)
        # The audit log's own filter finds the refusals.
        r = httpx.get(f"{server.url}/api/audit", params={"action": "failed_login", "limit": "100"},
                      headers=server.headers, timeout=30)
        assert r.status_code == 200, r.text
        assert sorted(row["actor"] for row in r.json()["records"] if row["path"].startswith("dimse:")) == [
            "BARRED", "LIMITED", "STRANGER"]
    finally:
        dimse.stop()
        server.stop()
        shutil.rmtree(data / "tmp", ignore_errors=True)
