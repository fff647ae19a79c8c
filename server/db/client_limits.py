"""Per-client limit counts kept in PostgreSQL, shared by every API process (``server.limits``).

``client_rate`` holds one row per (kind, client): the start of its current fixed window and the
requests counted in it. Counting a request is one upsert that returns the new count; the row stays
locked until the transaction ends, which serialises the requests of that one client (no one else)
while it checks its slots. ``client_slot`` holds the requests in progress per (kind, client, process):
the process is named by its lease key (``server.db.lease``), so the slots of a process that died
(``kill -9``) are found — its advisory lock can be taken — and deleted by the next sweep of any
live process, without a grace period and without waiting for requests that will never end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import BigInteger, Column, String, case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import Field, SQLModel, col

from server.app_errors import TooManyAttempts
from server.db.lease import holder_alive
from server.limits import RATE_WINDOW_SECONDS, ClientLimiter, Clock, Limits, LocalLimiter
from server.settings import Settings

log = logging.getLogger("cirrus.limits")

SWEEP_SECONDS = 30.0


class ClientRate(SQLModel, table=True):
    __tablename__ = "client_rate"

    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    client: str = Field(sa_column=Column(String(200), primary_key=True))
    window_start: int = Field(sa_column=Column(BigInteger, nullable=False))
    count: int = Field(default=0)


class ClientSlot(SQLModel, table=True):
    __tablename__ = "client_slot"

    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    client: str = Field(sa_column=Column(String(200), primary_key=True))
    lease_key: int = Field(sa_column=Column(BigInteger, primary_key=True))
    held: int = Field(default=0)


class SharedLimiter:
    """The counts in PostgreSQL (``server.limits.ClientLimiter``)."""

    def __init__(self, limits: Limits, engine: AsyncEngine, lease_key: int, clock: Clock = time.time) -> None:
        self.limits = limits
        self.engine = engine
        self.lease_key = lease_key
        self.clock = clock
        self._sweeper: asyncio.Task[None] | None = None

    def _limited(self, kind: str) -> tuple[int, int]:
        return self.limits.per_minute.get(kind, 0), self.limits.concurrency.get(kind, 0)

    async def acquire(self, kind: str, key: str) -> None:
        per_minute, concurrency = self._limited(kind)
        if not per_minute and not concurrency:
            return
        now = self.clock()
        window = self.limits.window_of(now)
        counted = pg_insert(ClientRate).values(kind=kind, client=key, window_start=window, count=1)
        same_window = col(ClientRate.window_start) == counted.excluded.window_start
        counted = counted.on_conflict_do_update(
            index_elements=["kind", "client"],
            # the same window: one more; a new window: this is its first request
            set_={"count": case((same_window, col(ClientRate.count) + 1), else_=1),
                  "window_start": counted.excluded.window_start},
        ).returning(col(ClientRate.count))
        refusal: TooManyAttempts | None = None
        async with self.engine.begin() as conn:  # refusals count too: hammering does not get through sooner
            count = (await conn.execute(counted)).scalar_one()
            if per_minute and count > per_minute:
                refusal = self.limits.rate_refusal(kind, window + RATE_WINDOW_SECONDS, now)
            elif concurrency:
                refusal = await self._take_slot(conn, kind, key, concurrency)
        if refusal is not None:
            raise refusal

    async def _take_slot(self, conn: AsyncConnection, kind: str, key: str, concurrency: int) -> TooManyAttempts | None:
        """One more slot of this process, or the refusal (the client's ``client_rate`` row is locked)."""
        slots = (await conn.execute(
            select(col(ClientSlot.lease_key), col(ClientSlot.held))
            .where(col(ClientSlot.kind) == kind, col(ClientSlot.client) == key))).all()
        if sum(h for _, h in slots) >= concurrency:
            # Before refusing: slots of a process that died are not in progress (its lock is free).
            dead = [k for k, h in slots if k != self.lease_key and h > 0 and not await holder_alive(conn, k)]
            if dead:
                await conn.execute(delete(ClientSlot).where(col(ClientSlot.lease_key).in_(dead)))
                log.info("gave back the request slots of %d process(es) that ended", len(dead))
            if sum(h for k, h in slots if k not in dead) >= concurrency:
                return self.limits.concurrency_refusal(kind)
        taken = pg_insert(ClientSlot).values(kind=kind, client=key, lease_key=self.lease_key, held=1)
        await conn.execute(taken.on_conflict_do_update(
            index_elements=["kind", "client", "lease_key"], set_={"held": col(ClientSlot.held) + 1}))
        return None

    async def release(self, kind: str, key: str) -> None:
        if not self.limits.concurrency.get(kind, 0):
            return
        async with self.engine.begin() as conn:
            await conn.execute(update(ClientSlot).where(
                col(ClientSlot.kind) == kind, col(ClientSlot.client) == key,
                col(ClientSlot.lease_key) == self.lease_key, col(ClientSlot.held) > 0,
            ).values(held=col(ClientSlot.held) - 1))

    async def in_progress(self, kind: str, key: str) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(
                select(func.coalesce(func.sum(col(ClientSlot.held)), 0))
                .where(col(ClientSlot.kind) == kind, col(ClientSlot.client) == key))).scalar_one())

    async def sweep(self) -> int:
        """Delete the slots of processes that are gone, empty slots and past windows; the slots deleted."""
        async with self.engine.begin() as conn:
            keys = (await conn.execute(select(col(ClientSlot.lease_key)).distinct()
                                       .where(col(ClientSlot.lease_key) != self.lease_key))).scalars().all()
            dead = [k for k in keys if not await holder_alive(conn, k)]
            gone = 0
            if dead:
                gone = (await conn.execute(delete(ClientSlot).where(col(ClientSlot.lease_key).in_(dead)))).rowcount
                log.info("gave back %d request slot(s) of %d process(es) that ended", gone, len(dead))
            await conn.execute(delete(ClientSlot).where(col(ClientSlot.held) <= 0))
            past = self.limits.window_of(self.clock()) - RATE_WINDOW_SECONDS
            await conn.execute(delete(ClientRate).where(col(ClientRate.window_start) < past))
        return int(gone or 0)

    async def start(self) -> None:
        await self.sweep()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="client-limit-sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        with contextlib.suppress(Exception):  # this process's own slots: nothing of it runs any more
            async with self.engine.begin() as conn:
                await conn.execute(delete(ClientSlot).where(col(ClientSlot.lease_key) == self.lease_key))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception as exc:  # the database is away for a moment: the next sweep tries again
                log.warning("sweeping client limit slots failed: %s", exc)


def limiter_for(settings: Settings, engine: AsyncEngine, lease_key: int | None) -> ClientLimiter:
    """Shared counts on PostgreSQL (unless ``limits_shared=process``), this process's elsewhere."""
    limits = Limits.from_settings(settings)
    shared = settings.limits_shared == "database" or (
        settings.limits_shared == "auto" and engine.dialect.name == "postgresql")
    if shared and engine.dialect.name == "postgresql" and lease_key is not None:
        return SharedLimiter(limits, engine, lease_key)
    return LocalLimiter(limits)
