"""Share links: create, list and revoke (staff of the owning institution), exchange a code for a
token (the patient), and resolve a token to the share's principal.

Staff calls take the caller's ``Principal``; the study must be visible to it (404 otherwise, like
any other tenant's study) and owned by its institution (an admin may share any study). The code is
returned once by ``create_share`` and only its hash is kept.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import col

from server.app_errors import Forbidden, Gone, InvalidInput, LockedOut, NotFoundError, TooManyAttempts
from server.auth.principal import Principal, Role, Scope
from server.auth.visibility import forget_decisions
from server.context import AppContext
from server.db.archive import Series, Study
from server.db.database import aware, utcnow
from server.db.shares import ShareLink, ShareToken
from server.reading.access import study_visible
from server.shares import codes, throttle, tokens
from server.shares.tokens import ShareAccess, access_from, state_of

MAX_DAYS = 90
TOKEN_TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class ShareInput:
    expires_at: datetime
    code_kind: codes.CodeKind
    allow_download: bool
    series_uid: str | None


def parse_create(body: dict[str, Any], now: datetime | None = None) -> ShareInput:
    now = now or utcnow()
    days, until = body.get("expires_in_days"), body.get("expires_at")
    if until is not None:
        if not isinstance(until, str):
            raise InvalidInput("expires_at must be an ISO 8601 date-time")
        try:
            expires = aware(datetime.fromisoformat(until.replace("Z", "+00:00")))
        except ValueError:
            raise InvalidInput(f"expires_at: {until[:40]!r} is not an ISO 8601 date-time") from None
    elif days is not None:
        if not isinstance(days, int | float) or isinstance(days, bool) or days <= 0:
            raise InvalidInput("expires_in_days must be a positive number of days")
        expires = now + timedelta(days=float(days))
    else:
        raise InvalidInput("a share link needs an expiry: give expires_in_days or expires_at")
    if expires <= now:
        raise InvalidInput("expires_at must be in the future")
    if expires > now + timedelta(days=MAX_DAYS, minutes=1):
        raise InvalidInput(f"a share link may last at most {MAX_DAYS} days")
    kind = body.get("code_kind", "digits")
    if kind not in set(codes.CodeKind):
        raise InvalidInput(f"code_kind must be one of {', '.join(codes.CodeKind)}, got {str(kind)[:20]!r}")
    allow = body.get("allow_download", False)
    if not isinstance(allow, bool):
        raise InvalidInput("allow_download must be true or false")
    series = body.get("series_uid")
    if series is not None and (not isinstance(series, str) or not series or len(series) > 64):
        raise InvalidInput("series_uid must be a series instance UID")
    return ShareInput(expires, codes.CodeKind(kind), allow, series)


def _staff(p: Principal) -> None:
    if p.is_share:
        raise NotFoundError("no such resource")
    if p.role is Role.READ_ONLY or not (p.may(Scope.WRITE) or p.is_admin):
        raise Forbidden("sharing a study needs a role and token that may change data")


async def _owned_study(session: Any, p: Principal, study_uid: str) -> Study:
    study = (await session.exec(
        select(Study).where(col(Study.study_instance_uid) == study_uid, study_visible(p)))).scalar()
    if study is None:
        raise NotFoundError(f"no study {study_uid}")
    if not p.is_admin and study.institution_id != p.institution_id:
        raise Forbidden("only the institution that owns a study may share it")
    return study


async def create_share(ctx: AppContext, p: Principal, study_uid: str, inp: ShareInput) -> tuple[ShareLink, str]:
    """A new link and its access code (the only time the code is seen)."""
    _staff(p)
    code = codes.new_code(inp.code_kind)
    code_hash = await asyncio.to_thread(codes.hash_code, code)
    async with ctx.write_session() as session:
        study = await _owned_study(session, p, study_uid)
        if inp.series_uid is not None:
            found = (await session.exec(select(Series.id).where(
                col(Series.study_id) == study.id, col(Series.series_instance_uid) == inp.series_uid))).scalar()
            if found is None:
                raise InvalidInput(f"series {inp.series_uid} is not a series of study {study_uid}")
        link = ShareLink(public_id=codes.new_public_id(), study_id=study.id or 0, series_instance_uid=inp.series_uid,
                         institution_id=study.institution_id, created_by_user_id=p.user_id,
                         created_by_name=p.username, code_kind=inp.code_kind.value, code_hash=code_hash,
                         allow_download=inp.allow_download, expires_at=inp.expires_at)
        session.add(link)
        await session.commit()
        await session.refresh(link)
    return link, code


async def list_shares(ctx: AppContext, p: Principal, study_uid: str) -> list[ShareLink]:
    _staff(p)
    async with ctx.sessions() as session:
        study = await _owned_study(session, p, study_uid)
        return list((await session.exec(select(ShareLink).where(col(ShareLink.study_id) == study.id)
                                        .order_by(col(ShareLink.id).desc()))).scalars())


async def staff_link(ctx: AppContext, p: Principal, public_id: str) -> tuple[ShareLink, str]:
    """A link the caller's institution owns, and its study UID (404 for anyone else's)."""
    _staff(p)
    async with ctx.sessions() as session:
        row = (await session.exec(select(ShareLink, Study.study_instance_uid)
                                  .join(Study, col(Study.id) == col(ShareLink.study_id))
                                  .where(col(ShareLink.public_id) == public_id))).first()
    if row is None or not (p.is_admin or row[0].institution_id == p.institution_id):
        raise NotFoundError(f"no share link {public_id[:40]}")
    return row[0], row[1]


async def revoke_share(ctx: AppContext, p: Principal, public_id: str) -> ShareLink:
    link, _ = await staff_link(ctx, p, public_id)
    async with ctx.write_session() as session:
        if link.revoked_at is None:
            await session.exec(update(ShareLink).where(col(ShareLink.id) == link.id).values(revoked_at=utcnow()))
        await session.exec(delete(ShareToken).where(col(ShareToken.share_id) == link.id))
        await session.commit()
        fresh = await session.get(ShareLink, link.id)
    tokens.forget_all()
    forget_decisions(ctx)
    assert fresh is not None
    return fresh


def _over(link: ShareLink, now: datetime) -> None:
    state = state_of(link, now)
    if state != "active":
        raise Gone(f"this share link has {'been revoked' if state == 'revoked' else 'expired'}")


def _wait(seconds: int) -> str:
    return f"{(seconds + 59) // 60} min"


@dataclass
class ExchangeAttempt:
    """What one code exchange was about and why it failed, filled in as it runs (for the audit log:
    the route records it whatever the outcome)."""

    share_id: int | None = None
    study_uid: str = ""
    reason: str = ""  # empty on success; "malformed code", "no such link", "revoked", "expired",
    # "wrong code", "locked" (the link), "throttled" (the client address)


async def exchange(ctx: AppContext, public_id: str, typed: str, address: str,
                   attempt: ExchangeAttempt | None = None) -> tuple[str, ShareAccess]:
    """The access code for a short-lived bearer token bound to the link's study."""
    attempt = attempt if attempt is not None else ExchangeAttempt()
    if not isinstance(typed, str) or not typed.strip() or len(typed) > 64:
        attempt.reason = "malformed code"
        raise InvalidInput("code must be the access code printed with the link")
    now = utcnow()
    async with ctx.sessions() as session:
        row = (await session.exec(select(ShareLink, Study.study_instance_uid)
                                  .join(Study, col(Study.id) == col(ShareLink.study_id))
                                  .where(col(ShareLink.public_id) == public_id))).first()
        if row is None:
            attempt.reason = "no such link"
            raise NotFoundError("no such share link")
        link, study_uid = row
        attempt.share_id, attempt.study_uid = link.id, study_uid
        state = state_of(link, now)
        if state != "active":
            attempt.reason = state
        _over(link, now)
        keys = [throttle.link_key(link.id or 0), throttle.address_key(address)]
        lock = await throttle.locked(session, keys, now)
    if lock is not None:
        attempt.reason = _lock_reason(lock)
        _raise_lock(lock)
    ok = await asyncio.to_thread(codes.code_matches, link.code_hash, typed)
    async with ctx.write_session() as session:
        if not ok:
            left_link, lock_link = await throttle.fail(session, keys[0], now)
            left_addr, lock_addr = await throttle.fail(session, keys[1], now)
            await session.commit()
            attempt.reason = "wrong code"
            if lock_link or lock_addr:
                attempt.reason = f"wrong code, {_lock_reason(lock_link or lock_addr)}"  # type: ignore[arg-type]
                _raise_lock(lock_link or lock_addr)  # type: ignore[arg-type]
            raise Forbidden(f"wrong access code ({min(left_link, left_addr)} attempts left)")
        await throttle.clear(session, keys[0])
        token = codes.new_token()
        expires = min(now + TOKEN_TTL, aware(link.expires_at))
        session.add(ShareToken(share_id=link.id or 0, token_hash=codes.token_digest(token), expires_at=expires,
                               client_address=address[:64]))
        await session.exec(update(ShareLink).where(col(ShareLink.id) == link.id).values(last_opened_at=now))
        # Tokens of this link that ran out are of no use to anyone.
        await session.exec(delete(ShareToken).where(col(ShareToken.share_id) == link.id,
                                                    col(ShareToken.expires_at) < now))
        await session.commit()
    return token, access_from(link, study_uid, expires)


