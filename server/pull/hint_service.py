"""RIS/HIS order hints as stored (``PullHint``): the upload, the list, and the look-up a poll makes.

An upload belongs to the uploader's institution (its rules use it); ``replace`` drops that
institution's earlier orders first (a daily feed), otherwise orders are added or updated by their
(accession number, patient id). Institution administrators see and upload their institution's only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, or_
from sqlmodel import col, func, select

from server.auth.principal import Principal, Role
from server.context import AppContext
from server.db.database import utcnow
from server.db.pull import PullHint
from server.pull.hints import Order, find_order


def hint_json(h: PullHint) -> dict[str, Any]:
    return {"id": h.id, "accession_number": h.accession_number, "patient_id": h.patient_id,
            "body_part": h.body_part, "priority": h.priority, "uploaded_by": h.uploaded_by,
            "uploaded_at": h.uploaded_at.isoformat()}


async def upload(ctx: AppContext, principal: Principal, orders: list[Order], replace: bool) -> dict[str, Any]:
    institution = principal.institution_id
    added = updated = 0
    async with ctx.write_session() as session:
        if replace:
            await session.exec(delete(PullHint).where(col(PullHint.institution_id) == institution))  # type: ignore[call-overload]
        existing = {(h.accession_number, h.patient_id): h for h in (await session.exec(
            select(PullHint).where(PullHint.institution_id == institution))).all()}
        now, who = utcnow(), principal.username or ""
        for order in orders:
            row = existing.get((order.accession_number, order.patient_id))
            if row is None:
                row = PullHint(institution_id=institution, accession_number=order.accession_number,
                               patient_id=order.patient_id)
                existing[(order.accession_number, order.patient_id)] = row
                added += 1
            else:
                updated += 1
            row.body_part, row.priority, row.uploaded_by, row.uploaded_at = order.body_part, order.priority, who, now
            session.add(row)
        await session.commit()
        total = (await session.exec(select(func.count()).select_from(PullHint)
                                    .where(PullHint.institution_id == institution))).one()
    return {"added": added, "updated": updated, "replaced": replace, "total": int(total)}


def _tenant(query: Any, principal: Principal) -> Any:
    return query if principal.role == Role.ADMIN else query.where(PullHint.institution_id == principal.institution_id)


async def listing(ctx: AppContext, principal: Principal, limit: int = 500) -> tuple[list[PullHint], int]:
    async with ctx.sessions() as session:
        query = _tenant(select(PullHint), principal).order_by(col(PullHint.uploaded_at).desc(), col(PullHint.id))
        rows = list((await session.exec(query.limit(limit))).all())
        total = (await session.exec(_tenant(select(func.count()).select_from(PullHint), principal))).one()
    return rows, int(total)


def _matching(accession: str, patient_id: str) -> Any:
    terms = []
    if accession:
        terms.append(PullHint.accession_number == accession)
    if patient_id:
        terms.append(and_(PullHint.accession_number == "", PullHint.patient_id == patient_id))
    return or_(*terms) if terms else None


async def orders_for(ctx: AppContext, accession: str, patient_id: str) -> dict[int, Order]:
    """The order of a study per institution that uploaded one (by accession, else patient id)."""
    where = _matching(accession, patient_id)
    if where is None:
        return {}
    async with ctx.sessions() as session:
        rows = (await session.exec(select(PullHint).where(where))).all()
    by_institution: dict[int, list[Order]] = {}
    for h in rows:
        by_institution.setdefault(h.institution_id, []).append(
            Order(h.accession_number, h.patient_id, h.body_part, h.priority))
    found = {inst: find_order(orders, accession, patient_id) for inst, orders in by_institution.items()}
    return {inst: order for inst, order in found.items() if order is not None}


async def orders_seen(ctx: AppContext, principal: Principal, accession: str, patient_id: str) -> list[dict[str, Any]]:
    """The orders "why not" shows: those of the caller's institution (all, for the alliance admin)."""
    where = _matching(accession, patient_id)
    if where is None:
        return []
    async with ctx.sessions() as session:
        rows = (await session.exec(_tenant(select(PullHint).where(where), principal).order_by(col(PullHint.id)))).all()
    return [hint_json(h) for h in rows]
