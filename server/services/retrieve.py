"""Look-ups behind WADO-RS and DELETE: which stored instances a URL names."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dicomweb.errors import NotFound
from server.context import AppContext
from server.db.models import Instance, Series, Study
from server.services.ingest import lock_and_list, recount


@dataclass(frozen=True)
class StoredInstance:
    id: int
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    blob_key: str
    size: int
    number_of_frames: int
    frame_index: str | None

    def frames(self) -> list[list[tuple[int, int]]] | None:
        if self.frame_index is None:
            return None
        return [[(int(o), int(n)) for o, n in frame] for frame in orjson.loads(self.frame_index)]


def _where(study: str, series: str | None, sop: str | None):  # type: ignore[no-untyped-def]
    clauses = [Study.study_instance_uid == study, Instance.state == "created"]
    if series is not None:
        clauses.append(Series.series_instance_uid == series)
    if sop is not None:
        clauses.append(Instance.sop_instance_uid == sop)
    return clauses


def _joined(*cols):  # type: ignore[no-untyped-def]
    return (
        select(*cols)
        .select_from(Instance)
        .join(Series, Series.id == Instance.series_id)
        .join(Study, Study.id == Instance.study_id)
    )


def _what(study: str, series: str | None, sop: str | None) -> str:
    if sop is not None:
        return f"instance {sop} in series {series} of study {study}"
    if series is not None:
        return f"series {series} in study {study}"
    return f"study {study}"


async def find_instances(
    ctx: AppContext, study: str, series: str | None = None, sop: str | None = None
) -> list[StoredInstance]:
    stmt = _joined(
        Instance.id, Study.study_instance_uid, Series.series_instance_uid, Instance.sop_instance_uid,
        Instance.sop_class_uid, Instance.transfer_syntax_uid, Instance.blob_key, Instance.size,
        Instance.number_of_frames, Instance.frame_index,
    ).where(*_where(study, series, sop)).order_by(Series.series_number, Series.id, Instance.instance_number,
                                                   Instance.id)
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    if not rows:
        raise NotFound(f"no {_what(study, series, sop)}")
    return [StoredInstance(*row) for row in rows]


class InstanceCache:
    """Recently looked-up instances (immutable once created), for the frame and rendered hot paths.

    Entries live ``ttl`` seconds; a DELETE in this process evicts at once, and an instance deleted
    by another process answers 404 when its blob is read.
    """

    def __init__(self, size: int = 20000, ttl: float = 60.0) -> None:
        from collections import OrderedDict

        self._items: OrderedDict[tuple[str, str, str], tuple[float, StoredInstance]] = OrderedDict()
        self.size, self.ttl = size, ttl

    def get(self, key: tuple[str, str, str]) -> StoredInstance | None:
        import time

        hit = self._items.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        self._items.move_to_end(key)
        return hit[1]

    def put(self, key: tuple[str, str, str], value: StoredInstance) -> None:
        import time

        self._items[key] = (time.monotonic() + self.ttl, value)
        if len(self._items) > self.size:
            self._items.popitem(last=False)

    def evict_study(self, study: str) -> None:
        for key in [k for k in self._items if k[0] == study]:
            del self._items[key]


def instance_cache(ctx: AppContext) -> InstanceCache:
    cache = ctx.extras.get("instance_cache")
    if cache is None:
        cache = ctx.extras["instance_cache"] = InstanceCache()
    return cache  # type: ignore[no-any-return]


async def find_instance(ctx: AppContext, study: str, series: str, sop: str) -> StoredInstance:
    """One instance by its full path, through the in-process cache."""
    cache = instance_cache(ctx)
    key = (study, series, sop)
    hit = cache.get(key)
    if hit is not None:
        return hit
    inst = (await find_instances(ctx, study, series, sop))[0]
    cache.put(key, inst)
    return inst


async def metadata_version(ctx: AppContext, study: str, series: str | None, sop: str | None) -> str:
    """A token that changes whenever the metadata would: count, highest id and newest creation time
    of the visible instances (the time covers SQLite handing a deleted row's id to a new row)."""
    stmt = _joined(func.count(Instance.id), func.max(Instance.id), func.max(Instance.created_at)).where(
        *_where(study, series, sop)
    )
    async with ctx.engine.connect() as conn:
        count, max_id, newest = (await conn.execute(stmt)).one()
    if not count:
        raise NotFound(f"no {_what(study, series, sop)}")
    return f"{int(count)}:{int(max_id)}:{newest}"


class MetadataCache:
    """Whole metadata answers by (resource, version, base URL), least recently used out first.

    The version is read from the index on every request, so an entry can never be served stale:
    a changed resource simply asks for another key."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        from collections import OrderedDict

        self._items: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self.max_bytes = max_bytes
        self.bytes = 0

    def get(self, key: tuple[str, ...]) -> bytes | None:
        body = self._items.get(key)
        if body is not None:
            self._items.move_to_end(key)
        return body

    def put(self, key: tuple[str, ...], body: bytes) -> None:
        if len(body) > self.max_bytes // 4 or key in self._items:
            return
        self._items[key] = body
        self.bytes += len(body)
        while self.bytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.bytes -= len(old)


def metadata_cache(ctx: AppContext) -> MetadataCache:
    cache = ctx.extras.get("metadata_cache")
    if cache is None:
        cache = ctx.extras["metadata_cache"] = MetadataCache()
    return cache  # type: ignore[no-any-return]


async def metadata_documents(ctx: AppContext, study: str, series: str | None, sop: str | None) -> list[bytes]:
    stmt = _joined(Instance.metadata_json).where(*_where(study, series, sop)).order_by(
        Series.series_number, Series.id, Instance.instance_number, Instance.id
    )
    async with ctx.engine.connect() as conn:
        docs = (await conn.execute(stmt)).scalars().all()
    if not docs:
        raise NotFound(f"no {_what(study, series, sop)}")
    return list(docs)


async def delete_instances(ctx: AppContext, study: str, series: str | None, sop: str | None) -> int:
    """Remove the named instances (rows, then blobs); empty series and studies go too."""
    instance_cache(ctx).evict_study(study)
    async with ctx.write() as conn:
        rows = (
            await conn.execute(
                _joined(Instance.id, Instance.blob_key, Instance.series_id, Instance.study_id).where(
                    *_where(study, series, sop)
                )
            )
        ).all()
        if not rows:
            raise NotFound(f"no {_what(study, series, sop)}")
        series_ids = sorted({r.series_id for r in rows})
        study_ids = sorted({r.study_id for r in rows})
        await lock_and_list(conn, Series, Series.id.in_(series_ids))
        await lock_and_list(conn, Study, Study.id.in_(study_ids))
        ids = [r.id for r in rows]
        for start in range(0, len(ids), 500):
            await conn.execute(delete(Instance).where(Instance.id.in_(ids[start : start + 500])))
        await _drop_empty(conn, series_ids, study_ids)
    for r in rows:
        await ctx.store.delete(r.blob_key)
    return len(rows)


async def _drop_empty(conn: AsyncConnection, series_ids: list[int], study_ids: list[int]) -> None:
    remaining = select(Instance.id).where(Instance.series_id == Series.id).exists()
    await conn.execute(delete(Series).where(Series.id.in_(series_ids), ~remaining))
    left_series = (await conn.execute(select(Series.id).where(Series.id.in_(series_ids)))).scalars().all()
    has_series = select(Series.id).where(Series.study_id == Study.id).exists()
    await conn.execute(delete(Study).where(Study.id.in_(study_ids), ~has_series))
    left_studies = (await conn.execute(select(Study.id).where(Study.id.in_(study_ids)))).scalars().all()
    await recount(conn, list(left_series), list(left_studies))
