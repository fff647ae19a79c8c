"""OIDC access tokens: JWTs of a configured issuer (a hospital's SSO, e.g. Keycloak) as principals.

The issuer's keys come from a JSON Web Key Set (a URL or a file). The set is cached; a token whose
``kid`` is not in it fetches the set again (the issuer rotated its keys), at most once per
``oidc_jwks_min_refresh_seconds`` so that tokens with made-up key ids cannot drive traffic to the
issuer. Only asymmetric algorithms are accepted (``alg: none`` and HMAC with a public key are
refused). One claim names the institution and one the role, optionally through a mapping.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection

from server.app_errors import Unauthenticated
from server.auth.principal import AuthMethod, Principal, Role, Scope
from server.context import AppContext
from server.db.archive import Institution
from server.settings import Settings

log = logging.getLogger("cirrus.oidc")

ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
JWKS_TIMEOUT_SECONDS = 10.0
ROLE_NAMES = frozenset(r.value for r in Role)


class OidcRefused(Unauthenticated):
    """A JWT was presented but is not acceptable; ``reason`` says why (safe to show the caller)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"OIDC access token refused: {reason}")
        self.reason = reason


def parse_map(text: str) -> dict[str, str]:
    """``a=1,b=2`` → {"a": "1", "b": "2"} (settings of claim mappings)."""
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def looks_like_jwt(token: str) -> bool:
    """Three base64url segments separated by dots (API and share tokens have a prefix and no dots)."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts[:2])


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """Values at a dotted claim path as strings (a list claim gives all its items)."""
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return []
        node = node[part]
    items = node if isinstance(node, list) else [node]
    return [str(v) for v in items if isinstance(v, str | int) and not isinstance(v, bool)]


class JwksCache:
    """The issuer's key set by ``kid``, fetched lazily and again on an unknown ``kid`` (bounded)."""

    def __init__(self, url: str = "", file: str = "", max_age: float = 3600.0, min_refresh: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not url and not file:
            raise ValueError("OIDC needs oidc_jwks_url or oidc_jwks_file")
        self.url = url
        self.file = file
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.clock = clock
        self.keys: dict[str, jwt.PyJWK] = {}
        self.fetched_at: float | None = None
        self.fetches = 0
        self._lock = asyncio.Lock()

    async def _load(self) -> dict[str, Any]:
        if self.file:
            return json.loads(await asyncio.to_thread(Path(self.file).read_text))  # type: ignore[no-any-return]
        async with httpx.AsyncClient(timeout=JWKS_TIMEOUT_SECONDS) as client:
            response = await client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

    async def refresh(self) -> None:
        self.fetches += 1
        self.fetched_at = self.clock()
        try:
            data = await self._load()
            keys: dict[str, jwt.PyJWK] = {}
            for raw in data.get("keys", []):
                if raw.get("use", "sig") != "sig":
                    continue
                try:
                    key = jwt.PyJWK(raw)
                except jwt.PyJWKError as exc:
                    log.warning("OIDC key set: key %s skipped (%s)", raw.get("kid"), exc)
                    continue
                keys[str(raw.get("kid", ""))] = key
        except (OSError, ValueError, httpx.HTTPError) as exc:
            # Keep the keys we had: a failing issuer must not sign everyone out at once.
            log.warning("OIDC key set could not be fetched: %s", exc)
            return
        self.keys = keys

    async def key(self, kid: str) -> jwt.PyJWK | None:
        async with self._lock:
            now = self.clock()
            stale = self.fetched_at is None or now - self.fetched_at >= self.max_age
            unknown = kid not in self.keys
            may_refresh = self.fetched_at is None or now - self.fetched_at >= self.min_refresh
            if stale or (unknown and may_refresh):
                await self.refresh()
            return self.keys.get(kid)


class OidcResolver:
    """Bearer JWT → ``Principal`` (method OIDC); ``None`` when the bearer is not a JWT.

    A resolver of ``server.auth.resolvers`` (``await resolver(ctx, conn)``); ``engine`` is taken from
    the context at the first request unless given.
    """

    def __init__(self, settings: Settings, engine: AsyncEngine | None = None, jwks: JwksCache | None = None) -> None:
        if not settings.oidc_issuer or not settings.oidc_audience:
            raise ValueError("OIDC needs oidc_issuer and oidc_audience")
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.algorithms = [a.strip() for a in settings.oidc_algorithms.split(",") if a.strip()]
        weak = set(self.algorithms) - ASYMMETRIC
        if weak:
            raise ValueError(f"OIDC algorithms must be asymmetric, not {sorted(weak)}")
        self.leeway = settings.oidc_leeway_seconds
        self.institution_claim = settings.oidc_institution_claim
        self.role_claim = settings.oidc_role_claim
        self.institution_map = parse_map(settings.oidc_institution_map)
        self.role_map = parse_map(settings.oidc_role_map)
        self.engine = engine
        self.jwks = jwks or JwksCache(
            settings.oidc_jwks_url, settings.oidc_jwks_file,
            max_age=settings.oidc_jwks_max_age_seconds, min_refresh=settings.oidc_jwks_min_refresh_seconds,
        )
        self._institutions: dict[int, float] = {}

    async def __call__(self, ctx: AppContext, conn: HTTPConnection) -> Principal | None:
        token = bearer_of(conn.headers)
        if token is None:
            return None
        if self.engine is None:
            self.engine = ctx.engine
        return await self.resolve(token)

    async def resolve(self, token: str) -> Principal | None:
        """The principal of ``token``; None if it is no JWT; ``OidcRefused`` if it is a bad one."""
        if not looks_like_jwt(token):
            return None
        claims = await self.verify(token)
        return Principal(
            method=AuthMethod.OIDC,
            institution_id=await self._institution(claims),
            role=self._role(claims),
            username=str(claims.get("preferred_username") or claims.get("sub") or ""),
            scopes=frozenset(Scope),
        )

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise OidcRefused(f"malformed token ({exc})") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise OidcRefused(f"token algorithm {alg!r} is not accepted (accepted: {', '.join(self.algorithms)})")
        kid = str(header.get("kid", ""))
        key = await self.jwks.key(kid)
        if key is None:
            raise OidcRefused(f"token signed with an unknown key {kid!r}")
        try:
            return jwt.decode(  # type: ignore[no-any-return]
                token, key=key.key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                leeway=self.leeway, options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise OidcRefused("token expired") from None
        except jwt.ImmatureSignatureError:
            raise OidcRefused("token not valid yet") from None
        except jwt.InvalidAudienceError:
            raise OidcRefused("token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise OidcRefused("token from another issuer") from None
        except jwt.InvalidSignatureError:
            raise OidcRefused("token signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise OidcRefused(f"token refused ({exc})") from None

    def _role(self, claims: Mapping[str, Any]) -> Role:
        values = claim_values(claims, self.role_claim)
        for value in values:
            name = self.role_map.get(value, value if not self.role_map else "")
            if name in ROLE_NAMES:
                return Role(name)
        raise OidcRefused(f"claim {self.role_claim!r} names no known role (got {values[:5]})")

    async def _institution(self, claims: Mapping[str, Any]) -> int:
        values = claim_values(claims, self.institution_claim)
        for value in values:
            raw = self.institution_map.get(value, value if not self.institution_map else "")
            if raw.isascii() and raw.isdigit() and await self._institution_exists(int(raw)):
                return int(raw)
        raise OidcRefused(f"claim {self.institution_claim!r} names no known institution (got {values[:5]})")

    async def _institution_exists(self, institution_id: int) -> bool:
        seen = self._institutions.get(institution_id)
        if seen is not None and time.monotonic() - seen < 10.0:  # permission decisions cached ≤ 10 s
            return True
        assert self.engine is not None, "OidcResolver needs an engine (given, or from the first request)"
        async with self.engine.connect() as conn:
            found = (await conn.execute(select(Institution.id).where(Institution.id == institution_id))).first()
        if found is None:
            return False
        self._institutions[institution_id] = time.monotonic()
        return True


def bearer_of(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
