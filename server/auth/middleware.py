"""Authentication on every request: a pure ASGI middleware (streaming answers keep streaming).

For each HTTP request outside the public paths (``server.auth.rules.PUBLIC``) the caller is
resolved once by the ordered resolvers (``server.auth.resolvers.default_resolvers``: API token,
session cookie, HTTP Basic if enabled; share links and OIDC append theirs) and stored as
``scope["principal"]``, where ``server.http.principal_of`` finds it. No credentials answer 401
(``{"error": ...}`` with ``WWW-Authenticate: Bearer realm="cirrus"``); a credential the rule
table does not allow for the request answers 403.

Public paths still get a principal when credentials come with them (the SPA ignores it; the
login route uses the cookie it finds to revoke the session it replaces).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import HTTPConnection

from server.app_errors import AppError, Forbidden, Unauthenticated
from server.auth import rules
from server.auth.principal import Principal
from server.auth.resolvers import Clock, DecisionCache, Resolver, bearer, default_resolvers
from server.context import AppContext
from server.errors import app_error_response
from server.settings import Settings

log = logging.getLogger("cirrus.auth")


class Authenticator:
    """The resolvers and their shared decision cache, one per app (``app.state.auth``)."""

    def __init__(self, settings: Settings, clock: Clock = time.monotonic,
                 resolvers: list[Resolver] | None = None) -> None:
        self.cache = DecisionCache(settings.auth_cache_seconds, clock)
        self.resolvers: list[Resolver] = resolvers if resolvers is not None else default_resolvers(settings, self.cache)

    async def resolve(self, ctx: AppContext, conn: HTTPConnection) -> Principal | None:
        """The caller, None without credentials; raises for wrong ones."""
        for resolver in self.resolvers:
            principal = await resolver(ctx, conn)
            if principal is not None:
                return principal
        if bearer(conn) is not None:
            raise Unauthenticated("unknown kind of bearer token")
        return None

    async def authorize(self, ctx: AppContext, conn: HTTPConnection) -> Principal | None:
        """The principal of a request the rule table allows; raises ``AppError`` otherwise."""
        method, path = conn.scope["method"], conn.scope["path"]
        public = rules.is_public(method, path)
        try:
            principal = await self.resolve(ctx, conn)
        except AppError:
            if public:
                return None
            raise
        if public:
            return principal
        if principal is None:
            raise Unauthenticated("sign in, or send an API token (Authorization: Bearer)")
        refusal = rules.refusal(principal, method, path)
        if refusal:
            # Known but not allowed: the audit log records who was refused (the route never runs).
            conn.scope["principal"] = principal
            raise Forbidden(refusal)
        return principal


class AuthMiddleware:
    def __init__(self, app: Any, authenticator: Authenticator) -> None:
        self.app = app
        self.auth = authenticator

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx: AppContext = scope["app"].state.ctx
        conn = HTTPConnection(scope)
        try:
            principal = await self.auth.authorize(ctx, conn)
        except AppError as exc:
            scope["auth_refusal"] = exc.message  # the audit log records why
            await app_error_response(exc)(scope, receive, send)
            return
        if principal is not None:
            scope["principal"] = principal
        await self.app(scope, receive, send)
