"""Browser sessions: a random id in an HttpOnly cookie, its digest in ``auth_session``.

A sign-in always starts a new session (a session id planted before sign-in is never promoted:
no fixation) and revokes the one the browser sent, if any. A session ends after
``session_idle_seconds`` without a request or ``session_max_seconds`` after sign-in; logout ends
it, logout-all ends every session of the user.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col
from starlette.responses import Response

from server.auth.secrets import digest, new_csrf_token, new_session_id
from server.context import AppContext
from server.db.accounts import AuthSession, User
from server.db.database import utcnow
from server.settings import Settings

COOKIE = "cirrus_session"
CSRF_HEADER = "x-csrf-token"


async def start_session(ctx: AppContext, user: User, address: str, previous: str | None) -> tuple[str, str]:
    """A new session of ``user``: (cookie value, CSRF token). ``previous`` (a cookie sent) is revoked."""
    now = utcnow()
    session_id, csrf = new_session_id(), new_csrf_token()
    async with ctx.write() as conn:
        if previous:
            await conn.execute(update(AuthSession).where(col(AuthSession.id) == digest(previous)).values(revoked=True))
        await conn.execute(AuthSession.__table__.insert().values(  # type: ignore[attr-defined]
            id=digest(session_id), user_id=user.id, csrf_token=csrf, client_address=address[:64],
            created_at=now, last_seen_at=now, revoked=False,
            expires_at=now + timedelta(seconds=ctx.settings.session_max_seconds)))
    return session_id, csrf


async def session_csrf(ctx: AppContext, cookie: str) -> str | None:
    async with ctx.sessions() as s:
        row = await s.get(AuthSession, digest(cookie))
    return row.csrf_token if row is not None and not row.revoked else None


async def end_session(ctx: AppContext, cookie: str) -> None:
    async with ctx.write() as conn:
        await conn.execute(update(AuthSession).where(col(AuthSession.id) == digest(cookie)).values(revoked=True))


async def end_all_sessions(ctx: AppContext, user_id: int) -> None:
    async with ctx.write() as conn:
        await conn.execute(update(AuthSession).where(col(AuthSession.user_id) == user_id).values(revoked=True))


def set_cookie(response: Response, settings: Settings, value: str) -> None:
    response.set_cookie(COOKIE, value, max_age=int(settings.session_max_seconds), path="/", httponly=True,
                        samesite="lax", secure=settings.cookie_secure)


def clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure)
