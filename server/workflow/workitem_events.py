"""The UPS event log: record events in the transaction that caused them, read them in order.

Every event gets the next ``seq`` of ``workitem_event``. On PostgreSQL a transaction-level
advisory lock is taken before the insert, so sequence numbers are handed out in commit order
(a reader that has seen N never finds N-1 committed later); SQLite has one writer anyway.
After the commit, ``publish`` wakes the WebSocket senders of every process through the change
bus (PostgreSQL ``NOTIFY``; SQLite: the bus's signal files, and the senders re-read the table
at least once a second).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import func, insert, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel import select as model_select

from dicomweb.ups import events as ev
from server.auth.principal import Principal
from server.auth.visibility import study_uid_visible
from server.context import AppContext
from server.db.changes import WORKITEMS, Subscription
from server.db.workitems import WorkitemEvent

E = WorkitemEvent
log = logging.getLogger("cirrus.workitems")
EVENT_LOCK_KEY = 0x5550_5345  # "UPSE": the advisory lock that orders event sequence numbers


async def record(conn: AsyncConnection, *, workitem_uid: str, institution_id: int, study_uid: str,
                 event_type: int, report: dict[str, Any], snapshot: dict[str, Any]) -> int:
    """Insert one event in ``conn``'s transaction; its sequence number."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENT_LOCK_KEY})
    stmt = insert(E).values(workitem_uid=workitem_uid, institution_id=institution_id, study_instance_uid=study_uid,
                            event_type=event_type, report=report, snapshot=snapshot).returning(E.seq)
    return int((await conn.execute(stmt)).scalar_one())


def subscribe(ctx: AppContext) -> AbstractContextManager[Subscription]:
    """A subscription woken whenever any process records workitem events (a context manager)."""
    return ctx.changes.subscribe(WORKITEMS)


def publish(ctx: AppContext) -> None:
    ctx.changes.publish(WORKITEMS)


def event_visible(p: Principal) -> Any:
    """The tenant rule for an event: its workitem's institution, or a study the caller sees; an SCP
    Status Change concerns no workitem and reaches every subscriber."""
    if p.is_admin:
        return true()
    return or_(col(E.institution_id) == p.institution_id, study_uid_visible(p, col(E.study_instance_uid)),
               col(E.event_type) == ev.SCP_STATUS_CHANGE)


async def record_status(ctx: AppContext, status: str) -> None:
    """An SCP Status Change event (PS3.4 CC.2.4.2): ``RESTARTED`` when a serving process starts, ``GOING
    DOWN`` when it stops. Subscriptions and workitems are in the database, so both lists are a WARM START."""
    report = ev.scp_status_change(status)
    async with ctx.write() as conn:
        await record(conn, workitem_uid=ev.GLOBAL_INSTANCE, institution_id=0, study_uid="",
                     event_type=ev.SCP_STATUS_CHANGE, report=report, snapshot={})
    publish(ctx)


async def events_after(ctx: AppContext, p: Principal, since: int, limit: int = 500) -> list[WorkitemEvent]:
    stmt = model_select(E).where(col(E.seq) > since, event_visible(p)).order_by(col(E.seq)).limit(limit)
    async with ctx.sessions() as s:
        return list((await s.exec(stmt)).all())


async def last_seq(ctx: AppContext) -> int:
    async with ctx.engine.connect() as conn:
        return int((await conn.execute(select(func.coalesce(func.max(E.seq), 0)))).scalar_one())


@contextlib.asynccontextmanager
async def status_reported(ctx: AppContext) -> AsyncIterator[None]:
    """RESTARTED on entry, GOING DOWN on exit; a database that refuses is logged, never fatal."""
    await _try_status(ctx, "RESTARTED")
    try:
        yield
    finally:
        await _try_status(ctx, "GOING DOWN")


async def _try_status(ctx: AppContext, status: str) -> None:
    try:
        await record_status(ctx, status)
    except Exception:
        log.warning("recording the UPS SCP Status Change %s failed", status, exc_info=True)
