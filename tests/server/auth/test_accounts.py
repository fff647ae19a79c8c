"""Accounts below HTTP on SQLite and PostgreSQL: password hashing and policy, the first admin,
no password in any log, and the cached decisions expiring within 10 s (an injected clock)."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from starlette.requests import HTTPConnection

from server.app_errors import InvalidInput, TooManyAttempts, Unauthenticated
from server.auth import accounts, api_tokens, passwords
from server.auth.login import check_password
from server.auth.middleware import Authenticator
from server.auth.principal import AuthMethod, Role, Scope
from server.auth.sessions import start_session
from server.context import AppContext, open_context
from server.db.accounts import User
from server.db.database import utcnow
from tests.auth_helpers import PASSWORD, create_institution, create_user, token_for


@pytest.fixture
async def ctx(database_url: str, settings_factory) -> AsyncIterator[AppContext]:  # type: ignore[no-untyped-def]
    async with open_context(settings_factory(database_url, admin_password="", login_max_failures=5)) as c:
        yield c


def test_argon2id_hashes_and_the_policy_names_what_is_wrong() -> None:
    hashed = passwords.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert PasswordHasher().verify(hashed, PASSWORD)
    assert passwords.verify_password(hashed, PASSWORD)
    assert not passwords.verify_password(hashed, PASSWORD + "x")
    assert not passwords.verify_password(None, PASSWORD)  # unknown user: a dummy hash is checked
    assert not passwords.verify_password("not-a-hash", PASSWORD)
    assert passwords.hash_password(PASSWORD) != hashed  # salted
    cases = {"Short1!": "at least 10", "Zhang-San-01": "not be the username", "alllowercase": "more than one kind",
             "ALLUPPERCASE": "more than one kind", "12345678901": "more than one kind", "aaaaaaaa11": "repeat"}
    for password, reason in cases.items():
        problem = passwords.policy_problem(password, "zhang-san-01")
        assert problem and reason in problem, (password, problem)
    assert passwords.policy_problem("Correct-horse-7", "zhang") is None
    with pytest.raises(InvalidInput, match="at least 10"):
        passwords.check_policy("short")


async def test_first_admin_is_created_once_and_its_password_printed_once(
        ctx: AppContext, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # Several processes starting at once: exactly one creates the account and prints its password.
    created = await asyncio.gather(*(accounts.ensure_first_admin(ctx) for _ in range(3)))
    assert sorted(created) == [False, False, True]
    printed = capsys.readouterr().err
    assert printed.count("password:") == 1 and "username: admin" in printed
    password = printed.split("password:")[1].split()[0]
    assert password not in caplog.text  # on the console only, never in a log
    admin = await check_password(ctx, "admin", password, "127.0.0.1")
    assert admin.role == Role.ADMIN.value and admin.institution_id == ctx.institution_id
    assert await accounts.ensure_first_admin(ctx) is False
    assert capsys.readouterr().err == ""
    async with ctx.sessions() as s:
        assert (await s.exec(select(func.count()).select_from(User))).scalar_one() == 1


async def test_a_given_admin_password_is_used_and_no_password_is_ever_logged(
        database_url: str, settings_factory, caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    given, other, wrong, reset = "Given-admin-pw-9", "Other-user-pw-8", "Wrong-guess-pw-7", "Reset-user-pw-6"
    async with open_context(settings_factory(database_url, admin_password=given, login_max_failures=2)) as ctx:
        assert await accounts.ensure_first_admin(ctx)
        assert given not in capsys.readouterr().err  # a given password is not printed either
        await check_password(ctx, "admin", given, "10.0.0.1")
        user = await create_user(ctx, Role.REVIEWER, username="reviewer", password=other)
        for _ in range(2):
            with pytest.raises(Unauthenticated):
                await check_password(ctx, "reviewer", wrong, "10.0.0.2")
        with pytest.raises(TooManyAttempts):
            await check_password(ctx, "reviewer", other, "10.0.0.2")
        await accounts.update_user(ctx, None, int(user.id or 0), {"password": reset})
        await check_password(ctx, "reviewer", reset, "10.0.0.2")  # a reset unlocks
        token = await token_for(ctx, user)
    assert "locked" in caplog.text  # the lockout is logged ...
    for secret in (given, other, wrong, reset, token):
        assert secret not in caplog.text  # ... no password or token is


def _conn(headers: dict[str, str], method: str = "GET") -> HTTPConnection:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return HTTPConnection({"type": "http", "method": method, "path": "/dicom-web/studies", "headers": raw,
                           "query_string": b"", "client": ("127.0.0.1", 1)})


async def test_cached_decisions_expire_within_ten_seconds(ctx: AppContext) -> None:
    now = [1000.0]
    auth = Authenticator(ctx.settings, clock=lambda: now[0])
    assert ctx.settings.auth_cache_seconds == 10
    inst = await create_institution(ctx)
    user = await create_user(ctx, Role.REPORTING_DOCTOR, inst)
    token = await token_for(ctx, user, "read")
    conn = _conn({"Authorization": f"Bearer {token}"})
    principal = await auth.resolve(ctx, conn)
    assert principal is not None and principal.method is AuthMethod.TOKEN and principal.institution_id == inst
    assert principal.scopes == frozenset({Scope.READ}) and principal.role is Role.REPORTING_DOCTOR

    # A role change is seen once the cached decision expires (≤ 10 s), not before.
    await accounts.update_user(ctx, None, int(user.id or 0), {"role": "reviewer"})
    now[0] += 9.9
    assert (await auth.resolve(ctx, conn)).role is Role.REPORTING_DOCTOR  # type: ignore[union-attr]
    now[0] += 0.2
    assert (await auth.resolve(ctx, conn)).role is Role.REVIEWER  # type: ignore[union-attr]

    # A revoked token too.
    [(row, _)] = await api_tokens.list_tokens(ctx, None, int(user.id or 0))
    await api_tokens.revoke_token(ctx, None, int(row.id or 0))
    now[0] += 5
    assert await auth.resolve(ctx, conn) is not None
    now[0] += 5.1
    with pytest.raises(Unauthenticated, match="revoked"):
        await auth.resolve(ctx, conn)

    # And an ended session (logout-all in another process: only the database knows).
    cookie, _csrf = await start_session(ctx, user, "127.0.0.1", None)
    by_cookie = _conn({"Cookie": f"cirrus_session={cookie}"})
    assert (await auth.resolve(ctx, by_cookie)).method is AuthMethod.SESSION  # type: ignore[union-attr]
    await accounts.update_user(ctx, None, int(user.id or 0), {"active": False})
    now[0] += 10.1
    with pytest.raises(Unauthenticated, match="ended"):
        await auth.resolve(ctx, by_cookie)


async def test_expired_tokens_and_idle_sessions_are_refused(ctx: AppContext) -> None:
    auth = Authenticator(ctx.settings.model_copy(update={"auth_cache_seconds": 0}))
    user = await create_user(ctx, Role.TECHNOLOGIST)
    # A window wide enough for a loaded CI runner to check it before it closes, then wait past it.
    ends = utcnow() + timedelta(seconds=3)
    soon = await token_for(ctx, user, "stow", expires_at=ends)
    assert await auth.resolve(ctx, _conn({"Authorization": f"Bearer {soon}"})) is not None
    await asyncio.sleep(max(0.0, (ends - utcnow()).total_seconds()) + 0.1)
    with pytest.raises(Unauthenticated):
        await auth.resolve(ctx, _conn({"Authorization": f"Bearer {soon}"}))
    with pytest.raises(InvalidInput, match="future"):
        await api_tokens.create_token(ctx, None, int(user.id or 0), expires_at=utcnow() - timedelta(seconds=1))
    assert api_tokens.parse_duration("30d") == timedelta(days=30)
    with pytest.raises(InvalidInput):
        api_tokens.parse_duration("forever")


async def test_http_basic_only_when_enabled(ctx: AppContext) -> None:
    await create_user(ctx, Role.REVIEWER, username="legacy")
    good = "Basic " + base64.b64encode(f"legacy:{PASSWORD}".encode()).decode()
    bad = "Basic " + base64.b64encode(b"legacy:Wrong-password-1").decode()
    off = Authenticator(ctx.settings)
    assert ctx.settings.auth_basic is False
    assert await off.resolve(ctx, _conn({"Authorization": good})) is None  # not a credential it takes
    on = Authenticator(ctx.settings.model_copy(update={"auth_basic": True}))
    principal = await on.resolve(ctx, _conn({"Authorization": good}))
    assert principal is not None and principal.method is AuthMethod.BASIC and principal.username == "legacy"
    with pytest.raises(Unauthenticated):
        await on.resolve(ctx, _conn({"Authorization": bad}))
    with pytest.raises(Unauthenticated, match="malformed"):
        await on.resolve(ctx, _conn({"Authorization": "Basic !!!"}))
