"""Who sees a reading request, which side of it a caller is on, and the study grants its routing makes.

Visibility of a request: the caller's institution requested it, reads it or assists with it (an
admin sees all). Sending a request to a superior hospital grants that hospital exactly the linked
studies (``GrantReason.READING_REQUEST``, ``source_id`` = the request id); an assisting hospital is
granted them likewise (``GrantReason.ASSISTANCE``). Cancelling the request removes its grants.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, delete, false, or_, select, true
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth.principal import Principal
from server.auth.visibility import visible_studies
from server.db.access import GrantReason, StudyGrant
from server.db.archive import Institution, Study
from server.db.reading import ReadingRequest, ReadingRequestStudy
from server.reading.states import Party

R = ReadingRequest


def request_visible(p: Principal) -> ColumnElement[bool]:
    """The SQL condition: the caller may see this request."""
    if p.is_admin:
        return true()
    if p.is_share:
        return false()
    inst = p.institution_id
    return or_(
        col(R.requesting_institution_id) == inst,
        col(R.reading_institution_id) == inst,
        col(R.assisting_institution_id) == inst,
    )


def reader_side(p: Principal) -> ColumnElement[bool]:
    """The SQL condition: the caller's institution reads or assists with the request."""
    if p.is_admin:
        return true()
    return or_(col(R.reading_institution_id) == p.institution_id, col(R.assisting_institution_id) == p.institution_id)


def parties_of(p: Principal, req: ReadingRequest) -> frozenset[Party]:
    out = set()
    if p.institution_id == req.requesting_institution_id:
        out.add(Party.REQUESTER)
    if p.institution_id in (req.reading_institution_id, req.assisting_institution_id):
        out.add(Party.READER)
    return frozenset(out)


# The archive's visibility rule lives in one place; reading requests use it as it is.
study_visible = visible_studies


async def ancestors(session: AsyncSession, institution_id: int) -> list[int]:
    """The superior hospitals of ``institution_id``, nearest first (parent links, no cycles)."""
    out: list[int] = []
    current: int | None = institution_id
    while current is not None and len(out) < 32:
        parent = (await session.exec(select(Institution.parent_id).where(col(Institution.id) == current))).scalar()
        if parent is None or parent in out or parent == institution_id:
            break
        out.append(parent)
        current = parent
    return out


async def grant_studies(
    session: AsyncSession, request_id: int, institution_id: int, study_ids: list[int], reason: GrantReason
) -> None:
    if not study_ids:
        return
    have = set(
        (
            await session.exec(
                select(StudyGrant.study_id).where(
                    col(StudyGrant.institution_id) == institution_id,
                    col(StudyGrant.reason) == reason.value,
                    col(StudyGrant.source_id) == request_id,
                )
            )
        ).scalars()
    )
    for sid in study_ids:
        if sid not in have:
            session.add(StudyGrant(study_id=sid, institution_id=institution_id, reason=reason.value,
                                   source_id=request_id))


async def revoke_grants(session: AsyncSession, request_id: int, study_ids: list[int] | None = None) -> None:
    """Remove the grants the request made (all of them, or those of ``study_ids``)."""
    where = and_(
        col(StudyGrant.source_id) == request_id,
        col(StudyGrant.reason).in_([GrantReason.READING_REQUEST.value, GrantReason.ASSISTANCE.value]),
    )
    if study_ids is not None:
        where = and_(where, col(StudyGrant.study_id).in_(study_ids))
    await session.exec(delete(StudyGrant).where(where))


async def route_grants(session: AsyncSession, req: ReadingRequest) -> None:
    """Grant the reading and assisting hospitals the linked studies they do not own."""
    rows = (
        await session.exec(
            select(Study.id, Study.institution_id)
            .join(ReadingRequestStudy, col(ReadingRequestStudy.study_id) == col(Study.id))
            .where(col(ReadingRequestStudy.request_id) == req.id)
        )
    ).all()
    for inst, reason in ((req.reading_institution_id, GrantReason.READING_REQUEST),
                         (req.assisting_institution_id, GrantReason.ASSISTANCE)):
        if inst is None:
            continue
        ids = [sid for sid, owner in rows if owner != inst]
        await grant_studies(session, req.id or 0, inst, ids, reason)
