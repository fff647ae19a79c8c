"""Access control off, for benchmarks and lab use only (``CIRRUS_ACCESS_CONTROL_OFF``).

Every request acts as the administrator: no authentication, no per-request audit record, no share
guard — what Cirrus did before accounts existed, so that ``bench/run.py --auth-compare`` can show what
access control costs. It is refused where it could matter: ``cirrus serve`` will not start with it
unless bound to a loopback address, and a request whose client (after trusted proxies) is not on
loopback answers 403.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from server.app_errors import Forbidden
from server.auth.principal import AuthMethod, Principal, Role
from server.errors import app_error_response

log = logging.getLogger("cirrus.auth")

SETTING = "CIRRUS_ACCESS_CONTROL_OFF"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refusal_to_serve(host: str) -> str | None:
    """Why ``cirrus serve`` must not start with access control off on ``host``; None when it may."""
    if is_loopback(host):
        return None
    return (f"cirrus serve: {SETTING} is for benchmarks and lab use on this machine only; it refuses to "
            f"listen on {host!r} (bind to 127.0.0.1 or ::1, or turn access control back on)")


class OpenLabMiddleware:
    """Where ``AuthMiddleware`` would run: every loopback request is the administrator."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if not client or not is_loopback(client[0]):
            if scope["type"] == "http":
                await app_error_response(Forbidden(f"access control is off ({SETTING}): only requests from this "
                                                   "machine are answered"))(scope, receive, send)
            return
        institution_id = scope["app"].state.ctx.institution_id
        scope["principal"] = Principal(method=AuthMethod.SYSTEM, institution_id=institution_id, role=Role.ADMIN,
                                       username="lab")
        await self.app(scope, receive, send)
