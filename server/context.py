"""Everything a request handler, worker or command needs, built once per process by ``open_context``.

Fields are typed; nothing is attached later under string keys. Feature code that must react to
stored instances (the analysis detector) registers an ``IngestListener`` when its background work
is started from the app's lifespan (``server.app``) or from ``cirrus worker``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db.bootstrap import ensure_institution
from server.db.changes import DELETIONS, ChangeBus
from server.db.database import create_engine, create_sqlite_writer, session_factory, write_transaction
from server.db.lease import ProcessLease
from server.memory import MemoryBudget, ProcessMemory
from server.render_pool import RenderPool
from server.settings import Settings
from server.storage import BlobStore, open_store

T = TypeVar("T")


class IngestListener(Protocol):
    """Called after instances of ``study_uid`` (in ``series_uids``) were committed."""

    async def __call__(self, ctx: AppContext, study_uid: str, series_uids: set[str]) -> None: ...


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: BlobStore
    changes: ChangeBus
    memory: ProcessMemory
    # Decode / render work off the event loop (started at the first render).
    renderer: RenderPool
    # Sessions whose transaction writes (SQLite: BEGIN IMMEDIATE); use them through ``write_session``.
    write_sessions: async_sessionmaker[AsyncSession]
    institution_id: int = 1
    # This process's life as PostgreSQL sees it: intents it records are recoverable once it dies.
    lease: ProcessLease = field(default_factory=lambda: ProcessLease(None, None))
    # Serialises write transactions of this process on SQLite (None on PostgreSQL).
    write_lock: asyncio.Lock | None = None
    ingest_listeners: list[IngestListener] = field(default_factory=list)
    # SQLite: a synchronous engine on the same file for ``run_write`` (None on PostgreSQL).
    sqlite_writer: Engine | None = None

    def __post_init__(self) -> None:
        if self.write_lock is None and self.engine.dialect.name == "sqlite":
            self.write_lock = asyncio.Lock()

    def write(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """``async with ctx.write() as conn``: a write transaction (see ``write_transaction``)."""
        return write_transaction(self.engine, self.write_lock)

    async def run_write(self, body: Callable[[Connection], T]) -> T:
        """``body(conn)`` in one write transaction, its statements written as plain synchronous calls.

        SQLite: the whole transaction in one worker thread on ``sqlite_writer`` (one hand-over
        instead of two per statement; serialised with this process's other writers by the write
        lock, held until the thread is done). PostgreSQL: on an asynchronous connection through
        ``run_sync``."""
        if self.sqlite_writer is None:
            async with self.write() as conn:
                return await conn.run_sync(body)
        async with self.write_lock if self.write_lock is not None else contextlib.nullcontext():
            done = asyncio.ensure_future(asyncio.to_thread(_in_transaction, self.sqlite_writer, body))
            try:
                return await asyncio.shield(done)
            except asyncio.CancelledError:
                # The thread cannot be stopped: keep the lock until its transaction has ended.
                with contextlib.suppress(BaseException):
                    await done
                raise

    @contextlib.asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """An ORM session for work that reads and then writes.

        On SQLite a transaction that reads first and writes later fails at once ("database is
        locked") when another connection wrote in between; this one takes the write lock up front
        (in-process lock + BEGIN IMMEDIATE), so it waits its turn instead.
        """
        async with self.write_lock if self.write_lock is not None else contextlib.nullcontext():
            async with self.write_sessions() as session:
                yield session


def _in_transaction(engine: Engine, body: Callable[[Connection], T]) -> T:
    with engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            return body(conn)


@contextlib.asynccontextmanager
async def open_context(settings: Settings) -> AsyncIterator[AppContext]:
    """Engine, blob store, change bus, caches and default institution for one process."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    sqlite_writer = create_sqlite_writer(settings.resolved_database_url)
    store = open_store(settings)
    changes = ChangeBus(engine)
    memory = ProcessMemory(stow_budget=MemoryBudget(settings.stow_memory_mb * 1024 * 1024))
    changes.on_remote(DELETIONS, memory.forget_all_studies)
    renderer = RenderPool(settings.resolved_render_processes, settings.render_memory_mb * 1024 * 1024)
    lease: ProcessLease | None = None
    try:
        institution_id = await ensure_institution(engine, settings.institution)
        lease = await ProcessLease.acquire(engine)
        await changes.start()
        yield AppContext(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            write_sessions=session_factory(engine.execution_options(sqlite_immediate=True)),
            store=store,
            changes=changes,
            memory=memory,
            renderer=renderer,
            institution_id=institution_id,
            lease=lease,
            sqlite_writer=sqlite_writer,
        )
    finally:
        if sqlite_writer is not None:
            sqlite_writer.dispose()
        if lease is not None:
            await lease.release()
        renderer.close()
        await changes.close()
        await store.close()
        await engine.dispose()
