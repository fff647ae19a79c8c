"""Saved worklist filter sets, one list per user: a name and the worklist's query parameters.

The parameters are checked with the worklist's own parser (``worklists.parse_filter``) before they
are stored, so a saved set always opens; paging and the time zone are not part of a set.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlmodel import col

from server.app_errors import InvalidInput, NotFoundError, StateConflict
from server.auth.principal import Principal
from server.context import AppContext
from server.db.database import aware, utcnow
from server.db.reading import SavedFilter
from server.reading.worklists import parse_filter

F = SavedFilter
KEPT = ("list", "state", "preset", "from", "to", "digit", "requesting", "q", "exact")
PER_USER = 50


def owner_of(p: Principal) -> str:
    return f"user:{p.user_id}" if p.user_id is not None else f"user:{p.username}"


def _json(row: SavedFilter) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "filters": dict(row.filters),
            "created_at": aware(row.created_at).isoformat()}


def parse_saved(body: dict[str, Any]) -> tuple[str, dict[str, str]]:
    unknown = set(body) - {"name", "filters"}
    if unknown:
        raise InvalidInput(f"unknown field {sorted(unknown)[0]!r} (a saved filter has name and filters)")
    name = body.get("name")
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 64:
        raise InvalidInput("name must be a text of 1 to 64 characters")
    filters = body.get("filters")
    if not isinstance(filters, dict) or not all(isinstance(v, str) for v in filters.values()):
        raise InvalidInput("filters must be an object of texts (the worklist's query parameters)")
    extra = sorted(set(filters) - set(KEPT))
    if extra:
        raise InvalidInput(f"filters: {extra[0]!r} is not kept in a saved set (kept: {', '.join(KEPT)})")
    parse_filter({k: v for k, v in filters.items() if v != ""})  # a 400 naming the bad parameter
    return name.strip(), {k: v for k, v in filters.items() if v != ""}


async def list_saved(ctx: AppContext, p: Principal) -> list[dict[str, Any]]:
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(select(F).where(col(F.owner) == owner_of(p)).order_by(col(F.name)))).all()
    return [_json(SavedFilter.model_validate(dict(r._mapping))) for r in rows]


async def save(ctx: AppContext, p: Principal, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Store a set under its name (the same name again replaces it); the set and whether it is new."""
    name, filters = parse_saved(body)
    owner = owner_of(p)
    async with ctx.write() as conn:
        existing = (await conn.execute(select(F.id).where(col(F.owner) == owner, col(F.name) == name))).first()
        if existing is not None:
            await conn.execute(F.__table__.update().where(col(F.id) == existing[0])  # type: ignore[attr-defined]
                               .values(filters=filters))
            fid, created = existing[0], False
        else:
            count = (await conn.execute(select(func.count()).select_from(F).where(col(F.owner) == owner))).scalar()
            if (count or 0) >= PER_USER:
                raise StateConflict(f"at most {PER_USER} saved filter sets per user; delete one first")
            fid = (await conn.execute(insert(F).values(owner=owner, name=name, filters=filters, created_at=utcnow())
                                      .returning(col(F.id)))).scalar()
            created = True
        row = (await conn.execute(select(F).where(col(F.id) == fid))).first()
    assert row is not None
    return _json(SavedFilter.model_validate(dict(row._mapping))), created


async def remove(ctx: AppContext, p: Principal, filter_id: int) -> None:
    async with ctx.write() as conn:
        done = await conn.execute(delete(F).where(col(F.id) == filter_id, col(F.owner) == owner_of(p)))
    if not done.rowcount:
        raise NotFoundError(f"no saved filter set {filter_id} of yours")
