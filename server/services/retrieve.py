"""Look-ups behind WADO-RS and DELETE: which stored instances a URL names, as the caller sees them.

Every query carries the tenant rule (``server.auth.visibility``) in its ``WHERE``; a study the
caller may not see answers ``NotFound`` like one that does not exist. The series instance tables
kept in memory are shared by all callers, so a hit is served only after ``ensure_visible``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dicomweb.errors import NotFound
from server.auth.principal import Principal
from server.auth.visibility import ensure_visible, visible_studies
from server.context import AppContext
from server.db.archive import Instance, InstanceState, Series, Study
from server.db.changes import DELETIONS
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
        """The (offset, length) fragments of every frame; parsed once per cached row."""
        return self._frames

    @cached_property
    def _frames(self) -> list[list[tuple[int, int]]] | None:
        if self.frame_index is None:
            return None
        return [[(int(o), int(n)) for o, n in frame] for frame in orjson.loads(self.frame_index)]

    @property
    def memory_size(self) -> int:
        """About what the row takes in memory once its frame table is parsed."""
        return 600 + 3 * len(self.frame_index or "")


INSTANCE_COLUMNS = (
    Instance.id, Study.study_instance_uid, Series.series_instance_uid, Instance.sop_instance_uid,
    Instance.sop_class_uid, Instance.transfer_syntax_uid, Instance.blob_key, Instance.size,
    Instance.number_of_frames, Instance.frame_index,
)


def _where(p: Principal, study: str, series: str | None, sop: str | None):  # type: ignore[no-untyped-def]
    clauses = [Study.study_instance_uid == study, Instance.state == InstanceState.CREATED, visible_studies(p)]
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


ORDER = (Series.series_number, Series.id, Instance.instance_number, Instance.id)


async def find_instances(
    ctx: AppContext, p: Principal, study: str, series: str | None = None, sop: str | None = None
) -> list[StoredInstance]:
    stmt = _joined(*INSTANCE_COLUMNS).where(*_where(p, study, series, sop)).order_by(*ORDER)
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    if not rows:
        raise NotFound(f"no {_what(study, series, sop)}")
    return [StoredInstance(*row) for row in rows]


async def find_instance(ctx: AppContext, p: Principal, study: str, series: str, sop: str) -> StoredInstance:
    """One instance by its full path, from its series' table (one indexed query per series)."""
    tables = ctx.memory.series
    table = tables.get(study, series)
    if table is not None:
        await ensure_visible(ctx, p, study)  # the table is shared by every caller
    else:
        async with ctx.engine.connect() as conn:
            rows = (await conn.execute(_joined(*INSTANCE_COLUMNS).where(*_where(p, study, series, None)))).all()
        if not rows:
            raise NotFound(f"no {_what(study, series, sop)}")
        table = _remember(ctx, study, series, [StoredInstance(*row) for row in rows])
    inst = table.get(sop)
    if inst is None:
        # Not stored yet when the table was read (or not at all): ask the index for this one.
        inst = (await find_instances(ctx, p, study, series, sop))[0]
        ctx.memory.series.add(study, series, sop, inst, inst.memory_size)
    return inst  # type: ignore[no-any-return]


def _remember(ctx: AppContext, study: str, series: str, rows: list[StoredInstance]) -> dict[str, StoredInstance]:
    table = {r.sop_instance_uid: r for r in rows}
    ctx.memory.series.put(study, series, table, sum(r.memory_size for r in rows))
    return table


async def metadata_version(ctx: AppContext, p: Principal, study: str, series: str | None, sop: str | None) -> str:
    """A token that changes whenever the metadata would: count, highest id and newest creation time
    of the visible instances (the time covers SQLite handing a deleted row's id to a new row)."""
    stmt = _joined(func.count(Instance.id), func.max(Instance.id), func.max(Instance.created_at)).where(
        *_where(p, study, series, sop)
    )
    async with ctx.engine.connect() as conn:
        count, max_id, newest = (await conn.execute(stmt)).one()
    if not count:
        raise NotFound(f"no {_what(study, series, sop)}")
    return f"{int(count)}:{int(max_id)}:{newest}"


async def metadata_documents(
    ctx: AppContext, p: Principal, study: str, series: str | None, sop: str | None
) -> list[bytes]:
    """The stored DICOM JSON of the named instances. A series' documents come with its instance
    table, which is kept for the frame and rendered requests a viewer sends next."""
    whole_series = series is not None and sop is None
    cols = (Instance.metadata_json, *INSTANCE_COLUMNS) if whole_series else (Instance.metadata_json,)
    stmt = _joined(*cols).where(*_where(p, study, series, sop)).order_by(*ORDER)
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    if not rows:
        raise NotFound(f"no {_what(study, series, sop)}")
    if whole_series:
        assert series is not None
        _remember(ctx, study, series, [StoredInstance(*row[1:]) for row in rows])
    return [row[0] for row in rows]


async def delete_instances(ctx: AppContext, p: Principal, study: str, series: str | None, sop: str | None) -> int:
    """Remove the named instances (rows, then blobs); empty series and studies go too."""
    async with ctx.write() as conn:
        rows = (
            await conn.execute(
                _joined(Instance.id, Instance.blob_key, Instance.series_id, Instance.study_id).where(
                    *_where(p, study, series, sop)
                )
            )
        ).all()
        if not rows:
            raise NotFound(f"no {_what(study, series, sop)}")
        ctx.memory.forget_study(study)
        series_ids = sorted({r.series_id for r in rows})
        study_ids = sorted({r.study_id for r in rows})
        await lock_and_list(conn, Series, Series.id.in_(series_ids))
        await lock_and_list(conn, Study, Study.id.in_(study_ids))
        ids = [r.id for r in rows]
        for start in range(0, len(ids), 500):
            await conn.execute(delete(Instance).where(Instance.id.in_(ids[start : start + 500])))
        await _drop_empty(conn, series_ids, study_ids)
    # Committed: forget again what a request read meanwhile, and tell the other processes.
    ctx.memory.forget_study(study)
    ctx.changes.publish(DELETIONS)
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
