"""Who is calling: resolvers that turn a request's credentials into a ``Principal``.

A resolver is ``async (ctx, conn) -> Principal | None``: None means "not my kind of credential"
(the next resolver is asked); raising ``Unauthenticated`` or ``Forbidden`` refuses the request
(a credential of its kind that is wrong, expired or revoked). ``default_resolvers`` is the order
the middleware asks them in; the patient share-link resolver (``Bearer shr_...``) and the OIDC
resolver (``Bearer`` JWT) are appended there by their modules.

Decisions are cached in-process for at most ``auth_cache_seconds`` (≤ 10 s): a revoked token, an
ended session or a changed role takes effect within that on every process; logout in this
process takes effect at once.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col
from starlette.requests import HTTPConnection

from server.app_errors import Forbidden, Unauthenticated
from server.auth.login import check_password
from server.auth.oidc import OidcResolver
from server.auth.principal import AuthMethod, Principal, Role, Scope
from server.auth.secrets import TOKEN_PREFIX, digest, same, scopes_of
from server.auth.sessions import COOKIE, CSRF_HEADER
from server.context import AppContext
from server.db.accounts import ApiToken, AuthSession, User
from server.db.database import aware, utcnow
from server.shares.tokens import ShareResolver

Resolver = Callable[[AppContext, HTTPConnection], Awaitable[Principal | None]]
Clock = Callable[[], float]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_seen / last_used are written at most this often per credential (not on every request).
TOUCH_SECONDS = 60.0
CACHE_LIMIT = 10_000


def bearer(conn: HTTPConnection) -> str | None:
    """The credentials of ``Authorization: Bearer ...``, or None."""
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else ""


def session_key(cookie: str) -> str:
    return "session:" + digest(cookie)


class DecisionCache:
    """Resolved credentials by digest, each trusted for ``ttl`` seconds of ``clock``."""

    def __init__(self, ttl: float, clock: Clock = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            self._entries.pop(key, None)
            return False, None
        return True, entry[1]

    def put(self, key: str, value: Any) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= CACHE_LIMIT:
            self._entries.clear()
        self._entries[key] = (self.clock() + self.ttl, value)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def forget_user(self, user_id: int) -> None:
        for key, (_, value) in list(self._entries.items()):
            principal = value.principal if isinstance(value, CachedSession) else value
            if isinstance(principal, Principal) and principal.user_id == user_id:
                self._entries.pop(key, None)


@dataclass(frozen=True)
class CachedSession:
    principal: Principal
    csrf_token: str


def user_principal(user: User, method: AuthMethod, scopes: frozenset[Scope] = frozenset(Scope),
                   token_id: int | None = None) -> Principal:
    return Principal(method=method, institution_id=user.institution_id, role=Role(user.role), user_id=user.id,
                     username=user.username, token_id=token_id, scopes=scopes)


def _stale(at: datetime | None, now: datetime) -> bool:
    return at is None or aware(at) + timedelta(seconds=TOUCH_SECONDS) <= now


class TokenResolver:
    """``Authorization: Bearer cirrus_...``: an API token."""

    def __init__(self, cache: DecisionCache) -> None:
        self.cache = cache

    async def __call__(self, ctx: AppContext, conn: HTTPConnection) -> Principal | None:
        token = bearer(conn)
        if token is None or not token.startswith(TOKEN_PREFIX):
            return None
        key = "token:" + digest(token)
        hit, principal = self.cache.get(key)
        if not hit:
            principal = await self._load(ctx, key[6:])
            self.cache.put(key, principal)
        if principal is None:
            raise Unauthenticated("the API token is unknown, expired or revoked")
        return principal  # type: ignore[no-any-return]

    async def _load(self, ctx: AppContext, secret_hash: str) -> Principal | None:
        now = utcnow()
        async with ctx.sessions() as s:
            row = (await s.exec(select(ApiToken, User).join(User, col(User.id) == col(ApiToken.user_id))
                                .where(col(ApiToken.secret_hash) == secret_hash))).first()
        if row is None:
            return None
        token, user = row
        if token.revoked_at is not None or not user.active:
            return None
        if token.expires_at is not None and aware(token.expires_at) <= now:
            return None
        if _stale(token.last_used_at, now):
            async with ctx.write() as conn:
                await conn.execute(update(ApiToken).where(col(ApiToken.id) == token.id).values(last_used_at=now))
        return user_principal(user, AuthMethod.TOKEN, scopes_of(token.scopes), token.id)


class SessionResolver:
    """The ``cirrus_session`` cookie; a state-changing request must echo its CSRF token."""

    def __init__(self, cache: DecisionCache) -> None:
        self.cache = cache

    async def __call__(self, ctx: AppContext, conn: HTTPConnection) -> Principal | None:
        cookie = conn.cookies.get(COOKIE)
        if not cookie:
            return None
        key = session_key(cookie)
        hit, cached = self.cache.get(key)
        if not hit:
            cached = await self._load(ctx, key[8:])
            self.cache.put(key, cached)
        if cached is None:
            raise Unauthenticated("the session has ended: sign in again")
        if conn.scope["method"] not in SAFE_METHODS:
            sent = conn.headers.get(CSRF_HEADER, "")
            if not sent or not same(sent, cached.csrf_token):
                raise Forbidden("missing or wrong CSRF token (send the X-CSRF-Token header)")
        return cached.principal  # type: ignore[no-any-return]

    async def _load(self, ctx: AppContext, session_hash: str) -> CachedSession | None:
        now = utcnow()
        settings = ctx.settings
        async with ctx.sessions() as s:
            row = (await s.exec(select(AuthSession, User).join(User, col(User.id) == col(AuthSession.user_id))
                                .where(col(AuthSession.id) == session_hash))).first()
        if row is None:
            return None
        session, user = row
        idle_end = aware(session.last_seen_at) + timedelta(seconds=settings.session_idle_seconds)
        if session.revoked or not user.active or aware(session.expires_at) <= now or idle_end <= now:
            return None
        if _stale(session.last_seen_at, now):
            async with ctx.write() as conn:
                await conn.execute(update(AuthSession).where(col(AuthSession.id) == session_hash)
                                   .values(last_seen_at=now))
        return CachedSession(user_principal(user, AuthMethod.SESSION), session.csrf_token)


class BasicResolver:
    """``Authorization: Basic`` (only when CIRRUS_AUTH_BASIC is on): username and password,
    throttled like a sign-in."""

    def __init__(self, cache: DecisionCache) -> None:
        self.cache = cache

    async def __call__(self, ctx: AppContext, conn: HTTPConnection) -> Principal | None:
        scheme, _, value = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic credentials") from None
        if not sep:
            raise Unauthenticated("malformed Basic credentials")
        key = "basic:" + digest(f"{username}\0{password}")
        hit, principal = self.cache.get(key)
        if not hit:
            user = await check_password(ctx, username, password, client_address(conn))
            principal = user_principal(user, AuthMethod.BASIC)
            self.cache.put(key, principal)
        return principal  # type: ignore[no-any-return]


def default_resolvers(ctx_settings: Any, cache: DecisionCache) -> list[Resolver]:
    """The resolvers in the order they are asked. Extension point: share links and OIDC append
    theirs here (``ShareResolver(cache)`` for ``Bearer shr_...``, ``OidcResolver`` for JWTs)."""
    # Share tokens before the session cookie: the share page sends its token explicitly, and a doctor
    # signed in in the same browser still sees exactly what the link opens.
    resolvers: list[Resolver] = [TokenResolver(cache), ShareResolver(), SessionResolver(cache)]
    if ctx_settings.auth_basic:
        resolvers.append(BasicResolver(cache))
    if ctx_settings.oidc_issuer:
        resolvers.append(OidcResolver(ctx_settings))
    return resolvers
