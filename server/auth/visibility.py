"""The tenant rule: which studies a principal sees, and what it may do to them.

One rule, one place, as SQLAlchemy expressions every query of the archive puts into its
``WHERE`` (QIDO, WADO-RS, WADO-URI, STOW, DELETE, the analysis queue, the reading workflow):

- an administrator sees every study;
- a share principal (``share_study_uid`` set) sees exactly that study, read-only;
- anyone else sees the studies of its institution plus those a live ``study_grant`` row
  (``server.db.access``; ``expires_at`` unset or in the future) grants to its institution.

A study outside the rule is answered exactly like one that does not exist (404). What a caller
may *do* with what it sees (store, delete, act on the analysis queue) is the ``Action`` table
below; refusing an action is a 403 that never depends on whether the study exists.

Caches that hold rows by study UID (series instance tables, pixel row lists) check
``ensure_visible`` before serving an entry; that decision is kept a few seconds per principal
and study (``ProcessMemory.visibility``), so a revoked grant takes effect within ``DECISION_TTL``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, exists, literal, or_, select, true
from sqlmodel import col

from dicomweb.errors import NotFound
from server.app_errors import Forbidden
from server.auth.principal import AuthMethod, Principal, Role, Scope
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


# -- what a principal may do ---------------------------------------------------------------------


class Action(StrEnum):
    READ = "read"  # QIDO, WADO, reports: every authenticated principal, on what it sees
    STORE = "store"  # STOW-RS, uploads
    DELETE = "delete"  # DELETE of studies, series, instances
    ANALYSE = "analyse"  # the analysis queue: parameters, start, cancel, re-run, diagnosis, store report


R = Role
# Roles allowed each action, and the credential scope it needs (a token carries fewer scopes).
ACTIONS: dict[Action, tuple[frozenset[Role], frozenset[Scope]]] = {
    Action.READ: (frozenset(Role), frozenset({Scope.READ, Scope.WRITE, Scope.ADMIN})),
    Action.STORE: (
        frozenset({R.ADMIN, R.INSTITUTION_ADMIN, R.TECHNOLOGIST, R.REQUESTING_DOCTOR, R.REPORTING_DOCTOR}),
        frozenset({Scope.STOW, Scope.WRITE}),
    ),
    Action.DELETE: (frozenset({R.ADMIN, R.INSTITUTION_ADMIN}), frozenset({Scope.WRITE})),
    Action.ANALYSE: (
        frozenset({R.ADMIN, R.INSTITUTION_ADMIN, R.TECHNOLOGIST, R.REQUESTING_DOCTOR, R.REPORTING_DOCTOR,
                   R.REVIEWER}),
        frozenset({Scope.WRITE}),
    ),
}


def may(p: Principal, action: Action) -> bool:
    roles, scopes = ACTIONS[action]
    if p.is_share and action is not Action.READ:
        return False
    return p.role in roles and bool(p.scopes & scopes)


def require(p: Principal, action: Action) -> None:
    """``Forbidden`` (403) unless ``p`` may perform ``action`` (whatever the study: no existence leak)."""
    if not may(p, action):
        raise Forbidden(f"your account may not {action.value} here (role {p.role.value})")


def system_principal(institution_id: int) -> Principal:
    """The server's own work (analysis write-back, sweeps, commands): sees and stores everything;
    new studies are owned by ``institution_id``."""
    return Principal(method=AuthMethod.SYSTEM, institution_id=institution_id, role=Role.ADMIN, username="system")


__all__ = [
    "ACTIONS", "Action", "ensure_visible", "forget_decisions", "may", "require", "study_uid_visible",
    "system_principal", "visible_studies",
]
