"""Live worklists: what changed among the reading requests a caller sees, for the browser's event stream.

Every change of a request is published on the ``reading`` topic of the change bus (this process and,
through PostgreSQL ``LISTEN/NOTIFY``, the others). A stream wakes on it, computes the caller's stamp
(how many requests it sees, their newest change and the sum of their revisions: any lock, save, state
change or new request moves it) and, when the stamp moved, sends the caller's list counts; the page
then reloads the list it shows. The stamp is one aggregate query under the caller's visibility rule.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from server.auth.principal import Principal
from server.context import AppContext
from server.db.changes import READING, Subscription
from server.db.database import aware
from server.db.reading import ReadingRequest
from server.reading import access, worklists

R = ReadingRequest


def subscribe(ctx: AppContext) -> contextlib.AbstractContextManager[Subscription]:
    return ctx.changes.subscribe(READING)


async def stamp(ctx: AppContext, p: Principal) -> str:
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(func.count(), func.max(col(R.updated_at)), func.sum(col(R.revision)))
                                  .where(access.request_visible(p)))).first()
    count, newest, revisions = row if row is not None else (0, None, 0)
    return f"{count}:{aware(newest).isoformat() if newest else ''}:{revisions or 0}"


async def snapshot(ctx: AppContext, p: Principal) -> dict[str, Any]:
    """What one event carries: the caller's stamp and the size of every list."""
    return {"stamp": await stamp(ctx, p), "counts": await worklists.counts(ctx, p)}
