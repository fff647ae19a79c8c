"""The gateway's spool and STOW-RS client in-process, against a small HTTP peer that records requests.

The peer stands in for a cloud that answers with given statuses (the real `cirrus serve` is
exercised in tests/e2e/test_gateway.py): it checks the wire format (bearer token, streamed
multipart body with its Content-Length) and how each answer is classified.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from server.app_errors import InvalidInput
from server.gateway.forwarder import Forwarder
from server.gateway.rules import parse_rules
from server.gateway.spool import FAILED, QUEUED, SENT, SKIPPED, Spool, UnreadableObject
from server.gateway.stow import StowClient


class Peer:
    def __init__(self) -> None:
        self.answers: list[tuple[int, dict | str]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                peer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status, answer = peer.answers.pop(0)
                data = (json.dumps(answer) if isinstance(answer, dict) else answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/dicom+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/dicom-web"


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer()
    yield p
    p.server.shutdown()
    p.server.server_close()


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "spool")
    yield s
    s.close()


def received(tmp_path: Path, study: str, name: str, **changes: str) -> tuple[str, Path]:
    """A file as pynetdicom leaves it (Part 10), outside the spool."""
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    ds.StudyInstanceUID = study
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = changes.pop("sop", None) or generate_uid()
    for key, value in changes.items():
        setattr(ds, key, value)
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SOPInstanceUID), path


def states(spool: Spool) -> dict[str, int]:
    out = {QUEUED: 0, SENT: 0, FAILED: 0}
    for c in spool.counts():
        out[c.state] = out.get(c.state, 0) + c.count
    return out


def stored(sop: str) -> dict:
    return {"ReferencedSOPSequence": []} if not sop else {
        "00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [sop]}}]}}


def test_accept_is_durable_idempotent_and_recovers(spool: Spool, tmp_path: Path) -> None:
    study = generate_uid()
    sop, path = received(tmp_path, study, "a.dcm")
    assert spool.accept(path, "MOD") == sop
    path.unlink()  # pynetdicom removes its file; the spool keeps its own
    assert len(list(spool.objects.iterdir())) == 1
    # The same object again: one row, one file.
    _, again = received(tmp_path, study, "b.dcm", sop=sop)
    spool.accept(again, "MOD")
    assert states(spool) == {QUEUED: 1, SENT: 0, FAILED: 0}
    assert len(list(spool.objects.iterdir())) == 1
    # A file no row names (a crash between fsync and commit) goes at recovery.
    (spool.objects / "orphan.dcm").write_bytes(b"x")
    assert spool.recover() == 1
    assert len(list(spool.objects.iterdir())) == 1
    # State survives a reopen.
    reopened = Spool(spool.root)
    assert [b.sop_instance_uid for b in reopened.next_batch(10, 0)] == [sop]
    reopened.close()
    # Not DICOM: refused, nothing left behind.
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom")
    with pytest.raises(UnreadableObject):
        spool.accept(junk, "MOD")
    assert len(list(spool.objects.iterdir())) == 1


def test_batches_are_one_study_and_wait_for_it_to_settle(spool: Spool, tmp_path: Path) -> None:
    a, b = generate_uid(), generate_uid()
    for n in range(3):
        spool.accept(received(tmp_path, a, f"a{n}.dcm")[1], "MOD")
    spool.accept(received(tmp_path, b, "b.dcm")[1], "MOD")
    assert spool.next_batch(10, settle_seconds=60) == []  # still arriving
    assert len(spool.next_batch(3, settle_seconds=60)) == 3  # a full batch goes at once
    batch = spool.next_batch(10, settle_seconds=0)
    assert {i.study_instance_uid for i in batch} == {a} and len(batch) == 3


def test_forwarding_token_streaming_retries_and_reasons(spool: Spool, peer: Peer, tmp_path: Path) -> None:
    study = generate_uid()
    ok_sop, ok_path = received(tmp_path, study, "ok.dcm")
    bad_sop, bad_path = received(tmp_path, study, "bad.dcm")
    spool.accept(ok_path, "MOD")
    spool.accept(bad_path, "MOD")
    client = StowClient(peer.url, "cirrus_secret", timeout=10)
    forwarder = Forwarder(spool, client, batch_size=10, settle_seconds=0, retry_initial=0.5, retry_max=2)

    # The cloud is overloaded: nothing decided, the wait doubles up to its maximum.
    peer.answers = [(503, "busy"), (503, "busy"), (503, "busy")]
    for expected in (0.5, 1.0, 2.0):
        assert forwarder.step()
        assert forwarder.backoff == expected
    assert states(spool) == {QUEUED: 2, SENT: 0, FAILED: 0}
    assert any("HTTP 503" in c.reason for c in spool.counts())

    # 202: one stored, one refused with its coded reason and text.
    failed_item = {"00081155": {"vr": "UI", "Value": [bad_sop]}, "00081197": {"vr": "US", "Value": [0x0111]},
                   "0040A160": {"vr": "UT", "Value": ["other content"]}}
    answer = stored(ok_sop)
    answer["00081198"] = {"vr": "SQ", "Value": [failed_item]}
    peer.answers = [(202, answer)]
    forwarder.step()
    assert forwarder.backoff == 0
    assert states(spool) == {QUEUED: 0, SENT: 1, FAILED: 1}
    assert [c.reason for c in spool.counts() if c.state == FAILED] == [
        "0111H duplicate sop instance: other content"]
    assert len(list(spool.objects.iterdir())) == 1  # the sent one's file is gone, the failed one kept

    # What went over the wire: bearer token, multipart/related with both files as they were spooled.
    headers, body = peer.requests[-1]
    assert headers["authorization"] == "Bearer cirrus_secret"
    assert headers["content-type"].startswith('multipart/related; type="application/dicom"; boundary=')
    assert int(headers["content-length"]) == len(body)
    boundary = headers["content-type"].split("boundary=")[1]
    parts = [p.split(b"\r\n\r\n", 1)[1][:-2] for p in body.split(f"--{boundary}".encode())[1:-1]]
    assert parts == [ok_path.read_bytes(), bad_path.read_bytes()]

    # A refused token is permanent for the batch, with the status as its reason; retry queues again.
    assert spool.retry_failed() == 1
    peer.answers = [(401, "token expired")]
    forwarder.step()
    assert [c.reason for c in spool.counts() if c.state == FAILED] == ["HTTP 401: token expired"]
    client.close()


def test_no_token_sends_no_authorization(spool: Spool, peer: Peer, tmp_path: Path) -> None:
    sop, path = received(tmp_path, generate_uid(), "a.dcm")
    spool.accept(path, "MOD")
    client = StowClient(peer.url, "", timeout=10)
    peer.answers = [(200, stored(sop))]
    Forwarder(spool, client, batch_size=10, settle_seconds=0, retry_initial=1, retry_max=1).step()
    assert "authorization" not in peer.requests[0][0]
    assert states(spool) == {QUEUED: 0, SENT: 1, FAILED: 0}
    client.close()


def test_forwarding_rules(spool: Spool, tmp_path: Path) -> None:
    rules = parse_rules("ae=ct_room1,CT_ROOM2 modality=CT; modality=MR")
    assert rules.forwards(ae="CT_ROOM1", modality="CT")
    assert rules.forwards(ae="ANYONE", modality="mr")
    assert not rules.forwards(ae="CT_ROOM3", modality="CT")
    assert not rules.forwards(ae="CT_ROOM1", modality="US")
    assert parse_rules("").forwards(ae="X", modality="")
    for bad in ("ae", "colour=red", "modality="):
        with pytest.raises(InvalidInput, match="not understood"):
            parse_rules(bad)

    study = generate_uid()
    kept_sop, kept = received(tmp_path, study, "ct.dcm")  # CT_small is a CT
    skipped_sop, skipped = received(tmp_path, study, "us.dcm", Modality="US")
    spool.accept(kept, "CT_ROOM1", rules)
    spool.accept(skipped, "CT_ROOM1", rules)
    assert [i.sop_instance_uid for i in spool.next_batch(10, 0)] == [kept_sop]
    assert [(c.state, c.reason) for c in spool.counts() if c.state == SKIPPED] == [
        (SKIPPED, "no forwarding rule matches (calling AE CT_ROOM1, modality US)")]
    assert len(list(spool.objects.iterdir())) == 1


def test_a_resend_during_the_upload_is_not_lost(spool: Spool, peer: Peer, tmp_path: Path) -> None:
    """The modality sends other content under a SOP Instance UID whose upload is in flight: the
    answer for the old file does not mark (or delete) the new one."""
    study = generate_uid()
    sop, first = received(tmp_path, study, "first.dcm")
    spool.accept(first, "MOD")
    batch = spool.next_batch(10, 0)
    _, second = received(tmp_path, study, "second.dcm", sop=sop, PatientName="Changed^Name")
    spool.accept(second, "MOD")  # while the first is on its way
    spool.mark_sent(batch, [sop])
    assert states(spool) == {QUEUED: 1, SENT: 0, FAILED: 0}
    [again] = spool.next_batch(10, 0)
    assert again.path.read_bytes() == second.read_bytes()


def test_a_study_that_keeps_failing_does_not_block_the_next(spool: Spool, peer: Peer, tmp_path: Path) -> None:
    old, new = generate_uid(), generate_uid()
    spool.accept(received(tmp_path, old, "old.dcm")[1], "MOD")
    new_sop, new_path = received(tmp_path, new, "new.dcm")
    spool.accept(new_path, "MOD")
    client = StowClient(peer.url, "", timeout=10)
    forwarder = Forwarder(spool, client, batch_size=10, settle_seconds=0, retry_initial=0.1, retry_max=0.1)
    peer.answers = [(500, "internal error"), (200, stored(new_sop))]
    forwarder.step()  # the old study: 500, stays queued
    forwarder.step()  # the new one goes next
    assert states(spool) == {QUEUED: 1, SENT: 1, FAILED: 0}
    client.close()
