"""Start-up sweep: remove half-stored instances and stale spool files after a crash."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import delete, select

from server.context import AppContext
from server.db.archive import Instance, InstanceState
from server.db.database import utcnow

log = logging.getLogger("cirrus.sweep")


async def sweep_orphans(ctx: AppContext, grace: timedelta | None = None) -> int:
    """Delete ``creating`` rows older than ``grace`` and their blobs; return how many.

    The embedded default (SQLite, one process) sweeps everything at start-up:
    no other process can be mid-write. With PostgreSQL several API processes
    share the index, so only rows older than the grace period are taken.
    """
    if grace is None:
        alone = ctx.engine.dialect.name == "sqlite" and ctx.settings.http_workers <= 1
        grace = timedelta(0) if alone else timedelta(minutes=10)
    cutoff = utcnow() - grace
    # A write transaction from the start: on SQLite a read that later writes fails at once when
    # another process (a sibling HTTP worker starting) wrote in between.
    async with ctx.write() as conn:
        rows = (
            await conn.execute(
                select(Instance.id, Instance.blob_key).where(
                    Instance.state == InstanceState.CREATING, Instance.created_at <= cutoff
                )
            )
        ).all()
        if rows:
            await conn.execute(delete(Instance).where(Instance.id.in_([r.id for r in rows])))
    for row in rows:
        await ctx.store.delete(row.blob_key)
    tmp = ctx.settings.tmp_dir
    if tmp.is_dir():
        limit = time.time() - grace.total_seconds()
        for f in tmp.iterdir():
            try:
                if f.is_file() and f.stat().st_mtime <= limit:
                    f.unlink()
            except OSError:
                pass
    if rows:
        log.warning("removed %d half-stored instances left by an interrupted write", len(rows))
    return len(rows)
