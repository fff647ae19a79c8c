"""Callers for the tenancy tests, set in ONE place.

Until the authentication middleware of branch ``auth`` is merged, a request's principal is put
where that middleware will put it (``scope["principal"]``, read by ``server.http.principal_of``)
by ``PrincipalInjector``, from a test header naming one of the principals of ``principals()``.
A request without the header (or naming no known principal) to a non-public path gets what the
middleware answers an unauthenticated caller: 401 JSON ``{"error": ...}`` with
``WWW-Authenticate: Bearer``. This is the only module to change when the tests switch to real
accounts and tokens (``tests/auth_helpers.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from server.auth.principal import AuthMethod, Principal, Role, Scope

HEADER = "x-cirrus-test-as"
# What the authentication middleware leaves open (SPA static files and index; the login and
# share-exchange endpoints of other branches do not exist here).
PROTECTED_PREFIXES = ("/dicom-web", "/api", "/wado")


def principal(institution_id: int, role: Role, name: str, user_id: int = 0, *,
              share_study_uid: str | None = None, scopes: frozenset[Scope] | None = None) -> Principal:
    method = AuthMethod.SHARE if share_study_uid else AuthMethod.SESSION
    return Principal(method=method, institution_id=institution_id, role=role, user_id=user_id or None,
                     username=name, share_study_uid=share_study_uid,
                     scopes=scopes if scopes is not None else frozenset(Scope))


def share_principal(institution_id: int, study_uid: str) -> Principal:
    return principal(institution_id, Role.READ_ONLY, "share", share_study_uid=study_uid,
                     scopes=frozenset({Scope.READ}))


class PrincipalInjector:
    """ASGI wrapper: ``scope["principal"]`` from the ``HEADER`` header (a key of ``known``)."""

    def __init__(self, app: Any, known: Mapping[str, Principal]) -> None:
        self.app = app
        self.known = known

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            name = dict(scope.get("headers", [])).get(HEADER.encode(), b"").decode()
            found = self.known.get(name)
            if found is not None:
                scope["principal"] = found
            elif scope["path"].startswith(PROTECTED_PREFIXES):
                await _unauthorized(send)
                return
        await self.app(scope, receive, send)

    @property
    def state(self) -> Any:  # TestClient users reach app.state.ctx through the wrapper
        return self.app.state


async def _unauthorized(send: Any) -> None:
    body = orjson.dumps({"error": "authentication required"})
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def as_(name: str | None) -> dict[str, str]:
    """Request headers that make the request come from principal ``name`` (None: nobody)."""
    return {HEADER: name} if name else {}
