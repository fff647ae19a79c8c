"""Everything a request handler needs, built once by ``create_app``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from server.settings import Settings
from server.storage import BlobStore


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: BlobStore
    institution_id: int = 1
    # Serialises write transactions of this process on SQLite (None on PostgreSQL).
    write_lock: asyncio.Lock | None = None
    # Optional services attached by feature modules (analysis detector, caches ...).
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.write_lock is None and self.engine.dialect.name == "sqlite":
            self.write_lock = asyncio.Lock()

    def write(self):  # type: ignore[no-untyped-def]
        """``async with ctx.write() as conn``: a write transaction (see ``write_transaction``)."""
        from server.db.engine import write_transaction

        return write_transaction(self.engine, self.write_lock)


@contextlib.asynccontextmanager
async def open_context(settings: Settings) -> AsyncIterator[AppContext]:
    """Engine, blob store and default institution for one process (API, worker or CLI)."""
    from server.db.engine import create_engine, session_factory
    from server.services.lifecycle import ensure_institution
    from server.storage import open_store

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    store = open_store(settings)
    ctx = AppContext(settings=settings, engine=engine, sessions=session_factory(engine), store=store)
    try:
        await ensure_institution(ctx)
        yield ctx
    finally:
        await store.close()
        await engine.dispose()
