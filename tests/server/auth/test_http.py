"""Accounts over HTTP on SQLite and PostgreSQL: sign-in, sessions, CSRF, lockout, tokens, roles.

Real users and tokens in the test database, a real app (its middleware and rule table); the
answers of the accounts paths are checked against the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.auth.login import check_password
from server.auth.principal import Role
from server.db.database import utcnow
from server.routes.openapi import OPENAPI
from tests.auth_helpers import PASSWORD, bearer, create_institution, create_user, token_for
from tests.conftest import ADMIN_PASSWORD
from tests.dicom_helpers import ct_instance
from tests.server.routes.test_openapi_contract import Contract


@pytest.fixture
def app_and_client(database_url: str, settings_factory) -> Iterator[tuple[TestClient, Any]]:  # type: ignore[no-untyped-def]
    # Not authenticated by default: each test says who calls.
    app = create_app(settings_factory(database_url, cookie_secure=False, login_max_failures=3,
                                      login_address_max_failures=6))
    with TestClient(app, base_url="http://testserver") as c:
        yield c, app.state.ctx


def call(c: TestClient, fn: Any, *args: Any, **kwargs: Any) -> Any:
    assert c.portal is not None
    return c.portal.call(partial(fn, *args, **kwargs))


def login(c: TestClient, username: str, password: str, **kwargs: Any) -> Any:
    return c.post("/api/auth/login", json={"username": username, "password": password}, **kwargs)


def stow_body(study: str) -> tuple[bytes, dict[str, str]]:
    part = ct_instance(study=study)
    body = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + part + b"\r\n--b--\r\n"
    return body, {"content-type": 'multipart/related; type="application/dicom"; boundary=b'}


def test_unauthenticated_requests_answer_401_and_public_paths_stay_open(app_and_client) -> None:  # type: ignore[no-untyped-def]
    c, _ = app_and_client
    for method, path in [("GET", "/dicom-web/studies"), ("GET", "/api/jobs"), ("DELETE", "/dicom-web/studies/1.2.3"),
                         ("POST", "/dicom-web/studies"), ("GET", "/wado?requestType=WADO"), ("GET", "/api/events"),
                         ("GET", "/api/users"), ("GET", "/dicom-web"), ("POST", "/api/uploads")]:
        r = c.request(method, path)
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"] == 'Bearer realm="cirrus"'
        assert r.json()["error"]
    r = c.get("/dicom-web/studies", headers=bearer("cirrus_not-a-real-token"))
    assert r.status_code == 401 and "unknown" in r.json()["error"]
    assert c.get("/dicom-web/studies", headers=bearer("some.jwt.token")).status_code == 401
    assert c.get("/").status_code == 200  # the SPA shows its own sign-in page
    assert c.get("/viewer/1.2.3").status_code == 200
    assert c.get("/api/openapi.json").status_code == 200
    assert c.get("/api/auth/me").status_code == 401


def test_sign_in_session_csrf_fixation_logout_and_logout_all(app_and_client) -> None:  # type: ignore[no-untyped-def]
    c, ctx = app_and_client
    contract = Contract(OPENAPI)

    def sign_in(sent: str | None = None) -> tuple[dict[str, str], str, Any]:
        """(cookie headers, CSRF token, answer) of a sign-in as admin; the client's jar is not used."""
        r = login(c, "admin", ADMIN_PASSWORD, headers=as_cookie(sent or "none"))
        c.cookies.clear()
        body = contract.check(r, "/auth/login")
        return as_cookie(_session_of(r)), body["csrf_token"], r

    contract.check(login(c, "admin", "wrong-password-1"), "/auth/login")  # 401
    contract.check(c.post("/api/auth/login", json={"username": 3}), "/auth/login")  # 400
    form = c.post("/api/auth/login", content=b'{"username": "admin", "password": "x"}',
                  headers={"content-type": "text/plain"})  # what a cross-site form could send
    assert form.status_code == 400 and "application/json" in form.json()["error"]
    contract.check(c.post("/api/auth/login", content=b"{" + b" " * 70_000 + b"}",
                          headers={"content-type": "application/json"}), "/auth/login")  # 413
    planted = "planted-session-id"
    first, csrf, r = sign_in(planted)
    assert r.json()["user"]["username"] == "admin" and r.json()["user"]["role"] == "admin"
    assert r.json()["user"]["institution_name"]
    assert first["Cookie"] != f"cirrus_session={planted}"  # a new id at sign-in: no fixation
    me = contract.check(c.get("/api/auth/me", headers=first), "/auth/me")
    assert me["user"]["id"] == r.json()["user"]["id"] and me["csrf_token"] == csrf
    set_cookie = r.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie and "path=/" in set_cookie
    assert "secure" not in set_cookie  # cookie_secure=False in this app

    # Signing in again with the session cookie sent replaces (revokes) that session.
    session, csrf, _ = sign_in(first["Cookie"].partition("=")[2])
    assert session != first
    assert c.get("/api/auth/me", headers=first).status_code == 401

    # CSRF: a state-changing request by cookie needs the header; bearer requests do not.
    inst = contract.check(c.post("/api/institutions", json={"name": "County"}, headers=session), "/institutions")
    assert inst["status"] == 403 and "CSRF" in inst["error"]
    wrong = c.post("/api/institutions", json={"name": "County"}, headers={**session, "X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    made = contract.check(c.post("/api/institutions", json={"name": "County"},
                                 headers={**session, "X-CSRF-Token": csrf}), "/institutions")
    assert made["name"] == "County" and made["parent_id"] is None
    assert c.get("/dicom-web/studies", headers=session).status_code in (200, 204)  # reads need no token

    # Logout ends this session only; logout-all every session of the user.
    second, _, _ = sign_in()
    contract.check(c.post("/api/auth/logout", headers=session), "/auth/logout")  # 403: no CSRF token
    contract.check(c.post("/api/auth/logout", headers={**session, "X-CSRF-Token": csrf}), "/auth/logout")
    assert c.get("/api/auth/me", headers=session).status_code == 401
    contract.check(c.post("/api/auth/logout", headers=session), "/auth/logout")  # 401: signed out
    assert c.get("/api/auth/me", headers=second).status_code == 200
    third, csrf, _ = sign_in()
    contract.check(c.post("/api/auth/logout-all", headers=third), "/auth/logout-all")  # 403 without CSRF
    contract.check(c.post("/api/auth/logout-all", headers={**third, "X-CSRF-Token": csrf}), "/auth/logout-all")
    assert c.get("/api/auth/me", headers=second).status_code == 401
    assert c.get("/api/auth/me", headers=third).status_code == 401
    contract.check(c.post("/api/auth/logout-all", headers=third), "/auth/logout-all")  # 401

    # Lockout per account: 3 failures (this app's limit) lock it, even for the right password.
    call(c, create_user, ctx, Role.REPORTING_DOCTOR, username="doc")
    for _ in range(3):
        assert login(c, "doc", "wrong-password-1").status_code == 401
    locked = contract.check(login(c, "doc", PASSWORD), "/auth/login")  # 429
    assert "account" in locked["error"]
    assert int(login(c, "doc", PASSWORD).headers["retry-after"]) > 0


