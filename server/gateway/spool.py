"""The gateway's durable spool: received objects as files, their state in a SQLite file beside them.

Layout of the spool folder::

    objects/<uuid>.dcm   the objects exactly as received (Part 10, pynetdicom's file meta)
    spool.db             one row per SOP Instance UID: study, caller, file, state, reason

Durability (what a C-STORE success promises): :meth:`Spool.accept` links or copies the
received file into ``objects/``, fsyncs the file and the folder, then commits its row
(SQLite ``synchronous=FULL``); only then does the SCP answer success. A crash before the
commit leaves at most an unreferenced file, removed by :meth:`Spool.recover` at start.

States: ``queued`` (waiting, or retrying while the link is down — ``reason`` says why),
``sent`` (the cloud reported it stored; the file is removed, the row stays for status and to
recognise an identical resend), ``failed`` (a permanent refusal; ``reason`` names it, the file
is kept so ``cirrus gateway retry`` can send it again), ``skipped`` (no forwarding rule
matches, see ``server.gateway.rules``; not kept). A resend after a crash between the
cloud's answer and our commit is harmless: Cirrus answers an identical instance as success.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pydicom

from server.app_errors import AppError, UnusableInput
from server.gateway.rules import ForwardRules
from server.services.parse import sha256_file

QUEUED, SENT, FAILED, SKIPPED = "queued", "sent", "failed", "skipped"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instance (
    sop_instance_uid TEXT PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    calling_ae TEXT NOT NULL,
    modality TEXT NOT NULL DEFAULT '',
    file TEXT,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS instance_state ON instance (state, study_instance_uid, received_at);
"""


class SpoolError(AppError):
    """A received object cannot be written to the spool (disk full, I/O error)."""


class UnreadableObject(UnusableInput):
    """A received object whose identifiers cannot be read."""


@dataclass(frozen=True)
class SpooledInstance:
    sop_instance_uid: str
    study_instance_uid: str
    path: Path
    size: int


@dataclass(frozen=True)
class StateCount:
    state: str
    reason: str
    count: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _identifiers(path: Path) -> tuple[str, str, str]:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True,
                             specific_tags=["SOPInstanceUID", "StudyInstanceUID", "Modality"])
        sop, study = str(ds.get("SOPInstanceUID", "")), str(ds.get("StudyInstanceUID", ""))
    except Exception as exc:
        raise UnreadableObject(f"the received object cannot be read: {exc}") from exc
    if not sop or not study:
        raise UnreadableObject("the received object has no SOP Instance UID or no Study Instance UID")
    return sop, study, str(ds.get("Modality", ""))


