"""Random credentials (API tokens, session ids, CSRF tokens) and their stored digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from server.auth.principal import Scope

TOKEN_PREFIX = "cirrus_"
PREFIX_SHOWN = 12  # characters of a token kept in the clear to name it in lists

# A token's scope is a level; each level includes the ones before it.
SCOPE_LEVELS: dict[str, frozenset[Scope]] = {
    "read": frozenset({Scope.READ}),
    "stow": frozenset({Scope.READ, Scope.STOW}),
    "write": frozenset({Scope.READ, Scope.STOW, Scope.WRITE}),
    "admin": frozenset(Scope),
}


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (tokens, session ids): enough, no salt or argon2 needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def scopes_text(scopes: frozenset[Scope]) -> str:
    return ",".join(s.value for s in Scope if s in scopes)


def scopes_of(text: str) -> frozenset[Scope]:
    return frozenset(Scope(s) for s in text.split(",") if s)


def level_of(scopes: frozenset[Scope]) -> str:
    """The level name of a stored scope set (the widest level it holds)."""
    best = "read"
    for name, level in SCOPE_LEVELS.items():
        if level <= scopes:
            best = name
    return best