def _lock_reason(lock: throttle.Lock) -> str:
    return "locked" if lock.key.startswith("link:") else "throttled"


def _raise_lock(lock: throttle.Lock) -> None:
    if lock.key.startswith("link:"):
        raise LockedOut(f"this share link is locked after {throttle.MAX_FAILURES} wrong codes; "
                        f"try again in {_wait(lock.retry_after)}", lock.retry_after)
    raise TooManyAttempts(f"too many wrong codes from your address; try again in {_wait(lock.retry_after)}",
                    lock.retry_after)


def link_json(link: ShareLink, study_uid: str, url: str) -> dict[str, Any]:
    return {
        "id": link.public_id, "url": url, "study_uid": study_uid, "series_uid": link.series_instance_uid,
        "code_kind": link.code_kind, "allow_download": link.allow_download,
        "expires_at": aware(link.expires_at).isoformat(),
        "revoked_at": aware(link.revoked_at).isoformat() if link.revoked_at else None,
        "last_opened_at": aware(link.last_opened_at).isoformat() if link.last_opened_at else None,
        "created_at": aware(link.created_at).isoformat(), "created_by": link.created_by_name,
        "state": state_of(link),
    }


__all__ = [
    "MAX_DAYS", "TOKEN_TTL", "ShareAccess", "ShareInput", "create_share", "exchange", "link_json", "list_shares",
    "parse_create", "revoke_share", "staff_link", "state_of",
]
