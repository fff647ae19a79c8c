"""Shared fixtures: databases (SQLite and PostgreSQL), blob stores, apps and live servers.

Everything here is real: a SQLite file, a PostgreSQL database created and
dropped per test session, a temp-dir blob store, and (in ``tests/s3``
fixtures) a moto S3 server process.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Re-exported: tests import these from here (the process helpers live in tests/processes.py).
from tests.processes import (  # noqa: F401
    ADMIN_PASSWORD,
    ROOT,
    LiveServer,
    free_port,
    live_server_env,
    wait_for_port,
)

SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
pytest_plugins = ["tests.s3_fixtures", "tests.xdist_schedule"]

PG_ADMIN_URL = os.environ.get("CIRRUS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_available() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 5432)) == 0


def _psql(sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


def make_database_url(kind: str, tmp: Path) -> Iterator[str]:
    """Yield a migrated, empty database URL of the given kind; drop it afterwards."""
    from server.db.migrate import upgrade

    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'cirrus.db'}"
        upgrade(url)
        yield url
        return
    if not pg_available():
        pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (make test starts it)")
    name = f"cirrus_test_{uuid.uuid4().hex[:12]}"
    _psql(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_database_url(request.param, tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    yield from make_database_url("sqlite", tmp_path)


@pytest.fixture
def settings_factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    from server.settings import Settings

    def make(database_url: str, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "workers": 0,
            "static_dir": str(tmp_path / "no-frontend"),
            "admin_password": ADMIN_PASSWORD,
            # Hundreds of apps per run: their render workers start on demand, not with each app.
            "render_prewarm": False,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


def authenticated(client):  # type: ignore[no-untyped-def]
    """``client`` (a started TestClient) sends an admin API token of the real ``admin`` account."""
    from tests.auth_helpers import admin_token

    assert client.portal is not None
    token = client.portal.call(admin_token, client.app.state.ctx)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def authed_client(app, base_url: str = "http://testserver", **kwargs):  # type: ignore[no-untyped-def]
    """A started TestClient of ``app`` authenticated as the admin (``with authed_client(app) as c``)."""
    import contextlib

    from starlette.testclient import TestClient

    @contextlib.contextmanager
    def run():  # type: ignore[no-untyped-def]
        with TestClient(app, base_url=base_url, **kwargs) as c:
            yield authenticated(c)

    return run()


@pytest.fixture
def client(database_url: str, settings_factory):  # type: ignore[no-untyped-def]
    """A Starlette TestClient (lifespan run) on SQLite and on PostgreSQL, signed in as the admin
    (an API token of the real ``admin`` account in its ``Authorization`` header)."""
    from server.app import create_app

    with authed_client(create_app(settings_factory(database_url))) as c:
        yield c


@pytest.fixture
def sqlite_client(sqlite_url: str, settings_factory):  # type: ignore[no-untyped-def]
    from server.app import create_app

    with authed_client(create_app(settings_factory(sqlite_url))) as c:
        yield c


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    server = LiveServer(live_server_env(database_url, data_dir), data_dir).start()
    try:
        yield server
    finally:
        server.stop()
