"""A lease on this process's life, for intents (``creating`` rows) another process may recover.

On PostgreSQL each process holds a session-level advisory lock on a random 63-bit key, on one
connection kept open for the process's life; the lock dies with the connection, so with a
``kill -9`` of the process. An intent records the key of the process that made it; another
process that finds the intent in its way asks ``holder_alive``: when the advisory lock can be
taken, no live process holds it and the intent is recovered at once, not after a grace period.

On SQLite there is nothing to do: the writers are this host's processes, and ``cirrus serve``
sweeps half-stored rows before its workers start.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class ProcessLease:
    def __init__(self, key: int | None, conn: AsyncConnection | None) -> None:
        self.key = key
        self._conn = conn

    @classmethod
    async def acquire(cls, engine: AsyncEngine) -> ProcessLease:
        if engine.dialect.name != "postgresql":
            return cls(None, None)
        key = secrets.randbelow(2**62) + 1
        conn = await engine.connect()
        await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        await conn.commit()  # the lock is the session's, not the transaction's
        return cls(key, conn)

    async def release(self) -> None:
        if self._conn is not None:
            await self._conn.close()  # the session ends: its advisory lock with it
            self._conn = None


async def holder_alive(conn: AsyncConnection, key: int) -> bool:
    """Whether a live process holds the lease ``key`` (PostgreSQL; always True elsewhere)."""
    if conn.dialect.name != "postgresql":
        return True
    got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
    if got:
        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        return False
    return True


def holder_alive_sync(conn: Connection, key: int) -> bool:
    """``holder_alive`` inside a synchronous transaction body (``AppContext.run_write``)."""
    if conn.dialect.name != "postgresql":
        return True
    got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
    if got:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        return False
    return True