class Spool:
    """One spool folder. Thread-safe: the SCP's association threads and the forwarder share it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(root / "spool.db", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- receive ------------------------------------------------------------------------------

    def accept(self, received: Path, calling_ae: str, rules: ForwardRules | None = None) -> str:
        """Take ``received`` into the spool durably; its SOP Instance UID. ``UnreadableObject`` or
        ``SpoolError`` if not. An object no rule forwards is only recorded as skipped."""
        sop, study, modality = _identifiers(received)
        if rules is not None and not rules.forwards(ae=calling_ae, modality=modality):
            why = f"no forwarding rule matches (calling AE {calling_ae}, modality {modality or 'none'})"
            with self._tx() as db:
                db.execute(
                    "INSERT OR REPLACE INTO instance (sop_instance_uid, study_instance_uid, calling_ae, modality,"
                    " file, size, sha256, state, reason, received_at) VALUES (?, ?, ?, ?, NULL, 0, '', ?, ?, ?)",
                    (sop, study, calling_ae, modality, SKIPPED, why, time.time()),
                )
            return sop
        target = self.objects / f"{uuid.uuid4().hex}.dcm"
        try:
            try:
                os.link(received, target)
            except OSError:
                shutil.copyfile(received, target)
            _fsync_file(target)
            _fsync_dir(self.objects)
            digest = sha256_file(target)
            size = target.stat().st_size
        except OSError as exc:
            target.unlink(missing_ok=True)
            raise SpoolError(f"writing to the spool failed: {exc}") from exc
        stale: str | None = None
        try:
            with self._tx() as db:
                row = db.execute("SELECT file, sha256, state FROM instance WHERE sop_instance_uid = ?",
                                 (sop,)).fetchone()
                if row is not None and row[1] == digest and row[2] in (SENT, QUEUED):
                    stale = target.name  # the same object again: already sent or on its way
                else:
                    stale = row[0] if row is not None else None
                    db.execute(
                        "INSERT OR REPLACE INTO instance (sop_instance_uid, study_instance_uid, calling_ae,"
                        " modality, file, size, sha256, state, reason, attempts, received_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', 0, ?)",
                        (sop, study, calling_ae, modality, target.name, size, digest, QUEUED, time.time()),
                    )
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        if stale:
            (self.objects / stale).unlink(missing_ok=True)
        return sop

    def recover(self) -> int:
        """Remove object files no row refers to (a crash between fsync and commit); how many."""
        with self._lock:
            known = {r[0] for r in self._db.execute("SELECT file FROM instance WHERE file IS NOT NULL")}
        removed = 0
        for path in self.objects.iterdir():
            if path.name not in known:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- forward ------------------------------------------------------------------------------

    def next_batch(self, limit: int, settle_seconds: float) -> list[SpooledInstance]:
        """Up to ``limit`` queued instances of one study whose last object arrived ``settle_seconds``
        ago, or that already has ``limit`` waiting: of those, the one retried least, then the oldest."""
        now = time.time()
        with self._lock:
            # Studies tried least often first, then the oldest: one study the cloud keeps answering
            # 5xx for does not hold back the others.
            rows = self._db.execute(
                "SELECT study_instance_uid, MIN(received_at), MAX(received_at), COUNT(*) FROM instance"
                " WHERE state = ? GROUP BY study_instance_uid ORDER BY MAX(attempts), MIN(received_at)", (QUEUED,)
            ).fetchall()
            study = next((r[0] for r in rows if r[3] >= limit or now - r[2] >= settle_seconds), None)
            if study is None:
                return []
            found = self._db.execute(
                "SELECT sop_instance_uid, file, size FROM instance WHERE state = ? AND study_instance_uid = ?"
                " ORDER BY received_at LIMIT ?", (QUEUED, study, limit)
            ).fetchall()
        return [SpooledInstance(sop, study, self.objects / name, size) for sop, name, size in found]

    # Each update names the file that was sent: if the modality re-sent another object under the
    # same SOP Instance UID meanwhile, that newer row is left queued (and its file kept).

    def mark_sent(self, batch: list[SpooledInstance], sops: list[str]) -> None:
        done = set(sops)
        sent = [item for item in batch if item.sop_instance_uid in done]
        gone = []
        with self._tx() as db:
            for item in sent:
                changed = db.execute(
                    "UPDATE instance SET state = ?, reason = '', file = NULL, sent_at = ?, attempts = attempts + 1"
                    " WHERE sop_instance_uid = ? AND file = ?",
                    (SENT, time.time(), item.sop_instance_uid, item.path.name)).rowcount
                if changed:
                    gone.append(item.path)
        for path in gone:
            path.unlink(missing_ok=True)

    def mark_failed(self, batch: list[SpooledInstance], reasons: dict[str, str]) -> None:
        with self._tx() as db:
            db.executemany("UPDATE instance SET state = ?, reason = ?, attempts = attempts + 1"
                           " WHERE sop_instance_uid = ? AND file = ?",
                           [(FAILED, reasons[i.sop_instance_uid], i.sop_instance_uid, i.path.name)
                            for i in batch if i.sop_instance_uid in reasons])

    def note_retry(self, batch: list[SpooledInstance], reason: str) -> None:
        """The batch stays queued; ``reason`` says why it is not sent yet."""
        with self._tx() as db:
            db.executemany("UPDATE instance SET reason = ?, attempts = attempts + 1"
                           " WHERE sop_instance_uid = ? AND file = ?",
                           [(reason, i.sop_instance_uid, i.path.name) for i in batch])

    def retry_failed(self) -> int:
        """Queue every failed instance again; how many."""
        with self._tx() as db:
            return db.execute("UPDATE instance SET state = ?, reason = '' WHERE state = ?", (QUEUED, FAILED)).rowcount

    # -- status -------------------------------------------------------------------------------

    def counts(self) -> list[StateCount]:
        with self._lock:
            rows = self._db.execute(
                "SELECT state, reason, COUNT(*) FROM instance GROUP BY state, reason ORDER BY state, reason"
            ).fetchall()
        return [StateCount(state, reason, count) for state, reason, count in rows]
