"""Recording and reading the audit log.

Requests are recorded in one place (``server.routes.audit_record.AuditMiddleware``); sign-ins and
share-code exchanges by their route (``record_sign_in``, ``record_share_exchange``), DIMSE
operations by the SCP (``record_dimse``). Recording never waits for the database: entries go into a bounded
queue that one writer task per process drains in batches (started from the app's lifespan). A full
queue or a database that keeps failing drops entries — each drop is counted (``AuditWriter.dropped``)
and logged, never silent. The patient of a study is looked up by the writer, in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import csv
import io
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import select

from server.auth.principal import AuthMethod, Principal
from server.context import AppContext
from server.db.archive import Study
from server.db.audit import AuditAction, AuditOutcome, AuditRecord
from server.db.database import aware, utcnow
from server.services.atna_syslog import SyslogForwarder
from server.services.audit_actions import outcome_of

log = logging.getLogger("cirrus.audit")

RETRY_SECONDS = (0.2, 1.0, 5.0)
# How long the writer waits after the first entry of a batch for more to arrive.
LINGER_SECONDS = 0.1
PATIENT_CACHE_SIZE = 10000
EXPORT_LIMIT = 100000
LIMITS = {"path": 512, "detail": 512, "actor": 128, "client_address": 64, "method": 8, "patient_id": 64,
          "study_uid": 64, "auth_method": 16, "action": 32, "outcome": 16}
COLUMNS = ["id", "at", "actor_user_id", "actor", "acting_for_institution_id", "token_id", "share_id",
           "auth_method", "client_address", "action", "outcome", "status", "patient_id", "study_uid",
           "method", "path", "detail"]


@dataclass(slots=True)
class AuditEntry:
    """One audit record before it is written (``AuditRecord`` without the id)."""

    action: str
    outcome: str
    at: datetime = field(default_factory=utcnow)
    actor_user_id: int | None = None
    actor: str = ""
    acting_for_institution_id: int | None = None
    token_id: int | None = None
    share_id: int | None = None
    auth_method: str = ""
    client_address: str = ""
    status: int = 0
    patient_id: str = ""
    study_uid: str = ""
    method: str = ""
    path: str = ""
    detail: str = ""

    def with_principal(self, principal: Principal | None) -> AuditEntry:
        if principal is not None:
            self.actor_user_id = principal.user_id
            self.actor = principal.username or (f"user:{principal.user_id}" if principal.user_id else "")
            self.acting_for_institution_id = principal.institution_id
            self.token_id = principal.token_id
            self.share_id = principal.share_id
            self.auth_method = principal.method.value
            if principal.share_study_uid and not self.study_uid:
                self.study_uid = principal.share_study_uid
        return self

    def row(self) -> dict[str, Any]:
        out = asdict(self)
        for name, size in LIMITS.items():  # never let one long value fail a whole batch
            out[name] = out[name][:size]
        return out


# -- what one request touched (filled by the ingest listener and by handlers) ------------------


@dataclass(slots=True)
class RequestNote:
    """Studies (and their patients) one request touched beyond what its path names."""

    studies: dict[str, str] = field(default_factory=dict)  # study UID → patient id ("" if unknown)
    detail: str = ""


CURRENT: contextvars.ContextVar[RequestNote | None] = contextvars.ContextVar("cirrus_audit_note", default=None)


def note_study(study_uid: str, patient_id: str = "") -> None:
    """Record that the current request touched ``study_uid`` (no-op outside an audited request)."""
    note = CURRENT.get()
    if note is not None and study_uid:
        if patient_id or study_uid not in note.studies:
            note.studies[study_uid] = patient_id


async def ingest_listener(ctx: AppContext, study_uid: str, series_uids: set[str]) -> None:
    """``IngestListener``: a STOW or upload names the studies it stored in its audit record."""
    note_study(study_uid)


# -- the writer ---------------------------------------------------------------------------------


class AuditWriter:
    """Bounded queue → batched inserts, one task per process."""

    def __init__(self, ctx: AppContext, queue_size: int = 10000, batch_size: int = 500,
                 linger: float = LINGER_SECONDS) -> None:
        self.ctx = ctx
        self.batch_size = batch_size
        self.linger = linger
        self.queue: asyncio.Queue[AuditEntry] = asyncio.Queue(maxsize=queue_size)
        self.written = 0
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None
        self._patients: OrderedDict[str, str] = OrderedDict()
        # ATNA: every record also goes to the configured syslog receiver (after the table has it).
        self.syslog = SyslogForwarder.from_settings(ctx.settings)

    def record(self, entry: AuditEntry) -> None:
        """Queue ``entry`` without waiting; a full queue counts and logs the drop."""
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self._drop([entry], "the audit queue is full")

    def _drop(self, entries: Sequence[AuditEntry], why: str) -> None:
        self.dropped += len(entries)
        for e in entries:  # the log keeps what the table could not
            log.error("audit record dropped (%s; %d dropped so far): %s", why, self.dropped, e.row())

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-writer")
            if self.syslog is not None:
                self.syslog.start()

    async def drain(self) -> None:
        """Wait until everything queued so far is written (or dropped)."""
        await self.queue.join()

    async def stop(self) -> None:
        if self._task is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), timeout=10.0)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        leftover = []
        while not self.queue.empty():
            leftover.append(self.queue.get_nowait())
            self.queue.task_done()
        if leftover:
            self._drop(leftover, "the server stopped before they were written")
        if self.syslog is not None:
            await self.syslog.stop()

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            if self.linger > 0 and self.queue.qsize() < self.batch_size:
                await asyncio.sleep(self.linger)  # gather a batch: one transaction for many requests
            while len(batch) < self.batch_size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self._write(batch)
                if self.syslog is not None:
                    self.syslog.submit(AuditRecord(**e.row()) for e in batch)
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _write(self, batch: list[AuditEntry]) -> None:
        for attempt, pause in enumerate((*RETRY_SECONDS, None)):
            try:
                await self._fill_patients(batch)
                async with self.ctx.write() as conn:
                    await conn.execute(insert(AuditRecord), [e.row() for e in batch])
                self.written += len(batch)
                return
            except Exception as exc:  # the database is down or refuses: retry, then drop loudly
                if pause is None:
                    await self._write_one_by_one(batch, f"writing failed {attempt + 1} times: {exc}")
                    return
                log.warning("audit write failed (%s); retrying in %.1f s", exc, pause)
                await asyncio.sleep(pause)

    async def _write_one_by_one(self, batch: list[AuditEntry], why: str) -> None:
        """Last resort: each entry alone, so that one the database refuses does not take the others."""
        for entry in batch:
            try:
                async with self.ctx.write() as conn:
                    await conn.execute(insert(AuditRecord), [entry.row()])
                self.written += 1
            except Exception:
                self._drop([entry], why)

    async def _fill_patients(self, batch: Iterable[AuditEntry]) -> None:
        wanted = {e.study_uid for e in batch if e.study_uid and not e.patient_id} - set(self._patients)
        if wanted:
            async with self.ctx.sessions() as session:
                rows = await session.exec(
                    select(Study.study_instance_uid, Study.patient_id).where(
                        Study.study_instance_uid.in_(wanted))  # type: ignore[attr-defined]
                )
                for uid, patient in rows:
                    self._remember(uid, patient)
        for e in batch:
            if e.study_uid and not e.patient_id:
                e.patient_id = self._patients.get(e.study_uid, "")

    def _remember(self, study_uid: str, patient_id: str) -> None:
        self._patients[study_uid] = patient_id
        self._patients.move_to_end(study_uid)
        while len(self._patients) > PATIENT_CACHE_SIZE:
            self._patients.popitem(last=False)

    async def patient_of(self, study_uid: str) -> str:
        """The patient of a study about to be deleted (looked up before the request runs)."""
        if study_uid in self._patients:
            return self._patients[study_uid]
        async with self.ctx.sessions() as session:
            found = (await session.exec(
                select(Study.patient_id).where(Study.study_instance_uid == study_uid))).one_or_none()
        if found is not None:
            self._remember(study_uid, found)
        return found or ""


def record_sign_in(writer: AuditWriter | None, *, username: str, ok: bool, principal: Principal | None = None,
                   client_address: str = "", path: str = "/api/auth/login", reason: str = "",
                   status: int = 0) -> None:
    """Audit a sign-in (``ok``) or a failed one; called by the login route."""
    if writer is None:
        return
    entry = AuditEntry(
        action=AuditAction.LOGIN if ok else AuditAction.FAILED_LOGIN,
        outcome=AuditOutcome.SUCCESS if ok else AuditOutcome.DENIED,
        client_address=client_address, method="POST", path=path, detail=reason,
        status=status or (200 if ok else 401),
    ).with_principal(principal)
    entry.actor = entry.actor or username[:128]
    writer.record(entry)


def record_share_exchange(writer: AuditWriter | None, *, public_id: str, share_id: int | None, study_uid: str,
                          status: int, reason: str = "", principal: Principal | None = None,
                          client_address: str = "") -> None:
    """Audit a share link's code exchange: which link and study, the outcome and, when refused, why
    (``wrong code``, ``locked``, ``throttled``, ``expired``, ``revoked``, ``no such link``, ...)."""
    if writer is None:
        return
    ok = 0 < status < 400
    entry = AuditEntry(
        action=AuditAction.LOGIN if ok else AuditAction.FAILED_LOGIN, outcome=outcome_of(status),
        client_address=client_address, method="POST", path=f"/api/shares/{public_id}/exchange",
        share_id=share_id, study_uid=study_uid, auth_method=AuthMethod.SHARE.value, status=status,
        detail=reason,
    ).with_principal(principal)
    entry.actor = entry.actor or f"share:{public_id}"
    writer.record(entry)


# DIMSE operations: what each one is in the log, and its status (PS3.7 Annex C) as an outcome.
# C-ECHO is the calling AE checking that it is let in (an accepted association): a sign-in.
DIMSE_ACTIONS = {"C-STORE": AuditAction.UPLOAD, "C-FIND": AuditAction.QUERY, "C-MOVE": AuditAction.DOWNLOAD,
                 "C-GET": AuditAction.DOWNLOAD, "C-ECHO": AuditAction.LOGIN,
                 # UPS (server/dimse/ups.py): the workitem is patient data, as on /workitems.
                 "N-CREATE": AuditAction.CHANGE, "N-SET": AuditAction.CHANGE, "N-ACTION": AuditAction.CHANGE,
                 "N-GET": AuditAction.VIEW}
DIMSE_NOT_AUTHORISED = 0x0124
DIMSE_ERRORS = frozenset({0x0110, 0xA700, 0xC001, 0xC513})  # processing failure, out of resources


def dimse_outcome(status: int) -> AuditOutcome:
    if status == 0 or 0xB000 <= status <= 0xBFFF:  # success, warning
        return AuditOutcome.SUCCESS
    if status == DIMSE_NOT_AUTHORISED:
        return AuditOutcome.DENIED
    if status in DIMSE_ERRORS or 0xA701 <= status <= 0xA7FF:
        return AuditOutcome.ERROR
    return AuditOutcome.REFUSED


def dimse_entry(operation: str, *, principal: Principal | None, calling_ae: str, called_ae: str, status: int,
                study_uid: str = "", client_address: str = "", detail: str = "") -> AuditEntry:
    """The audit record of one DIMSE operation (or, for C-STORE, of one study's instances in one
    association); ``status`` is the DIMSE status, kept as it is in the record's ``status``."""
    entry = AuditEntry(
        action=DIMSE_ACTIONS[operation], outcome=dimse_outcome(status), status=status, method=operation,
        path=f"dimse:{called_ae}", study_uid=study_uid, client_address=client_address,
        auth_method=AuthMethod.DIMSE.value,
        detail="; ".join(part for part in (f"calling AE {calling_ae}", f"status 0x{status:04X}", detail) if part),
    ).with_principal(principal)
    entry.actor = entry.actor or calling_ae
    return entry


