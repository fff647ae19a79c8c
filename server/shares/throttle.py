"""Lockout after repeated wrong access codes, per share link and per client address.

State lives in the database (``share_throttle``) so that every API process of a deployment
counts the same failures. Failures are counted in a window of ``WINDOW``; the ``MAX_FAILURES``-th
wrong code in a window locks the key for ``LOCKOUT``. A right code clears the link's count but not
the address's, so a caller holding one valid code cannot use it to keep guessing other links.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db.database import aware
from server.db.shares import ShareThrottle

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class Lock:
    key: str
    retry_after: int  # seconds


def link_key(share_id: int) -> str:
    return f"link:{share_id}"


def address_key(address: str) -> str:
    return f"addr:{address[:100]}"


async def _row(session: AsyncSession, key: str, now: datetime) -> ShareThrottle:
    """The key's row, created if missing and locked for update (PostgreSQL; SQLite writes serially)."""
    values = {"key": key, "failures": 0, "window_started_at": now, "locked_until": None}
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.exec(insert(ShareThrottle).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    q = select(ShareThrottle).where(col(ShareThrottle.key) == key).with_for_update()
    return (await session.exec(q)).scalar_one()


def _locked(row: ShareThrottle | None, now: datetime) -> int:
    if row is None or row.locked_until is None:
        return 0
    left = (aware(row.locked_until) - now).total_seconds()
    return int(left) + 1 if left > 0 else 0


async def locked(session: AsyncSession, keys: list[str], now: datetime) -> Lock | None:
    """The first of ``keys`` that is locked now, with the seconds left."""
    q = select(ShareThrottle).where(col(ShareThrottle.key).in_(keys))
    rows = {r.key: r for r in (await session.exec(q)).scalars()}
    for key in keys:
        left = _locked(rows.get(key), now)
        if left:
            return Lock(key, left)
    return None


async def fail(session: AsyncSession, key: str, now: datetime) -> tuple[int, Lock | None]:
    """Count one wrong code for ``key``: (attempts left in the window, the lock it caused)."""
    row = await _row(session, key, now)
    if now - aware(row.window_started_at) > WINDOW or (row.locked_until and aware(row.locked_until) <= now):
        row.failures, row.window_started_at, row.locked_until = 0, now, None
    row.failures += 1
    lock = None
    if row.failures >= MAX_FAILURES:
        row.locked_until = now + LOCKOUT
        lock = Lock(key, int(LOCKOUT.total_seconds()))
    session.add(row)
    return max(0, MAX_FAILURES - row.failures), lock


async def clear(session: AsyncSession, key: str) -> None:
    row = await session.get(ShareThrottle, key)
    if row is not None:
        await session.delete(row)
