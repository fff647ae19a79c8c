"""Start-up and shutdown work of an API process."""

from __future__ import annotations

import logging

from sqlmodel import select

from server.context import AppContext
from server.db.models import Institution, utcnow

log = logging.getLogger("cirrus")

# Start-up hooks registered by feature modules (sweeper, analysis workers ...).
STARTUP_HOOKS: list = []
SHUTDOWN_HOOKS: list = []


async def ensure_institution(ctx: AppContext) -> None:
    """Create the default institution once; several worker processes may start at the same moment."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    insert = pg_insert if ctx.engine.dialect.name == "postgresql" else sqlite_insert
    async with ctx.engine.begin() as conn:
        await conn.execute(
            insert(Institution)
            .values(name=ctx.settings.institution, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row_id = (
            await conn.execute(select(Institution.id).where(Institution.name == ctx.settings.institution))
        ).scalar_one()
    ctx.institution_id = int(row_id)


async def startup(ctx: AppContext) -> None:
    from server.services.sweep import sweep_orphans

    await sweep_orphans(ctx)
    for hook in STARTUP_HOOKS:
        await hook(ctx)


async def shutdown(ctx: AppContext) -> None:
    for hook in reversed(SHUTDOWN_HOOKS):
        try:
            await hook(ctx)
        except Exception:  # shutdown must go on
            log.exception("shutdown hook failed")