def as_cookie(session: str) -> dict[str, str]:
    """Headers sending this session cookie (instead of the client's jar)."""
    return {"Cookie": f"cirrus_session={session}"}


def _session_of(response: Any) -> str:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == "cirrus_session":
            return rest.split(";")[0]
    raise AssertionError("no cookie")


def test_lockout_per_client_address(app_and_client) -> None:  # type: ignore[no-untyped-def]
    c, ctx = app_and_client
    call(c, create_user, ctx, Role.REVIEWER, username="rev")
    # Six failures (this app's address limit) over different usernames lock the address ...
    for i in range(6):
        assert login(c, f"nobody{i}", "wrong-password-1").status_code == 401
    r = login(c, "rev", PASSWORD)
    assert r.status_code == 429 and "address" in r.json()["error"]
    # ... while the account itself is not locked: from another address it signs in.
    user = call(c, check_password, ctx, "rev", PASSWORD, "10.1.2.3")
    assert user.username == "rev"


def test_tokens_scope_expiry_revocation_and_roles(app_and_client) -> None:  # type: ignore[no-untyped-def]
    c, ctx = app_and_client
    contract = Contract(OPENAPI)
    inst = call(c, create_institution, ctx, "Tenant A")
    admin = call(c, token_for, ctx, call(c, _admin, ctx))
    tech = call(c, create_user, ctx, Role.TECHNOLOGIST, inst)
    reader = call(c, create_user, ctx, Role.READ_ONLY, inst)
    read_token = call(c, token_for, ctx, tech, "read")
    tech_token = call(c, token_for, ctx, tech, "write")
    reader_token = call(c, token_for, ctx, reader, "admin")

    from pydicom.uid import generate_uid
    study = generate_uid()
    body, headers = stow_body(study)
    # A read token cannot STOW or DELETE; a write token of a technologist can.
    r = c.post("/dicom-web/studies", content=body, headers={**headers, **bearer(read_token)})
    assert r.status_code == 403 and "stow" in r.json()["error"]
    assert c.post("/dicom-web/studies", content=body, headers={**headers, **bearer(tech_token)}).status_code == 200
    assert c.get(f"/dicom-web/studies/{study}/metadata", headers=bearer(read_token)).status_code == 200
    assert c.delete(f"/dicom-web/studies/{study}", headers=bearer(read_token)).status_code == 403
    # The read-only role cannot STOW or DELETE, whatever its token's scope.
    assert c.post("/dicom-web/studies", content=body, headers={**headers, **bearer(reader_token)}).status_code == 403
    r = c.delete(f"/dicom-web/studies/{study}", headers=bearer(reader_token))
    assert r.status_code == 403 and "read_only" in r.json()["error"]
    # Nor can it manage users; nor can a write token reach the token admin (no admin scope).
    assert c.get("/api/users", headers=bearer(reader_token)).status_code == 403
    contract.check(c.get("/api/tokens", headers=bearer(tech_token)), "/tokens")  # 403
    assert c.delete(f"/dicom-web/studies/{study}", headers=bearer(tech_token)).status_code in (200, 202, 204)

    # Token administration.
    auth = bearer(admin)
    made = contract.check(c.post("/api/tokens", json={"name": "gateway", "scope": "stow", "expires_in": "30d"},
                                 headers=auth), "/tokens")
    assert made["secret"].startswith("cirrus_") and made["token"]["scope"] == "stow"
    assert made["token"]["prefix"] == made["secret"][:12] and made["token"]["expires_at"]
    listed = contract.check(c.get("/api/tokens", headers=auth), "/tokens")
    assert made["token"]["id"] in [t["id"] for t in listed["tokens"]]
    assert all("secret" not in t and made["secret"] not in str(t) for t in listed["tokens"])
    contract.check(c.get(f"/api/tokens?user_id={tech.id}", headers=auth), "/tokens")
    contract.check(c.get("/api/tokens?user_id=x", headers=auth), "/tokens")  # 400
    contract.check(c.get("/api/tokens?user_id=999999", headers=auth), "/tokens")  # 404
    contract.check(c.get("/api/tokens"), "/tokens")  # 401
    contract.check(c.post("/api/tokens", json={"scope": "root"}, headers=auth), "/tokens")  # 400
    contract.check(c.post("/api/tokens", json={"user_id": 999999}, headers=auth), "/tokens")  # 404
    contract.check(c.post("/api/tokens", json={}), "/tokens")  # 401
    contract.check(c.post("/api/tokens", json={}, headers=bearer(tech_token)), "/tokens")  # 403
    stow_token = made["secret"]
    assert c.get("/dicom-web/studies", headers=bearer(stow_token)).status_code in (200, 204)
    contract.check(c.delete(f"/api/tokens/{made['token']['id']}", headers=auth), "/tokens/{token_id}")
    contract.check(c.delete("/api/tokens/abc", headers=auth), "/tokens/{token_id}")  # 400
    contract.check(c.delete("/api/tokens/999999", headers=auth), "/tokens/{token_id}")  # 404
    contract.check(c.delete("/api/tokens/1"), "/tokens/{token_id}")  # 401
    contract.check(c.delete("/api/tokens/1", headers=bearer(read_token)), "/tokens/{token_id}")  # 403
    # The app's own process forgets the revoked token within the cache period; the app here uses
    # the default of 10 s, so the revoked token is checked on a fresh app below (test_decisions).

    # An expired token is refused.
    expired = call(c, token_for, ctx, tech, "read", utcnow() + timedelta(seconds=1))
    import time
    time.sleep(1.1)
    assert c.get("/dicom-web/studies", headers=bearer(expired)).status_code == 401


