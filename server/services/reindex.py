"""Backfill of the QIDO-RS attribute rows (``attributes_json`` of study, series and instance) from
each instance's stored DICOM JSON (``Instance.metadata_json``), for rows written before the index's
attribute lists grew (the PS3.18 Table 10.6.3-3/-4/-5 defaults, the Procedure Code Sequence of
sequence matching). No file is read again: the stored metadata holds every attribute.

A study's and a series' row are built from their first created instance, as ingest builds them;
attributes a row already holds are kept (``{**old, **fresh}`` keeps both and prefers the fresh),
and a row is written only when it changes, so running it twice changes nothing the second time.
Work goes in batches of studies, each in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.context import AppContext
from server.db.archive import Instance, InstanceState, Series, Study
from server.services.indexing import INSTANCE_TAGS, SERIES_TAGS, STUDY_TAGS, subset_json

STUDY: Table = Study.__table__  # type: ignore[attr-defined]
SERIES: Table = Series.__table__  # type: ignore[attr-defined]
INSTANCE: Table = Instance.__table__  # type: ignore[attr-defined]
BATCH = 100  # studies per transaction


@dataclass
class ReindexCounts:
    studies: int = 0
    series: int = 0
    instances: int = 0
    examined: int = 0  # studies looked at

    def __str__(self) -> str:
        return (f"examined {self.examined} studies; rewrote the attribute rows of {self.studies} studies, "
                f"{self.series} series, {self.instances} instances")


def _load(raw: bytes | None) -> dict[str, Any]:
    if not raw:
        return {}
    loaded = orjson.loads(raw)
    return loaded if isinstance(loaded, dict) else {}


def _merged(old_raw: bytes | None, metadata: dict[str, Any], tags: tuple[str, ...]) -> bytes | None:
    """The new row, or None when it would not change."""
    old = _load(old_raw)
    new = {**old, **subset_json(metadata, tags)}
    return None if new == old else orjson.dumps(new)


async def _study_batch(conn: AsyncConnection, study_ids: list[int], counts: ReindexCounts) -> None:
    rows = (await conn.execute(
        select(INSTANCE.c.id, INSTANCE.c.study_id, INSTANCE.c.series_id, INSTANCE.c.metadata_json,
               INSTANCE.c.attributes_json)
        .where(INSTANCE.c.study_id.in_(study_ids), INSTANCE.c.state == InstanceState.CREATED)
        .order_by(INSTANCE.c.id))).all()
    first_of_study: dict[int, dict[str, Any]] = {}
    first_of_series: dict[int, dict[str, Any]] = {}
    for row in rows:
        metadata = _load(row.metadata_json)
        first_of_study.setdefault(row.study_id, metadata)
        first_of_series.setdefault(row.series_id, metadata)
        new = _merged(row.attributes_json, metadata, INSTANCE_TAGS)
        if new is not None:
            await conn.execute(update(INSTANCE).where(INSTANCE.c.id == row.id).values(attributes_json=new))
            counts.instances += 1
    for table, firsts, tags, attr in ((STUDY, first_of_study, STUDY_TAGS, "studies"),
                                      (SERIES, first_of_series, SERIES_TAGS, "series")):
        if not firsts:
            continue
        current = dict((await conn.execute(
            select(table.c.id, table.c.attributes_json).where(table.c.id.in_(list(firsts))))).all())
        for row_id, metadata in firsts.items():
            new = _merged(current.get(row_id), metadata, tags)
            if new is not None:
                await conn.execute(update(table).where(table.c.id == row_id).values(attributes_json=new))
                setattr(counts, attr, getattr(counts, attr) + 1)


async def reindex(ctx: AppContext, batch: int = BATCH) -> ReindexCounts:
    """Rewrite every attribute row that lacks what the current attribute lists take from its instances."""
    counts = ReindexCounts()
    last = 0
    while True:
        async with ctx.engine.connect() as conn:
            ids = [r[0] for r in (await conn.execute(
                select(STUDY.c.id).where(STUDY.c.id > last).order_by(STUDY.c.id).limit(batch))).all()]
        if not ids:
            break
        async with ctx.write() as conn:
            await _study_batch(conn, ids, counts)
        counts.examined += len(ids)
        last = ids[-1]
    return counts
