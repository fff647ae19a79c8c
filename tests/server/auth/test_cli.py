"""``cirrus user``, ``cirrus institution`` and ``cirrus token`` as processes against a real database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from server.app_errors import Unauthenticated
from server.auth.login import check_password
from server.auth.middleware import Authenticator
from server.auth.principal import Principal
from server.context import open_context
from server.settings import Settings
from tests.conftest import ROOT, live_server_env
from tests.server.auth.test_accounts import _conn


def cirrus(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env, cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120)


def resolve_token(settings: Settings, secret: str) -> Principal | None:
    async def run() -> Principal | None:
        async with open_context(settings) as ctx:
            return await Authenticator(settings).resolve(ctx, _conn({"Authorization": f"Bearer {secret}"}))

    return asyncio.run(run())


def test_institution_user_and_token_commands(sqlite_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = live_server_env(sqlite_url, data)
    made = cirrus(env, "institution", "create", "City Hospital")
    assert made.returncode == 0, made.stderr
    city = made.stdout.split("(id ")[1].split(")")[0]
    county = cirrus(env, "institution", "create", "County Hospital", "--parent", city)
    assert county.returncode == 0 and "County Hospital" in county.stdout
    listed = cirrus(env, "institution", "list").stdout
    assert "City Hospital" in listed and "County Hospital" in listed
    assert cirrus(env, "institution", "create", "City Hospital").returncode == 2  # taken

    weak = cirrus(env, "user", "create", "li", "--institution", city, "--role", "reviewer", "--password-stdin",
                  stdin="short\n")
    assert weak.returncode == 2 and "at least 10" in weak.stdout
    user = cirrus(env, "user", "create", "li", "--institution", city, "--role", "reporting_doctor",
                  "--display-name", "李医生", "--password-stdin", stdin="First-password-1\n")
    assert user.returncode == 0 and "City Hospital" in user.stdout, user.stdout + user.stderr
    assert "First-password-1" not in user.stdout + user.stderr
    changed = cirrus(env, "user", "passwd", "li", "--password-stdin", stdin="Second-password-2\n")
    assert changed.returncode == 0, changed.stdout
    users = cirrus(env, "user", "list").stdout
    assert "li" in users and "reporting_doctor" in users

    minted = cirrus(env, "token", "create", "--user", "li", "--scope", "read", "--expires", "30d", "--name", "viewer")
    assert minted.returncode == 0, minted.stdout + minted.stderr
    secret = minted.stdout.splitlines()[0]
    assert secret.startswith("cirrus_") and "shown once" in minted.stdout
    tokens = cirrus(env, "token", "list").stdout
    assert secret[:12] in tokens and secret not in tokens and "viewer" in tokens and "read" in tokens
    token_id = minted.stdout.split("token ")[1].split()[0]
    assert cirrus(env, "token", "create", "--user", "nobody").returncode == 2

    settings = Settings(database_url=sqlite_url, data_dir=data, auth_cache_seconds=0)

    async def sign_in() -> str:
        async with open_context(settings) as ctx:
            return (await check_password(ctx, "li", "Second-password-2", "127.0.0.1")).username

    assert asyncio.run(sign_in()) == "li"
    principal = resolve_token(settings, secret)
    assert principal is not None and principal.username == "li"
    assert cirrus(env, "token", "revoke", token_id).returncode == 0
    assert "revoked" in cirrus(env, "token", "list").stdout
    with pytest.raises(Unauthenticated):
        resolve_token(settings, secret)
