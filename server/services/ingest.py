"""The one ingest service: STOW-RS, uploads, `cirrus ingest`, DIMSE and analysis results end here.

Two-phase write per batch (like a write-ahead intent):

1. index rows are inserted in state ``creating`` (study/series rows upserted),
2. blobs are written (content-addressed key, atomic rename),
3. in one transaction the rows become ``created`` with their metadata and
   frame index, and the series/study counters are recomputed.

A crash at any point leaves at most ``creating`` rows (invisible to QIDO/WADO)
and their blobs, which the start-up sweep removes.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from orjson import dumps, loads
from pydicom.dataset import Dataset
from sqlalchemy import Connection, Row, and_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from dicomweb.stow import FailureReason, InstanceOutcome
from server.auth.principal import Principal
from server.auth.visibility import system_principal, visible_studies
from server.context import AppContext
from server.db.archive import Instance, InstanceState, Series, Study
from server.db.changes import STUDIES
from server.db.database import aware, utcnow
from server.db.lease import holder_alive_sync
from server.memory import MemoryBudget
from server.services.parse import Parsed, parse_candidate, sha256_file

log = logging.getLogger("cirrus.ingest")

CREATING_GRACE = timedelta(minutes=10)
BATCH_SIZE = 64  # measured: 64 beats 32 by ~20 % (fewer transactions per instance)
BATCH_BYTES = 256 * 1024 * 1024
LISTENER_RETRY_DELAYS = (0.05, 0.25, 1.0, 3.0)


@dataclass
class Spooled:
    """A candidate object with its content hash: in memory (``data``) or in a file (``path``)."""

    sha256: str
    data: bytes | None = None
    path: Path | None = None
    delete_after: bool = True  # spool files are removed once ingested; a user's own files are not
    held: int = 0  # bytes of ``data`` taken from ``budget`` (given back by ``release``)
    budget: MemoryBudget | None = None

    @classmethod
    def of_bytes(cls, data: bytes) -> Spooled:
        return cls(hashlib.sha256(data).hexdigest(), data=data)

    def release(self) -> None:
        """Give back the memory and the spool file (idempotent)."""
        if self.budget is not None and self.held:
            self.budget.give(self.held)
            self.held = 0
        if self.path is not None and self.delete_after:
            self.path.unlink(missing_ok=True)


def blob_key_for(p: Parsed) -> str:
    return f"{p.study_instance_uid}/{p.series_instance_uid}/{p.sop_instance_uid}-{p.sha256[:16]}.dcm"


def _ok(p: Parsed, status: str) -> InstanceOutcome:
    return InstanceOutcome(
        sop_class_uid=str(p.index.instance["sop_class_uid"]),
        sop_instance_uid=p.sop_instance_uid,
        study_instance_uid=p.study_instance_uid,
        series_instance_uid=p.series_instance_uid,
        status=status,
    )


def _fail(p: Parsed, reason: FailureReason, message: str) -> InstanceOutcome:
    o = _ok(p, "failed")
    return InstanceOutcome(**{**o.__dict__, "failure_reason": int(reason), "message": message})


def _not_authorized(p: Parsed, message: str) -> InstanceOutcome:
    return _fail(p, FailureReason.NOT_AUTHORIZED, message)


class IngestService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    # -- entry points -------------------------------------------------------------------------

    async def ingest_file(self, path: Path, expected_study_uid: str | None = None,
                          principal: Principal | None = None) -> InstanceOutcome:
        """Store one file the caller keeps (it is copied, never moved)."""
        sha = await asyncio.to_thread(sha256_file, path)
        spooled = Spooled(sha, path=Path(path), delete_after=False)
        return (await self.ingest_batch([spooled], expected_study_uid, principal))[0]

    async def ingest_datasets(self, datasets: list[Dataset], expected_study_uid: str | None = None,
                              principal: Principal | None = None) -> list[InstanceOutcome]:
        """Store data sets built in memory (analysis results): encoded once, never through a temp file."""

        def encode() -> list[Spooled]:
            out = []
            for ds in datasets:
                buf = io.BytesIO()
                ds.save_as(buf, enforce_file_format=True)
                out.append(Spooled.of_bytes(buf.getvalue()))
            return out

        return await self.ingest_batch(await asyncio.to_thread(encode), expected_study_uid, principal)

    async def ingest_batch(
        self, items: list[Spooled], expected_study_uid: str | None = None, principal: Principal | None = None
    ) -> list[InstanceOutcome]:
        """Store a batch; one outcome per item, in order. Never raises for bad input.

        Every entry point takes the caller: new studies are owned by ``principal``'s institution
        (never by attributes inside the file), and an instance of an existing study ``principal``
        may not see is refused (``FailureReason.NOT_AUTHORIZED``), never merged into that study.
        None is the server's own work (``system_principal`` of the default institution).
        """
        principal = principal or system_principal(self.ctx.institution_id)
        try:
            parsed = await asyncio.to_thread(
                lambda: [parse_candidate(s.sha256, expected_study_uid, data=s.data, path=s.path) for s in items]
            )
            outcomes: list[InstanceOutcome | None] = [
                p if isinstance(p, InstanceOutcome) else None for p in parsed
            ]
            todo = [(i, p) for i, p in enumerate(parsed) if isinstance(p, Parsed)]
            if todo:
                await self._store(todo, outcomes, principal)
            return [o for o in outcomes if o is not None]
        finally:
            for s in items:
                s.release()

    async def ingest_stream(
        self, items: AsyncIterator[Spooled | InstanceOutcome], expected_study_uid: str | None = None,
        principal: Principal | None = None,
    ) -> list[InstanceOutcome]:
        """Store objects as they arrive, in batches, one batch stored while the next is received.

        ``items`` may also carry ready outcomes (parts a body reader refused); every outcome comes
        back in arrival order. A batch already handed over is stored even if the client goes away.
        """
        outcomes: list[InstanceOutcome] = []
        batch: list[Spooled] = []
        batch_bytes = 0
        pending: asyncio.Future[list[InstanceOutcome]] | None = None
        try:
            async for item in items:
                if isinstance(item, InstanceOutcome):
                    outcomes.append(item)
                    continue
                batch.append(item)
                batch_bytes += len(item.data) if item.data is not None else 0
                if len(batch) >= BATCH_SIZE or batch_bytes >= BATCH_BYTES:
                    if pending is not None:
                        outcomes += await pending
                    pending = asyncio.ensure_future(self.ingest_batch(batch, expected_study_uid, principal))
                    batch, batch_bytes = [], 0
            if pending is not None:
                outcomes += await pending
                pending = None
            if batch:
                last, batch = batch, []
                outcomes += await self.ingest_batch(last, expected_study_uid, principal)
        finally:
            if pending is not None:
                # The client went away: let the batch finish storing (it is acknowledged work).
                await asyncio.shield(pending)
            for s in batch:
                s.release()
        return outcomes

    # -- the two phases -----------------------------------------------------------------------

    async def _store(self, todo: list[tuple[int, Parsed]], outcomes: list[InstanceOutcome | None],
                     principal: Principal) -> None:
        ctx = self.ctx
        accepted = await self._creating_each_on_error(todo, outcomes, principal)
        if not accepted:
            return
        written: list[tuple[int, Parsed, str]] = []
        sem = asyncio.Semaphore(16)
        # Several objects are made durable all at once below (one sync per batch, not one per
        # object); a lone object (a modality's C-STORE, one at a time) in the same call as its write.
        alone = len(accepted) == 1

        async def put(i: int, p: Parsed, key: str) -> None:
            async with sem:
                try:
                    if p.data is not None:
                        await ctx.store.put_bytes(key, p.data, durable=alone)
                    else:
                        assert p.path is not None
                        await ctx.store.put_file(key, p.path, durable=alone)
                    written.append((i, p, key))
                except Exception as exc:
                    log.exception("blob write failed for %s", p.sop_instance_uid)
                    reason = FailureReason.OUT_OF_RESOURCES if isinstance(exc, OSError) else \
                        FailureReason.PROCESSING_FAILURE
                    outcomes[i] = _fail(p, reason, f"storage write failed: {type(exc).__name__}")

        await asyncio.gather(*(put(i, p, key) for i, p, key in accepted))
        failed_keys = {p.sop_instance_uid for i, p, _ in accepted if outcomes[i] is not None}
        step = "storage sync"
        try:
            if written and not alone:
                await ctx.store.sync([key for _, _, key in written])  # durable before "created"
            step = "index commit"
            await self._phase_created(written, failed_keys)
        except Exception:
            log.exception("%s of %d instances failed", step, len(written))
            for i, p, _key in written:
                outcomes[i] = _fail(p, FailureReason.PROCESSING_FAILURE, f"{step} failed")
            await self._rollback_creating([p.sop_instance_uid for _, p, _ in accepted])
            for _, _, key in written:
                await ctx.store.delete(key)
            return
        for i, p, _key in written:
            outcomes[i] = _ok(p, "stored")
        studies: dict[str, set[str]] = {}
        for _, p, _ in written:
            studies.setdefault(p.study_instance_uid, set()).add(p.series_instance_uid)
        await self._notify(studies)

    async def _creating_each_on_error(
        self, todo: list[tuple[int, Parsed]], outcomes: list[InstanceOutcome | None], principal: Principal
    ) -> list[tuple[int, Parsed, str]]:
        """``_phase_creating`` for the batch; when the database refuses it, once per instance, so one
        object the database cannot encode fails alone and the rest of the batch is stored."""
        try:
            return await self._phase_creating(todo, outcomes, principal)
        except (DBAPIError, StatementError) as exc:
            if len(todo) == 1:
                i, p = todo[0]
                log.warning("index refused %s: %s", p.sop_instance_uid, exc)
                transient = isinstance(exc, OperationalError | InterfaceError)
                outcomes[i] = _fail(
                    p, FailureReason.PROCESSING_FAILURE if transient else FailureReason.CANNOT_UNDERSTAND,
                    f"the index refused this object's attributes: {type(getattr(exc, 'orig', exc)).__name__}",
                )
                return []
        accepted: list[tuple[int, Parsed, str]] = []
        for item in todo:
            accepted += await self._creating_each_on_error([item], outcomes, principal)
        return accepted

    async def _phase_creating(
        self, todo: list[tuple[int, Parsed]], outcomes: list[InstanceOutcome | None], principal: Principal
    ) -> list[tuple[int, Parsed, str]]:
        """Insert ``creating`` rows; decide duplicates and conflicts. Returns what to write."""
        lease_key = self.ctx.lease.key
        keep, stale = await self.ctx.run_write(
            lambda conn: _creating_rows(conn, todo, outcomes, principal, lease_key))
        for key in stale:
            await self.ctx.store.delete(key)
        return keep

    async def _phase_created(self, written: list[tuple[int, Parsed, str]], failed: set[str]) -> None:
        await self.ctx.run_write(lambda conn: _created_rows(conn, written, failed))

    async def _rollback_creating(self, sops: Iterable[str]) -> None:
        def body(conn: Connection) -> None:
            conn.execute(
                delete(Instance).where(
                    Instance.sop_instance_uid.in_(list(sops)), Instance.state == InstanceState.CREATING
                )
            )

        await self.ctx.run_write(body)

    async def _notify(self, studies: dict[str, set[str]]) -> None:
        self.ctx.changes.publish(STUDIES)
        for listener in list(self.ctx.ingest_listeners):
            for study_uid, series in studies.items():
                # A listener (the analysis detector's change record) may meet a busy database:
                # retried with backoff, so an acquisition is not silently left without a job.
                for attempt, delay in enumerate((*LISTENER_RETRY_DELAYS, None)):
                    try:
                        await listener(self.ctx, study_uid, series)
                        break
                    except Exception:
                        if delay is None:
                            log.exception("ingest listener failed for study %s after %d attempts",
                                          study_uid, attempt + 1)
                        else:
                            log.warning("ingest listener failed for study %s; retrying", study_uid,
                                        exc_info=True)
                            await asyncio.sleep(delay)


# -- the transactions (synchronous bodies: ``AppContext.run_write`` runs them) -------------------


def _creating_rows(
    conn: Connection, todo: list[tuple[int, Parsed]], outcomes: list[InstanceOutcome | None],
    principal: Principal, lease_key: int | None,
) -> tuple[list[tuple[int, Parsed, str]], list[str]]:
    """Phase one: the ``creating`` rows of what is new; duplicates, conflicts and refusals go to
    ``outcomes``. Returns what to write and the blob keys of stale intents it removed."""
    accepted: list[tuple[int, Parsed, str]] = []
    sops = list({p.sop_instance_uid for _, p in todo})
    existing = {
        row.sop_instance_uid: row
        for row in conn.execute(
            select(
                Instance.id, Instance.sop_instance_uid, Instance.state, Instance.sha256,
                Instance.created_at, Instance.blob_key,
                # Only intents carry their lease there; never read a stored object's metadata.
                case((Instance.state == InstanceState.CREATING, Instance.metadata_json),
                     else_=None).label("metadata_json"),
            ).where(Instance.sop_instance_uid.in_(sops))
        ).all()
    }
    # Stored SOP instances of studies the caller cannot see: neither a duplicate nor a conflict
    # is reported for them (either would confirm what another tenant holds).
    foreign: set[str] = set()
    if existing and not principal.is_admin:
        foreign = set(
            conn.execute(
                select(Instance.sop_instance_uid).join(Study, Study.id == Instance.study_id)
                .where(Instance.sop_instance_uid.in_(list(existing)), ~visible_studies(principal))
            ).scalars()
        )
    seen: dict[str, str] = {}
    stale: list[tuple[int, str]] = []
    for i, p in todo:
        sop = p.sop_instance_uid
        if sop in foreign:
            outcomes[i] = _not_authorized(p, f"SOP Instance UID {sop} is in use; not stored")
            continue
        prior_sha = seen.get(sop)
        row = existing.get(sop)
        if prior_sha is None and row is not None:
            if row.state == InstanceState.CREATED:
                prior_sha = row.sha256
            elif aware(row.created_at) < utcnow() - CREATING_GRACE or not _intent_alive(conn, row):
                stale.append((row.id, row.blob_key))
            else:
                outcomes[i] = _fail(p, FailureReason.PROCESSING_FAILURE,
                                    f"SOP Instance {sop} is being stored by another request; retry")
                continue
        if prior_sha is not None:
            if prior_sha == p.sha256:
                outcomes[i] = _ok(p, "duplicate")
            else:
                outcomes[i] = _fail(
                    p, FailureReason.DUPLICATE_SOP_INSTANCE,
                    f"a different object is already stored under SOP Instance UID {sop}; not overwritten",
                )
            continue
        seen[sop] = p.sha256
        accepted.append((i, p, blob_key_for(p)))
    if stale:
        conn.execute(delete(Instance).where(Instance.id.in_([s[0] for s in stale])))
    stale_keys = [key for _, key in stale]
    if not accepted:
        return [], stale_keys
    study_ids = _upsert_studies(conn, [p for _, p, _ in accepted], principal)
    mine = [(i, p, key) for i, p, key in accepted if p.study_instance_uid in study_ids]
    for i, p, _key in accepted:
        if p.study_instance_uid not in study_ids:
            outcomes[i] = _not_authorized(
                p, f"study {p.study_instance_uid} is not accessible to you; the instance was not stored")
    accepted = mine
    if not accepted:
        return [], stale_keys
    series_ids, series_study = _upsert_series(conn, [p for _, p, _ in accepted], study_ids)
    rows = []
    keep = []
    for i, p, key in accepted:
        if series_study[p.series_instance_uid] != study_ids[p.study_instance_uid]:
            outcomes[i] = _fail(p, FailureReason.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
                                f"SeriesInstanceUID {p.series_instance_uid} already belongs to another study")
            continue
        keep.append((i, p, key))
        rows.append({
            **p.index.instance,
            "study_id": study_ids[p.study_instance_uid],
            "series_id": series_ids[p.series_instance_uid],
            "state": InstanceState.CREATING,
            # Until "created", the metadata column names the process lease of the intent.
            "metadata_json": dumps({"lease": lease_key}) if lease_key else b"{}",
            "attributes_json": dumps(p.index.instance_json),
            "blob_key": key,
            "size": p.size,
            "sha256": p.sha256,
            "transfer_syntax_uid": p.transfer_syntax_uid,
            "created_at": utcnow(),
        })
    if rows:
        conn.execute(insert(Instance), rows)
    return keep, stale_keys


def _upsert_studies(conn: Connection, parsed: list[Parsed], principal: Principal) -> dict[str, int]:
    """Create the studies that do not exist yet (owned by the caller's institution); the ids of
    those the caller may store into: new ones and existing visible ones. Checked after the insert,
    in the same transaction, so two tenants racing to create one study cannot both write to it."""
    by_uid: dict[str, Parsed] = {}
    for p in parsed:
        by_uid.setdefault(p.study_instance_uid, p)

    def visible() -> dict[str, int]:
        rows = conn.execute(
            select(Study.study_instance_uid, Study.id).where(
                Study.study_instance_uid.in_(list(by_uid)), visible_studies(principal)
            )
        )
        return {uid: sid for uid, sid in rows.all()}

    # Most batches go to studies that exist already (a modality sends a study one image at a
    # time): look first, insert only what is missing, then look again.
    found = visible()
    missing = [p for uid, p in by_uid.items() if uid not in found]
    if not missing:
        return found
    values = [
        {**p.index.study, "institution_id": principal.institution_id,
         "attributes_json": dumps(p.index.study_json), "created_at": utcnow(), "updated_at": utcnow()}
        for p in missing
    ]
    conn.execute(_insert_ignore(conn, Study, "study_instance_uid"), values)
    return visible()


def _upsert_series(
    conn: Connection, parsed: list[Parsed], study_ids: dict[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    """(series id, owning study id) per series UID, creating the missing series; the caller refuses
    instances whose study differs."""
    by_uid: dict[str, Parsed] = {}
    for p in parsed:
        by_uid.setdefault(p.series_instance_uid, p)

    def existing() -> list[Row[tuple[str, int, int]]]:
        return list(conn.execute(
            select(Series.series_instance_uid, Series.id, Series.study_id).where(
                Series.series_instance_uid.in_(list(by_uid))
            )
        ).all())

    rows = existing()  # as for studies: insert only the series that are missing
    have = {row[0] for row in rows}
    missing = [p for uid, p in by_uid.items() if uid not in have]
    if missing:
        values = [
            {**p.index.series, "study_id": study_ids[p.study_instance_uid],
             "attributes_json": dumps(p.index.series_json), "created_at": utcnow(), "updated_at": utcnow()}
            for p in missing
        ]
        conn.execute(_insert_ignore(conn, Series, "series_instance_uid"), values)
        rows = existing()
    return {uid: sid for uid, sid, _ in rows}, {uid: study_id for uid, _, study_id in rows}


def _insert_ignore(conn: Connection, model: type, unique: str):  # type: ignore[no-untyped-def]
    if conn.dialect.name == "postgresql":
        return pg_insert(model).on_conflict_do_nothing(index_elements=[unique])
    return sqlite_insert(model).on_conflict_do_nothing(index_elements=[unique])


def _created_rows(conn: Connection, written: list[tuple[int, Parsed, str]], failed: set[str]) -> None:
    """Phase two: the written objects become ``created`` with their metadata; counters recomputed."""
    if failed:
        conn.execute(
            delete(Instance).where(
                Instance.sop_instance_uid.in_(list(failed)), Instance.state == InstanceState.CREATING
            )
        )
    if not written:
        return
    # Lock the parent rows first (PostgreSQL) so the recounts below see concurrent commits.
    # SQLite has one writer at a time (this transaction): the study rows need no look-up.
    series_uids = sorted({p.series_instance_uid for _, p, _ in written})
    series_rows = lock_and_list_sync(conn, Series, Series.series_instance_uid.in_(series_uids),
                                     Series.number_of_instances)
    study_ids = sorted({row.study_id for row in series_rows})
    if conn.dialect.name == "postgresql":
        lock_and_list_sync(conn, Study, Study.id.in_(study_ids))
    stmt = (
        update(Instance)
        .where(Instance.sop_instance_uid == bindparam("b_sop"), Instance.state == InstanceState.CREATING)
        .values(state=InstanceState.CREATED, metadata_json=bindparam("b_meta"),
                frame_index=bindparam("b_frames"), number_of_frames=bindparam("b_nframes"))
    )
    conn.execute(
        stmt,
        [
            {"b_sop": p.sop_instance_uid, "b_meta": p.metadata_json, "b_frames": p.frame_index,
             "b_nframes": p.index.instance["number_of_frames"]}
            for _, p, _ in written
        ],
    )
    # Ingest only adds instances: a study's modalities change only when one of its series gets
    # its first instance (a series' modality is fixed when the series is created).
    recount_sync(conn, [row.id for row in series_rows], study_ids,
                 modalities=any(row.number_of_instances == 0 for row in series_rows))


def _intent_alive(conn: Connection, row) -> bool:  # type: ignore[no-untyped-def]
    """Whether the process that wrote this ``creating`` row still lives (PostgreSQL leases)."""
    try:
        key = loads(row.metadata_json or b"{}").get("lease")
    except ValueError:
        return True
    if not isinstance(key, int):
        return True  # an intent without a lease: only the grace period recovers it
    return holder_alive_sync(conn, key)


async def lock_and_list(conn: AsyncConnection, model: type, where, *extra):  # type: ignore[no-untyped-def]
    """``lock_and_list_sync`` on an asynchronous connection."""
    return await conn.run_sync(lambda sync: lock_and_list_sync(sync, model, where, *extra))


def lock_and_list_sync(conn: Connection, model: type, where, *extra):  # type: ignore[no-untyped-def]
    """The rows' ids (a series' with its study id, and ``extra`` columns), locked on PostgreSQL in id order."""
    stmt = select(model.id, *([model.study_id] if model is Series else []), *extra).where(where).order_by(model.id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return conn.execute(stmt).all()


async def recount(conn: AsyncConnection, series_ids: list[int], study_ids: list[int], *,
                  modalities: bool = True) -> None:
    """``recount_sync`` on an asynchronous connection."""
    await conn.run_sync(lambda sync: recount_sync(sync, series_ids, study_ids, modalities=modalities))


def recount_sync(conn: Connection, series_ids: list[int], study_ids: list[int], *, modalities: bool = True) -> None:
    """Recompute the counters QIDO serves (NumberOf*, and ModalitiesInStudy unless the caller knows
    it cannot have changed) for the given rows."""
    now = utcnow()
    if series_ids:
        count = (
            select(func.count(Instance.id))
            .where(and_(Instance.series_id == Series.id, Instance.state == InstanceState.CREATED))
            .scalar_subquery()
        )
        conn.execute(
            update(Series).where(Series.id.in_(series_ids)).values(number_of_instances=count, updated_at=now)
        )
    if not study_ids:
        return
    inst_count = (
        select(func.count(Instance.id))
        .where(and_(Instance.study_id == Study.id, Instance.state == InstanceState.CREATED))
        .scalar_subquery()
    )
    series_count = (
        select(func.count(Series.id))
        .where(and_(Series.study_id == Study.id, Series.number_of_instances > 0))
        .scalar_subquery()
    )
    conn.execute(
        update(Study).where(Study.id.in_(study_ids)).values(
            number_of_instances=inst_count, number_of_series=series_count, updated_at=now
        )
    )
    if not modalities:
        return
    rows = conn.execute(
        select(Series.study_id, Series.modality)
        .where(Series.study_id.in_(study_ids), Series.number_of_instances > 0)
        .distinct()
    ).all()
    found: dict[int, set[str]] = {sid: set() for sid in study_ids}
    for sid, modality in rows:
        if modality:
            found[sid].add(modality)
    for sid, mods in found.items():
        conn.execute(update(Study).where(Study.id == sid).values(modalities_in_study="\\".join(sorted(mods))))
