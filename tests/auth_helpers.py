"""Real accounts for tests: institutions, users and API tokens as rows of the test database.

Every helper goes through the same services the routes and the CLI use (``server.auth``); nothing
is faked. ``live_admin_token`` signs in to a running server over HTTP and mints a token there.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from pathlib import Path

import httpx

from server.auth import accounts, api_tokens
from server.auth.principal import Role
from server.context import AppContext, open_context
from server.db.accounts import User
from server.settings import Settings
from tests.processes import ADMIN_PASSWORD

PASSWORD = "Correct-horse-7"
_numbers = itertools.count(1)


async def create_institution(ctx: AppContext, name: str | None = None, parent_id: int | None = None) -> int:
    inst = await accounts.create_institution(ctx, None, name or f"Hospital {next(_numbers)}", parent_id)
    return int(inst.id or 0)


async def create_user(ctx: AppContext, role: Role = Role.ADMIN, institution_id: int | None = None,
                      username: str | None = None, password: str = PASSWORD, display_name: str = "") -> User:
    view = await accounts.create_user(
        ctx, None, username or f"{role.value.replace('_', '-')}-{next(_numbers)}", password, role=role,
        institution_id=institution_id if institution_id is not None else ctx.institution_id,
        display_name=display_name)
    return view.user


async def token_for(ctx: AppContext, user: User, scope: str = "admin", expires_at: datetime | None = None,
                    name: str = "test") -> str:
    _, secret = await api_tokens.create_token(ctx, None, int(user.id or 0), scope=scope, name=name,
                                              expires_at=expires_at)
    return secret


async def admin_token(ctx: AppContext) -> str:
    """An admin-scope token of the first ``admin`` account (created by the app's start)."""
    return await token_for(ctx, await accounts.user_by_name(ctx, accounts.FIRST_ADMIN))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(base_url: str, username: str, password: str) -> tuple[str, str]:
    """(session cookie value, CSRF token) of a sign-in over HTTP."""
    r = httpx.post(f"{base_url}/api/auth/login", json={"username": username, "password": password}, timeout=30)
    r.raise_for_status()
    return r.cookies.get("cirrus_session") or _cookie_of(r), r.json()["csrf_token"]


def _cookie_of(response: httpx.Response) -> str:
    # httpx keeps a Secure cookie sent over http:// out of its jar: read the header itself.
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == "cirrus_session":
            return rest.split(";")[0]
    raise AssertionError("no session cookie in the sign-in answer")


def live_admin_token(base_url: str, password: str = ADMIN_PASSWORD) -> str:
    """Sign in to a running server as ``admin`` and mint an admin-scope API token."""
    cookie, csrf = sign_in(base_url, accounts.FIRST_ADMIN, password)
    r = httpx.post(f"{base_url}/api/tokens", json={"scope": "admin", "name": "tests"}, timeout=30,
                   headers={"Cookie": f"cirrus_session={cookie}", "X-CSRF-Token": csrf})
    r.raise_for_status()
    return str(r.json()["secret"])


def provision_token(database_url: str, data_dir: Path, username: str, role: Role = Role.TECHNOLOGIST,
                    scope: str = "stow") -> str:
    """A user and an API token of theirs in a (migrated) database no server runs on yet; the token."""

    async def run() -> str:
        settings = Settings(database_url=database_url, data_dir=data_dir, admin_password=ADMIN_PASSWORD)
        async with open_context(settings) as ctx:
            await accounts.ensure_first_admin(ctx)  # as the server's first start would
            return await token_for(ctx, await create_user(ctx, role, username=username), scope, name=username)

    return asyncio.run(run())
