"""ASGI middleware: resolve ``Authorization: Bearer shr_...`` and hold a share principal to its study.

Resolution (``resolve_share``) has the shape of the authentication middleware's resolvers, so it
can be one of them; the guard runs for every request whose principal is a share, whoever resolved
it, and answers before any route: 404 outside the shared study, 403 for writes and for downloads
a link does not allow. A ``shr_`` token that is unknown, expired or revoked answers 401.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from server.auth.principal import Principal
from server.context import AppContext
from server.shares import guard, service
from server.shares.codes import TOKEN_PREFIX

MESSAGES = {
    guard.Decision.NOT_FOUND: (404, "not found"),
    guard.Decision.READ_ONLY: (403, "a share link opens a study read-only"),
    guard.Decision.NO_DOWNLOAD: (403, "this share link does not allow downloads"),
}


def bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def resolve_share(ctx: AppContext, headers: Mapping[str, str]) -> Principal | None:
    """The share principal of a ``Bearer shr_...`` header; None when the header is not a share token."""
    token = bearer(headers)
    if token is None or not token.startswith(TOKEN_PREFIX):
        return None
    access = await service.resolve_token(ctx, token)
    return access.principal if access is not None else None


async def _send_json(send: Any, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]]) -> None:
    data = orjson.dumps({**body, "status": status})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class ShareMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx: AppContext = scope["app"].state.ctx
        principal = scope.get("principal")
        if not isinstance(principal, Principal):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            token = bearer(headers)
            if token is not None and token.startswith(TOKEN_PREFIX):
                principal = await resolve_share(ctx, headers)
                if principal is None:
                    await _send_json(send, 401, {"error": "the share token has expired or was revoked; "
                                                          "enter the access code again"},
                                     [(b"www-authenticate", b'Bearer error="invalid_token"')])
                    return
                scope["principal"] = principal
        if isinstance(principal, Principal) and principal.is_share:
            access = await service.access_of(ctx, principal)
            if access is None:
                await _send_json(send, 401, {"error": "the share link has expired or was revoked"},
                                 [(b"www-authenticate", b'Bearer error="invalid_token"')])
                return
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            decision = guard.decide(access.study_uid, access.series_uid, access.public_id, access.allow_download,
                                    scope["method"], scope["path"], query)
            if decision is not guard.Decision.ALLOW:
                status, message = MESSAGES[decision]
                await _send_json(send, status, {"error": message}, [])
                return
            scope["share"] = access
        await self.app(scope, receive, send)