async def _admin(ctx: Any) -> Any:
    from server.auth.accounts import user_by_name
    return await user_by_name(ctx, "admin")


def test_users_and_institutions_admin(app_and_client) -> None:  # type: ignore[no-untyped-def]
    c, ctx = app_and_client
    contract = Contract(OPENAPI)
    admin = bearer(call(c, token_for, ctx, call(c, _admin, ctx)))
    city = contract.check(c.post("/api/institutions", json={"name": "City"}, headers=admin), "/institutions")
    county = contract.check(c.post("/api/institutions", json={"name": "County", "parent_id": city["id"]},
                                   headers=admin), "/institutions")
    assert county["parent_id"] == city["id"]
    contract.check(c.post("/api/institutions", json={"name": "City"}, headers=admin), "/institutions")  # 409
    contract.check(c.post("/api/institutions", json={"name": ""}, headers=admin), "/institutions")  # 400
    contract.check(c.post("/api/institutions", json={"name": "X"}), "/institutions")  # 401
    listed = contract.check(c.get("/api/institutions", headers=admin), "/institutions")
    assert {"City", "County"} <= {i["name"] for i in listed["institutions"]}
    contract.check(c.get("/api/institutions"), "/institutions")  # 401

    # The password policy names what is wrong.
    for password, reason in [("short1A", "at least 10"), ("countyadmin", "username"), ("abcdefghijkl", "kind"),
                             ("1234567890123", "kind")]:
        r = contract.check(c.post("/api/users", json={"username": "countyadmin", "password": password,
                                                      "role": "institution_admin", "institution_id": county["id"]},
                                  headers=admin), "/users")
        assert reason in r["error"], (password, r)
    made = contract.check(c.post("/api/users", json={"username": "countyadmin", "password": PASSWORD,
                                                     "display_name": "县医院管理员", "role": "institution_admin",
                                                     "institution_id": county["id"]}, headers=admin), "/users")
    assert made["institution_name"] == "County" and made["active"] and "password" not in str(made).lower().replace(
        "password_changed_at", "")
    contract.check(c.post("/api/users", json={"username": "countyadmin", "password": PASSWORD, "role": "reviewer",
                                              "institution_id": county["id"]}, headers=admin), "/users")  # 409
    contract.check(c.post("/api/users", json={"username": "x1", "password": PASSWORD, "role": "reviewer",
                                              "institution_id": 999999}, headers=admin), "/users")  # 404
    contract.check(c.post("/api/users", json={"username": "x1"}), "/users")  # 401

    # An institution admin manages their own institution's users only, and never admins.
    county_admin = bearer(call(c, token_for, ctx, call(c, _by_name, ctx, "countyadmin")))
    doc = contract.check(c.post("/api/users", json={"username": "county-doc", "password": PASSWORD,
                                                    "role": "requesting_doctor"}, headers=county_admin), "/users")
    assert doc["institution_id"] == county["id"]
    contract.check(c.post("/api/users", json={"username": "boss", "password": PASSWORD, "role": "admin"},
                          headers=county_admin), "/users")  # 403
    assert c.post("/api/users", json={"username": "c2", "password": PASSWORD, "role": "reviewer",
                                      "institution_id": city["id"]}, headers=county_admin).status_code == 403
    mine = contract.check(c.get("/api/users", headers=county_admin), "/users")
    assert {u["username"] for u in mine["users"]} == {"countyadmin", "county-doc"}
    everyone = contract.check(c.get("/api/users", headers=admin), "/users")
    assert "admin" in {u["username"] for u in everyone["users"]}
    assert c.get("/api/institutions", headers=county_admin).json()["institutions"] == [county]
    doctor_token = bearer(call(c, token_for, ctx, call(c, _by_name, ctx, "county-doc")))
    contract.check(c.get("/api/users", headers=doctor_token), "/users")  # 403
    contract.check(c.get("/api/users"), "/users")  # 401
    contract.check(c.get("/api/institutions", headers=doctor_token), "/institutions")  # 403
    contract.check(c.post("/api/institutions", json={"name": "Mine"}, headers=county_admin), "/institutions")  # 403

    # Changes: role, deactivation (takes the user's credentials away), password reset, unlock.
    url = f"/api/users/{doc['id']}"
    changed = contract.check(c.patch(url, json={"role": "reporting_doctor"}, headers=county_admin), "/users/{user_id}")
    assert changed["role"] == "reporting_doctor"
    contract.check(c.patch(url, json={"role": "admin"}, headers=county_admin), "/users/{user_id}")  # 403
    contract.check(c.patch(url, json={"role": "boss"}, headers=admin), "/users/{user_id}")  # 400
    contract.check(c.patch(url, json={"colour": "red"}, headers=admin), "/users/{user_id}")  # 400
    contract.check(c.patch("/api/users/999999", json={}, headers=admin), "/users/{user_id}")  # 404
    contract.check(c.patch(url, json={}), "/users/{user_id}")  # 401
    contract.check(c.patch(url, json={}, headers=doctor_token), "/users/{user_id}")  # 403
    contract.check(c.patch(url, json={"password": "New-password-2", "unlock": True}, headers=admin), "/users/{user_id}")
    assert login(c, "county-doc", "New-password-2").status_code == 200
    contract.check(c.patch(url, json={"active": False}, headers=admin), "/users/{user_id}")
    assert login(c, "county-doc", "New-password-2").status_code == 401


async def _by_name(ctx: Any, name: str) -> Any:
    from server.auth.accounts import user_by_name
    return await user_by_name(ctx, name)
