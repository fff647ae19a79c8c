"""API tokens: minted for a user with a scope level and an optional expiry, listed, revoked.

The token (``cirrus_<random>``) is returned once by ``create_token``; the database keeps its
SHA-256 digest and the first characters to name it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from server.app_errors import InvalidInput, NotFoundError
from server.auth.principal import Principal, Role
from server.auth.secrets import PREFIX_SHOWN, SCOPE_LEVELS, digest, level_of, new_api_token, scopes_of, scopes_text
from server.context import AppContext
from server.db.accounts import ApiToken, User
from server.db.database import aware, utcnow

_DURATION = re.compile(r"^(\d{1,5})([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h`` or ``90m`` as a duration."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(f"expiry must look like 30d, 12h or 90m, got {text[:20]!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def expiry_after(text: str) -> datetime:
    """The expiry of a token living ``text`` (``30d``, ``12h``, ``90m``) from now."""
    return utcnow() + parse_duration(text)


def token_json(token: ApiToken, username: str = "") -> dict[str, Any]:
    return {
        "id": token.id, "name": token.name, "prefix": token.prefix, "scope": level_of(scopes_of(token.scopes)),
        "user_id": token.user_id, "username": username,
        "created_at": token.created_at.isoformat(),
        "expires_at": aware(token.expires_at).isoformat() if token.expires_at else None,
        "revoked_at": aware(token.revoked_at).isoformat() if token.revoked_at else None,
        "last_used_at": aware(token.last_used_at).isoformat() if token.last_used_at else None,
    }


async def _owner(ctx: AppContext, principal: Principal | None, user_id: int) -> User:
    async with ctx.sessions() as s:
        user = await s.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    if principal is None or principal.role is Role.ADMIN or principal.user_id == user_id:
        return user
    if principal.role is Role.INSTITUTION_ADMIN and principal.institution_id == user.institution_id \
            and user.role != Role.ADMIN.value:
        return user
    raise NotFoundError(f"no user {user_id}")


async def create_token(ctx: AppContext, principal: Principal | None, user_id: int, *, scope: Any = "write",
                       name: Any = "", expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token of ``user_id`` and the secret (shown once)."""
    if scope not in SCOPE_LEVELS:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPE_LEVELS)}, got {str(scope)[:20]!r}")
    if not isinstance(name, str) or len(name) > 128:
        raise InvalidInput("name must be a text of at most 128 characters")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("the expiry must be in the future")
    user = await _owner(ctx, principal, user_id)
    if not user.active:
        raise InvalidInput(f"the user {user.username!r} is deactivated")
    secret = new_api_token()
    token = ApiToken(prefix=secret[:PREFIX_SHOWN], secret_hash=digest(secret), user_id=user_id, name=name,
                     scopes=scopes_text(SCOPE_LEVELS[scope]), expires_at=expires_at)
    async with ctx.write_session() as s:
        s.add(token)
        await s.commit()
    return token, secret


async def list_tokens(ctx: AppContext, principal: Principal | None, user_id: int | None = None
                      ) -> list[tuple[ApiToken, str]]:
    """Tokens of one user (default: the caller's own); without a caller or ``user_id``, all (the CLI)."""
    query = select(ApiToken, User.username).join(User, col(User.id) == col(ApiToken.user_id))
    if user_id is not None:
        await _owner(ctx, principal, user_id)
        query = query.where(col(ApiToken.user_id) == user_id)
    elif principal is not None:
        query = query.where(col(ApiToken.user_id) == principal.user_id)
    async with ctx.sessions() as s:
        rows = (await s.exec(query.order_by(col(ApiToken.id)))).all()
    return [(token, username) for token, username in rows]


async def revoke_token(ctx: AppContext, principal: Principal | None, token_id: int) -> ApiToken:
    async with ctx.sessions() as s:
        token = await s.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError(f"no token {token_id}")
    try:
        await _owner(ctx, principal, token.user_id)
    except NotFoundError:
        raise NotFoundError(f"no token {token_id}") from None
    async with ctx.write() as conn:
        await conn.execute(update(ApiToken).where(col(ApiToken.id) == token_id, col(ApiToken.revoked_at).is_(None))
                           .values(revoked_at=utcnow()))
    async with ctx.sessions() as s:
        return await s.get(ApiToken, token_id)  # type: ignore[return-value]
