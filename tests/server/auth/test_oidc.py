"""OIDC access tokens against a real key set: a local HTTP JWKS server (or a file) and a real database."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from server.auth.oidc import OidcRefused, OidcResolver
from server.auth.principal import AuthMethod, Role
from server.db.database import create_engine
from server.settings import Settings
from tests.server.auth.oidc_helpers import AUDIENCE, ISSUER, Issuer, JwksServer, new_ec


def oidc_settings(tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path, "oidc_issuer": ISSUER, "oidc_audience": AUDIENCE,
                                 "oidc_leeway_seconds": 0, "oidc_jwks_min_refresh_seconds": 0.5}
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[object]:
    from server.db.bootstrap import ensure_institution

    engine = create_engine(database_url)
    assert await ensure_institution(engine, "Default") == 1
    yield engine
    await engine.dispose()


@pytest.fixture
def issuer() -> Issuer:
    issuer = Issuer()
    issuer.add_key()
    issuer.add_key(new_ec())
    return issuer


@pytest.fixture
def jwks_server(issuer: Issuer):  # type: ignore[no-untyped-def]
    with JwksServer(issuer) as server:
        yield server


@pytest.fixture
def resolver(tmp_path: Path, engine, jwks_server: JwksServer) -> OidcResolver:  # type: ignore[no-untyped-def]
    return OidcResolver(oidc_settings(tmp_path, oidc_jwks_url=jwks_server.url), engine)


async def refused(resolver: OidcResolver, token: str) -> str:
    with pytest.raises(OidcRefused) as info:
        await resolver.resolve(token)
    return info.value.reason


async def test_valid_rs256_and_es256_tokens_give_an_oidc_principal(resolver: OidcResolver, issuer: Issuer) -> None:
    rsa_kid, ec_kid = issuer.published
    for kid in (rsa_kid, ec_kid):
        principal = await resolver.resolve(issuer.token(kid))
        assert principal is not None
        assert (principal.method, principal.institution_id, principal.role, principal.username) == (
            AuthMethod.OIDC, 1, Role.REPORTING_DOCTOR, "dr.li")
        assert not principal.is_admin


async def test_not_a_jwt_is_left_to_other_resolvers(resolver: OidcResolver) -> None:
    assert await resolver.resolve("cirrus_abcdef") is None
    assert await resolver.resolve("shr_abc") is None


async def test_time_audience_issuer_refusals(resolver: OidcResolver, issuer: Issuer) -> None:
    kid = issuer.published[0]
    assert await refused(resolver, issuer.token(kid, lifetime=-5)) == "token expired"
    assert await refused(resolver, issuer.token(kid, nbf=int(time.time()) + 120)) == "token not valid yet"
    assert await refused(resolver, issuer.token(kid, aud="another-app")) == "token is for another audience"
    assert await refused(resolver, issuer.token(kid, iss="https://evil.test")) == "token from another issuer"
    assert "exp" in await refused(resolver, issuer.token(kid, exp=None))


async def test_wrong_signature_is_refused(resolver: OidcResolver, issuer: Issuer) -> None:
    kid = issuer.published[0]
    good = issuer.token(kid)
    # Same header and claims, signed by a key the issuer never published.
    impostor = Issuer()
    impostor.keys[kid] = impostor.keys[impostor.add_key()]
    forged = impostor.token(kid)
    assert await refused(resolver, forged) == "token signature does not verify"
    # A claim changed after signing.
    head, body, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["role"] = "admin"
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert await refused(resolver, f"{head}.{tampered}.{sig}") == "token signature does not verify"


async def test_alg_none_and_hmac_with_the_public_key_are_refused(resolver: OidcResolver, issuer: Issuer) -> None:
    kid = issuer.published[0]
    claims = jwt.decode(issuer.token(kid), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    assert "'none' is not accepted" in await refused(resolver, unsigned)
    pem = issuer.keys[kid].public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    import hashlib
    import hmac

    sig = base64.urlsafe_b64encode(hmac.new(pem, header + b"." + body, hashlib.sha256).digest()).rstrip(b"=")
    assert "'HS256' is not accepted" in await refused(resolver, (header + b"." + body + b"." + sig).decode())


def test_symmetric_algorithms_cannot_be_configured(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        OidcResolver(oidc_settings(tmp_path, oidc_jwks_file="x", oidc_algorithms="RS256,HS256"), None)  # type: ignore[arg-type]


async def test_rotated_keys_are_fetched_again_with_a_bounded_rate(
    resolver: OidcResolver, issuer: Issuer, jwks_server: JwksServer
) -> None:
    old = issuer.published[0]
    assert await resolver.resolve(issuer.token(old)) is not None
    assert jwks_server.hits == 1
    time.sleep(0.6)  # past oidc_jwks_min_refresh_seconds
    new = issuer.rotate()
    principal = await resolver.resolve(issuer.token(new))
    assert principal is not None and principal.method is AuthMethod.OIDC
    assert jwks_server.hits == 2
    # The old key is gone from the set: its tokens no longer verify.
    assert "unknown key" in await refused(resolver, issuer.token(old))
    # Tokens with made-up key ids fetch the set at most once per interval.
    for n in range(20):
        assert "unknown key" in await refused(resolver, issuer.token(old, jti=str(n)))
    assert jwks_server.hits <= 3
    assert (await resolver.resolve(issuer.token(new))) is not None


async def test_jwks_file(tmp_path: Path, engine, issuer: Issuer) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(issuer.jwks()))
    resolver = OidcResolver(oidc_settings(tmp_path, oidc_jwks_file=str(path)), engine)
    assert (await resolver.resolve(issuer.token(issuer.published[1]))) is not None
    time.sleep(0.6)
    new = issuer.rotate()
    path.write_text(json.dumps(issuer.jwks()))
    assert (await resolver.resolve(issuer.token(new))) is not None


async def test_claim_mapping_and_unknown_claims(tmp_path: Path, engine, issuer: Issuer,  # type: ignore[no-untyped-def]
                                                jwks_server: JwksServer) -> None:
    resolver = OidcResolver(oidc_settings(
        tmp_path, oidc_jwks_url=jwks_server.url, oidc_institution_claim="org.code",
        oidc_role_claim="realm_access.roles", oidc_institution_map="hosp-a=1,hosp-x=999",
        oidc_role_map="radiologist=reporting_doctor,pacs-admin=admin"), engine)
    kid = issuer.published[0]
    principal = await resolver.resolve(issuer.token(
        kid, org={"code": "hosp-a"}, realm_access={"roles": ["offline_access", "pacs-admin"]}))
    assert principal is not None and principal.role is Role.ADMIN and principal.is_admin
    reason = await refused(resolver, issuer.token(kid, org={"code": "hosp-b"}, realm_access={"roles": ["radiologist"]}))
    assert reason == "claim 'org.code' names no known institution (got ['hosp-b'])"
    # Mapped to an institution id that does not exist.
    assert "no known institution" in await refused(
        resolver, issuer.token(kid, org={"code": "hosp-x"}, realm_access={"roles": ["radiologist"]}))
    reason = await refused(resolver, issuer.token(kid, org={"code": "hosp-a"}, realm_access={"roles": ["nurse"]}))
    assert reason == "claim 'realm_access.roles' names no known role (got ['nurse'])"
    # Unmapped settings: the claims hold the id and the role name.
    plain = OidcResolver(oidc_settings(tmp_path, oidc_jwks_url=jwks_server.url), engine)
    assert "no known role" in await refused(plain, issuer.token(kid, role="superuser"))
    assert "no known institution" in await refused(plain, issuer.token(kid, institution="42"))


def test_jwt_bearer_on_a_dicomweb_query_end_to_end(database_url: str, settings_factory, issuer: Issuer,  # type: ignore[no-untyped-def]
                                                   jwks_server: JwksServer) -> None:
    from starlette.testclient import TestClient

    from server.app import create_app

    settings = settings_factory(database_url, oidc_issuer=ISSUER, oidc_audience=AUDIENCE,
                                oidc_jwks_url=jwks_server.url)
    app = create_app(settings)
    with TestClient(app) as c:
        kid = issuer.published[0]
        r = c.get("/dicom-web/studies", headers={"Authorization": f"Bearer {issuer.token(kid)}"})
        assert r.status_code == 200, r.text
        for bad, reason in ((issuer.token(kid, lifetime=-60), "token expired"),
                            (issuer.token(kid, aud="other"), "token is for another audience")):
            r = c.get("/dicom-web/studies", headers={"Authorization": f"Bearer {bad}"})
            assert r.status_code == 401 and r.json()["error"] == f"OIDC access token refused: {reason}"
            assert r.headers["www-authenticate"].startswith("Bearer")
        # A role the rule table does not allow for the route: 403, not 401.
        r = c.get("/api/audit", headers={"Authorization": f"Bearer {issuer.token(kid)}"})
        assert r.status_code == 403
        c.portal.call(app.state.audit.drain)  # type: ignore[union-attr]

        async def rows() -> list[tuple[object, ...]]:
            from sqlalchemy import text

            engine = create_engine(database_url)
            try:
                async with engine.connect() as conn:
                    result = await conn.execute(text(
                        "SELECT actor, auth_method, status, detail FROM audit_log ORDER BY id"))
                    return [tuple(row) for row in result]
            finally:
                await engine.dispose()

        assert c.portal.call(rows) == [  # type: ignore[union-attr]
            ("dr.li", "oidc", 200, ""),
            ("", "", 401, "OIDC access token refused: token expired"),
            ("", "", 401, "OIDC access token refused: token is for another audience"),
            ("dr.li", "oidc", 403, "the role 'reporting_doctor' may not do this"),
        ]