def association_rejected_entry(*, calling_ae: str, called_ae: str, outcome: AuditOutcome, reason: str,
                               principal: Principal | None = None, client_address: str = "") -> AuditEntry:
    """The audit record of an association Cirrus refused (A-ASSOCIATE-RJ, or a connection ended
    before the association, e.g. a failed TLS handshake): a failed sign-in of the calling AE.
    ``outcome``: denied (the AE is not let in), refused (a limit), error (the connection failed).
    The method column holds eight characters: "A-ASSOC", the detail says why it was refused."""
    entry = AuditEntry(
        action=AuditAction.FAILED_LOGIN, outcome=outcome, method="A-ASSOC", path=f"dimse:{called_ae}",
        client_address=client_address, auth_method=AuthMethod.DIMSE.value,
        detail="; ".join(part for part in (f"calling AE {calling_ae}" if calling_ae else "", reason) if part),
    ).with_principal(principal)
    entry.actor = entry.actor or calling_ae
    return entry


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str = ""
    study_uid: str = ""
    patient_id: str = ""
    actions: tuple[str, ...] = ()
    outcome: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> list[Any]:
        c = AuditRecord
        clauses: list[Any] = []
        if self.actor:
            clauses.append(c.actor == self.actor)
        if self.study_uid:
            clauses.append(c.study_uid == self.study_uid)
        if self.patient_id:
            clauses.append(c.patient_id == self.patient_id)
        if self.actions:
            clauses.append(c.action.in_(self.actions))  # type: ignore[attr-defined]
        if self.outcome:
            clauses.append(c.outcome == self.outcome)
        if self.since is not None:
            clauses.append(c.at >= self.since)
        if self.until is not None:
            clauses.append(c.at < self.until)
        return clauses


