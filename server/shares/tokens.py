"""Exchanged share tokens: what a ``shr_`` token opens, and its resolver for the auth middleware.

Kept apart from the staff service (``server.shares.service``) so that the authentication layer can
ask it: it reads only the share tables and the study row. A resolved token is trusted for
``CACHE_SECONDS`` in one process; revoking a link clears this process's cache at once and every
other process's within that time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import col
from starlette.requests import HTTPConnection

from server.app_errors import Unauthenticated
from server.auth.principal import AuthMethod, Principal, Role, Scope
from server.context import AppContext
from server.db.archive import Study
from server.db.database import aware, utcnow
from server.db.shares import ShareLink, ShareToken
from server.shares.codes import TOKEN_PREFIX, token_digest

CACHE_SECONDS = 5.0
CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class ShareAccess:
    """What one exchanged token opens."""

    share_id: int
    public_id: str
    study_id: int
    study_uid: str
    series_uid: str | None
    allow_download: bool
    institution_id: int
    expires_at: datetime  # the earlier of the token's and the link's expiry

    @property
    def principal(self) -> Principal:
        return Principal(method=AuthMethod.SHARE, institution_id=self.institution_id, role=Role.READ_ONLY,
                         username=f"share:{self.public_id}", share_id=self.share_id,
                         share_study_uid=self.study_uid, scopes=frozenset({Scope.READ}))


def state_of(link: ShareLink, now: datetime | None = None) -> str:
    if link.revoked_at is not None:
        return "revoked"
    if aware(link.expires_at) <= (now or utcnow()):
        return "expired"
    return "active"


def access_from(link: ShareLink, study_uid: str, expires: datetime) -> ShareAccess:
    return ShareAccess(share_id=link.id or 0, public_id=link.public_id, study_id=link.study_id,
                       study_uid=study_uid, series_uid=link.series_instance_uid,
                       allow_download=link.allow_download, institution_id=link.institution_id,
                       expires_at=expires)


_by_token: dict[str, tuple[float, ShareAccess]] = {}
_by_id: dict[int, tuple[float, ShareAccess]] = {}


def forget_all() -> None:
    """Drop this process's cached decisions (after a revocation)."""
    _by_token.clear()
    _by_id.clear()


def _remember(access: ShareAccess, digest: str | None = None) -> None:
    if len(_by_token) > CACHE_LIMIT or len(_by_id) > CACHE_LIMIT:
        forget_all()
    until = time.monotonic() + CACHE_SECONDS
    _by_id[access.share_id] = (until, access)
    if digest is not None:
        _by_token[digest] = (until, access)


async def access_of(ctx: AppContext, p: Principal) -> ShareAccess | None:
    """The live share behind a share principal (whoever resolved it), or None once it is over."""
    if p.share_id is None:
        return None
    now = utcnow()
    hit = _by_id.get(p.share_id)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1] if aware(hit[1].expires_at) > now else None
    async with ctx.sessions() as session:
        row = (await session.exec(select(ShareLink, Study.study_instance_uid)
                                  .join(Study, col(Study.id) == col(ShareLink.study_id))
                                  .where(col(ShareLink.id) == p.share_id))).first()
    if row is None or state_of(row[0], now) != "active":
        _by_id.pop(p.share_id, None)
        return None
    access = access_from(row[0], row[1], aware(row[0].expires_at))
    _remember(access)
    return access


async def resolve_token(ctx: AppContext, token: str) -> ShareAccess | None:
    """The share a ``shr_`` token opens now, or None (unknown, expired, link revoked or expired)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    digest = token_digest(token)
    now = utcnow()
    hit = _by_token.get(digest)
    if hit is not None and hit[0] > time.monotonic() and hit[1].expires_at > now:
        return hit[1]
    async with ctx.sessions() as session:
        row = (await session.exec(
            select(ShareToken.expires_at, ShareLink, Study.study_instance_uid)
            .join(ShareLink, col(ShareLink.id) == col(ShareToken.share_id))
            .join(Study, col(Study.id) == col(ShareLink.study_id))
            .where(col(ShareToken.token_hash) == digest))).first()
    if row is None:
        _by_token.pop(digest, None)
        return None
    token_expires, link, study_uid = row
    expires = min(aware(token_expires), aware(link.expires_at))
    if link.revoked_at is not None or expires <= now:
        _by_token.pop(digest, None)
        return None
    access = access_from(link, study_uid, expires)
    _remember(access, digest)
    return access


def _bearer(conn: HTTPConnection) -> str | None:
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class ShareResolver:
    """``Authorization: Bearer shr_...``: the token a share link's access code was exchanged for.

    A resolver of the authentication middleware (``server.auth.resolvers``): None for other
    credentials; a ``shr_`` token that is unknown, expired or revoked refuses the request (401).
    """

    async def __call__(self, ctx: AppContext, conn: HTTPConnection) -> Principal | None:
        token = _bearer(conn)
        if token is None or not token.startswith(TOKEN_PREFIX):
            return None
        access = await resolve_token(ctx, token)
        if access is None:
            raise Unauthenticated("the share token has expired or was revoked; enter the access code again")
        return access.principal
