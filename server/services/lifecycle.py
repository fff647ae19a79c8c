"""Start-up and shutdown work of an API process."""

from __future__ import annotations

import logging

from sqlmodel import select

from server.context import AppContext
from server.db.models import Institution

log = logging.getLogger("cirrus")

# Start-up hooks registered by feature modules (sweeper, analysis workers ...).
STARTUP_HOOKS: list = []
SHUTDOWN_HOOKS: list = []


async def ensure_institution(ctx: AppContext) -> None:
    async with ctx.sessions() as session:
        row = (
            await session.exec(select(Institution).where(Institution.name == ctx.settings.institution))
        ).first()
        if row is None:
            row = Institution(name=ctx.settings.institution)
            session.add(row)
            await session.commit()
            await session.refresh(row)
        assert row.id is not None
        ctx.institution_id = row.id


async def startup(ctx: AppContext) -> None:
    from server.services.sweep import sweep_orphans

    await ensure_institution(ctx)
    await sweep_orphans(ctx)
    for hook in STARTUP_HOOKS:
        await hook(ctx)


async def shutdown(ctx: AppContext) -> None:
    for hook in reversed(SHUTDOWN_HOOKS):
        try:
            await hook(ctx)
        except Exception:  # shutdown must go on
            log.exception("shutdown hook failed")