def record_json(r: AuditRecord) -> dict[str, Any]:
    out = {name: getattr(r, name) for name in COLUMNS}
    out["at"] = aware(r.at).isoformat()
    return out


async def search(ctx: AppContext, flt: AuditFilter, limit: int, offset: int) -> tuple[int, list[AuditRecord]]:
    """Total matching and one page, newest first."""
    where = flt.where()
    async with ctx.sessions() as session:
        total = (await session.exec(select(func.count()).select_from(AuditRecord).where(*where))).one()
        rows = (await session.exec(
            select(AuditRecord).where(*where).order_by(AuditRecord.at.desc(), AuditRecord.id.desc())  # type: ignore[attr-defined]
            .limit(limit).offset(offset)
        )).all()
    return int(total), list(rows)


async def export_rows(ctx: AppContext, flt: AuditFilter, limit: int = EXPORT_LIMIT) -> list[AuditRecord]:
    """Matching records oldest first (an export reads like a log)."""
    async with ctx.sessions() as session:
        rows = (await session.exec(
            select(AuditRecord).where(*flt.where()).order_by(AuditRecord.at, AuditRecord.id).limit(limit)  # type: ignore[arg-type]
        )).all()
    return list(rows)


def _cell(value: Any) -> Any:
    """A CSV cell; text a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: Iterable[AuditRecord]) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(COLUMNS)
    for r in rows:
        values = record_json(r)
        out.writerow([_cell(values[c]) for c in COLUMNS])
    return buf.getvalue()
