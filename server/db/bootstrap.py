"""Rows every database needs before the first request: the default owning institution."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.archive import Institution
from server.db.database import utcnow


async def ensure_institution(engine: AsyncEngine, name: str) -> int:
    """Id of the institution called ``name``, created once (several processes may start at once)."""
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    async with engine.begin() as conn:
        await conn.execute(
            insert(Institution).values(name=name, created_at=utcnow()).on_conflict_do_nothing(index_elements=["name"])
        )
        row_id = (await conn.execute(select(Institution.id).where(Institution.name == name))).scalar_one()
    return int(row_id)
