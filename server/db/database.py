"""Async engine and session factory for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine_of_url
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def utcnow() -> datetime:
    """The time stamp every row carries (timezone-aware UTC)."""
    return datetime.now(UTC)


def aware(dt: datetime) -> datetime:
    """A stored time stamp as aware UTC (SQLite gives them back naive)."""
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_setup(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)


def create_sqlite_writer(url: str) -> Engine | None:
    """A synchronous engine on the same SQLite file (None for other databases).

    Hot write transactions (ingest) run on it in one worker thread, as one call: through the
    asynchronous driver every statement is a round trip between the event loop and the driver's
    thread, and on a loaded machine each of those waits for the scheduler."""
    if not is_sqlite(url):
        return None
    engine = create_sync_engine_of_url(make_url(url).set(drivername="sqlite"), connect_args={"timeout": 30})
    _sqlite_setup(engine)
    return engine


def _sqlite_setup(engine: Engine) -> None:
    """Pragmas of every connection, and BEGIN emitted by SQLAlchemy (IMMEDIATE for writers)."""

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
        # SQLAlchemy emits BEGIN itself (below), so a write transaction can take the lock up front.
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        # BEGIN IMMEDIATE for writers: a deferred read-then-write transaction fails with
        # "database is locked" when another process wrote in between, instead of waiting.
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@contextlib.asynccontextmanager
async def write_transaction(engine: AsyncEngine, lock: asyncio.Lock | None) -> AsyncIterator[AsyncConnection]:
    """A write transaction; on SQLite serialised in-process and begun IMMEDIATE.

    SQLite has one writer at a time. Without the in-process lock, concurrent requests of one
    process wait in SQLite's busy handler, which sleeps in steps of up to 100 ms.
    """
    async with lock if lock is not None else contextlib.nullcontext():
        async with engine.connect() as conn:
            if is_sqlite(str(engine.url)):
                conn = await conn.execution_options(sqlite_immediate=True)
            async with conn.begin():
                yield conn
