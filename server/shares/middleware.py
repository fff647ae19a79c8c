"""The share guard: a share principal is held to its one study (or series), read-only.

The principal comes from ``server.shares.tokens.ShareResolver``, one of the authentication
middleware's resolvers. ``ShareGuardMiddleware`` runs after authentication for every request whose
principal is a share, and answers before any route: 404 outside the shared study, 403 for writes and for
downloads the link does not allow (``server.shares.guard``). The services' SQL holds the same
principal to ``share_study_uid`` (the tenant rule); the guard adds the series and download limits.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from server.auth.principal import Principal
from server.shares import guard, tokens

MESSAGES = {
    guard.Decision.NOT_FOUND: (404, "not found"),
    guard.Decision.READ_ONLY: (403, "a share link opens a study read-only"),
    guard.Decision.NO_DOWNLOAD: (403, "this share link does not allow downloads"),
}


async def _send_json(send: Any, status: int, message: str) -> None:
    data = orjson.dumps({"error": message, "status": status})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class ShareGuardMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        principal = scope.get("principal") if scope["type"] == "http" else None
        if isinstance(principal, Principal) and principal.is_share:
            access = await tokens.access_of(scope["app"].state.ctx, principal)
            if access is None:
                await _send_json(send, 401, "the share link has expired or was revoked")
                return
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            decision = guard.decide(access.study_uid, access.series_uid, access.public_id, access.allow_download,
                                    scope["method"], scope["path"], query)
            if decision is not guard.Decision.ALLOW:
                await _send_json(send, *MESSAGES[decision])
                return
            scope["share"] = access
        await self.app(scope, receive, send)
