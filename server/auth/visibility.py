"""The tenant rule: which studies a principal sees, and what it may do to them.

One rule, one place, as SQLAlchemy expressions every query of the archive puts into its
``WHERE`` (QIDO, WADO-RS, WADO-URI, STOW, DELETE, the analysis queue, the reading workflow):

- an administrator sees every study;
- a share principal (``share_study_uid`` set) sees exactly that study, read-only;
- anyone else sees the studies of its institution plus those a live ``study_grant`` row
  (``server.db.access``; ``expires_at`` unset or in the future) grants to its institution.

A study outside the rule is answered exactly like one that does not exist (404). What a caller
may *do* (store, delete, act on the analysis queue) is decided by role and scope before any route
runs (``server.auth.rules``), so that 403 never depends on whether a study exists.

Caches that hold rows by study UID (series instance tables, pixel row lists) check
``ensure_visible`` before serving an entry; that decision is kept a few seconds per principal
and study (``ProcessMemory.visibility``), so a revoked grant takes effect within ``DECISION_TTL``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, literal, or_, select, true
from sqlmodel import col

from dicomweb.errors import NotFound
from server.auth.principal import AuthMethod, Principal, Role
from server.context import AppContext
from server.db.access import StudyGrant
from server.db.archive import Study
from server.db.database import utcnow


def visible_studies(p: Principal, now: datetime | None = None) -> ColumnElement[bool]:
    """The rule over the ``study`` row of the enclosing query."""
    if p.is_admin:
        return true()
    if p.is_share:
        return col(Study.study_instance_uid) == p.share_study_uid
    now = now or utcnow()
    granted = exists().where(
        col(StudyGrant.study_id) == col(Study.id),
        col(StudyGrant.institution_id) == p.institution_id,
        or_(col(StudyGrant.expires_at).is_(None), col(StudyGrant.expires_at) > now),
    )
    return or_(col(Study.institution_id) == p.institution_id, granted)


def study_uid_visible(p: Principal, study_uid: Any) -> ColumnElement[bool]:
    """The rule for rows that name their study by UID (analysis jobs): such a study exists and is
    visible. ``study_uid`` is a column of the enclosing query or a value."""
    if p.is_admin:
        return true()
    return exists(select(literal(1)).where(col(Study.study_instance_uid) == study_uid, visible_studies(p)))


async def ensure_visible(ctx: AppContext, p: Principal, study_uid: str) -> None:
    """``NotFound`` unless ``study_uid`` is visible to ``p``: the check before a cached entry is served."""
    if p.is_admin:
        return
    if p.is_share:
        if study_uid != p.share_study_uid:
            raise NotFound(f"no study {study_uid}")
        return
    key = (p.institution_id, study_uid)
    decisions = ctx.memory.visibility
    seen = decisions.get(key)
    if seen is None:
        stmt = select(literal(1)).select_from(Study).where(
            col(Study.study_instance_uid) == study_uid, visible_studies(p)
        )
        async with ctx.engine.connect() as conn:
            seen = (await conn.execute(stmt)).first() is not None
        decisions.put(key, seen)
    if not seen:
        raise NotFound(f"no study {study_uid}")


def forget_decisions(ctx: AppContext) -> None:
    """Drop the cached visibility decisions (after a grant changes in this process)."""
    ctx.memory.visibility.evict_where(lambda _key: True)


def system_principal(institution_id: int) -> Principal:
    """The server's own work (analysis write-back, sweeps, commands): sees and stores everything;
    new studies are owned by ``institution_id``."""
    return Principal(method=AuthMethod.SYSTEM, institution_id=institution_id, role=Role.ADMIN, username="system")


__all__ = ["ensure_visible", "forget_decisions", "study_uid_visible", "system_principal", "visible_studies"]
