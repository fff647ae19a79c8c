"""Per-client rate limits (requests per minute) and limits shared by the API processes (issue 12).

SQLite keeps the counts in the process; PostgreSQL in the database, so that N processes behind a
load balancer give a client the limit once, not N times, and a process killed with its requests in
progress does not keep their slots.
"""

from __future__ import annotations

import asyncio
import io
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from starlette.testclient import TestClient

from server import limits
from server.app import create_app
from server.limits import SharedLimiter
from server.routes.openapi import OPENAPI
from tests.auth_helpers import bearer, provision_token
from tests.conftest import ADMIN_PASSWORD, LiveServer, authed_client, live_server_env, make_database_url
from tests.dicom_helpers import ct_instance
from tests.server.routes.test_openapi_contract import Contract


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_local_limiter_counts_per_minute_window() -> None:
    clock = FakeClock(1_000_040.0)  # 40 s before its window (from 1,000,020) ends
    limiter = limits.LocalLimiter(limits.Limits({}, {limits.RENDER: 3, limits.UPLOAD: 0}), clock)

    async def run() -> None:
        for _ in range(3):
            await limiter.acquire(limits.RENDER, "user:1")
            await limiter.release(limits.RENDER, "user:1")
        with pytest.raises(limits.RateLimited) as err:
            await limiter.acquire(limits.RENDER, "user:1")
        assert err.value.retry_after == 40
        assert "the limit is 3 per minute (CIRRUS_RENDERS_PER_MINUTE)" in err.value.message
        await limiter.acquire(limits.RENDER, "user:2")  # another client counts apart
        for _ in range(20):
            await limiter.acquire(limits.UPLOAD, "user:1")  # 0: no limit
        clock.now += 40  # the next window
        await limiter.acquire(limits.RENDER, "user:1")

    asyncio.run(run())


@pytest.fixture
def app_client(database_url: str, settings_factory) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    settings = settings_factory(database_url, renders_per_minute=2, max_concurrent_renders=1,
                                max_concurrent_transcodes=0, transcodes_per_minute=0)
    with authed_client(create_app(settings)) as c:
        yield c


def test_the_app_keeps_the_counts_in_the_database_on_postgresql(app_client: TestClient, database_url: str) -> None:
    c = app_client
    limiter = c.app.state.limiter  # type: ignore[attr-defined]
    assert isinstance(limiter, SharedLimiter) == database_url.startswith("postgresql")
    clock = FakeClock(2_000_030.0)  # 10 s before its window ends
    limiter.clock = clock
    assert c.portal is not None
    call: Callable[..., object] = c.portal.call
    for _ in range(2):
        call(limiter.acquire, limits.RENDER, "user:9")
        call(limiter.release, limits.RENDER, "user:9")
    with pytest.raises(limits.RateLimited) as err:
        call(limiter.acquire, limits.RENDER, "user:9")
    assert err.value.retry_after == 10
    clock.now += 10
    call(limiter.acquire, limits.RENDER, "user:9")  # a new window; this one stays in progress
    with pytest.raises(limits.ConcurrencyLimited):
        call(limiter.acquire, limits.RENDER, "user:9")
    assert call(limiter.in_progress, limits.RENDER, "user:9") == 1
    call(limiter.release, limits.RENDER, "user:9")
    assert call(limiter.in_progress, limits.RENDER, "user:9") == 0
    # Rendered over HTTP: the admin's two renders of the window pass, the third answers 429.
    raw = ct_instance()
    ds = pydicom.dcmread(io.BytesIO(raw))
    assert c.post("/dicom-web/studies", content=raw, headers={"Content-Type": "application/dicom"}).status_code == 200
    inst = f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    clock.now += 60
    assert [c.get(inst + "/rendered").status_code for _ in range(3)] == [200, 200, 429]
    r = c.get(inst + "/thumbnail")
    assert r.status_code == 429 and r.headers["retry-after"] == "60", r.text
    assert "(CIRRUS_RENDERS_PER_MINUTE)" in r.json()["error"]


def _in_one_window(burst: Callable[[], list[int]]) -> list[int]:
    """``burst``'s statuses, from a run that did not straddle two windows of the limits."""
    for _ in range(3):
        window = time.time() // limits.RATE_WINDOW_SECONDS
        statuses = burst()
        if time.time() // limits.RATE_WINDOW_SECONDS == window:
            return statuses
        time.sleep(1)
    raise AssertionError("three bursts each straddled a window")


def _sign_in(server: LiveServer) -> httpx.Response:
    return httpx.post(f"{server.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                      timeout=60)


def test_sign_ins_per_client_address_answer_429_naming_the_limit(database_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    env = live_server_env(database_url, data_dir, CIRRUS_LOGINS_PER_MINUTE="3", CIRRUS_COOKIE_SECURE="false")
    server = LiveServer(env, data_dir).start(mint_token=False)
    try:
        statuses = _in_one_window(lambda: [_sign_in(server).status_code for _ in range(4)])
        # A burst right after the window of an earlier one: that one's sign-ins are not counted here.
        assert statuses == [200, 200, 200, 429], statuses
        r = _sign_in(server)
        assert r.status_code == 429
        Contract(OPENAPI).check(r, "/auth/login")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert "too many sign-ins from this client: the limit is 3 per minute (CIRRUS_LOGINS_PER_MINUTE)" \
            in r.json()["error"]
    finally:
        server.stop()


def _stalled_upload(server: LiveServer, token: str) -> socket.socket:
    """An upload whose body stops after a few bytes (its slot stays held while the request lives)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (f"POST /api/uploads/stream?filename=x.dcm HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/dicom\r\nContent-Length: 100000\r\n\r\n")
    sock.sendall(head.encode() + b"\0" * 128)
    return sock


def _upload(server: LiveServer, token: str) -> httpx.Response:
    return httpx.post(f"{server.url}/api/uploads/stream", params={"filename": "ct.dcm", "analyse": "0"},
                      content=ct_instance(), headers={**bearer(token), "Content-Type": "application/dicom"},
                      timeout=60)


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    yield from make_database_url("postgres", tmp_path)


def test_two_processes_share_the_limits_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    tech = provision_token(postgres_url, data_dir, "tech")
    env = live_server_env(postgres_url, data_dir, CIRRUS_MAX_CONCURRENT_UPLOADS="1",
                          CIRRUS_RENDERS_PER_MINUTE="4", CIRRUS_CONCURRENCY_RETRY_AFTER_SECONDS="3")
    one, two = LiveServer(env, data_dir).start(), LiveServer(env, data_dir).start()
    try:
        raw = ct_instance()
        ds = pydicom.dcmread(io.BytesIO(raw))
        r = httpx.post(f"{one.dicomweb_url}/studies", content=raw, timeout=60,
                       headers={**bearer(tech), "Content-Type": "application/dicom"})
        assert r.status_code == 200, r.text
        inst = (f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
                f"{ds.SOPInstanceUID}/rendered")

        def renders() -> list[int]:
            return [httpx.get(s.url + inst, headers=bearer(tech), timeout=60).status_code
                    for s in (one, two, one, two, two)]

        # Four renders a minute for this client in all: two through each process, the fifth refused.
        first = _in_one_window(renders)
        assert first == [200, 200, 200, 200, 429], first

        # An upload stalled on process one holds the client's only upload slot: process two refuses.
        sock = _stalled_upload(one, tech)
        try:
            deadline = time.monotonic() + 20
            while (r := _upload(two, tech)).status_code != 429 and time.monotonic() < deadline:
                time.sleep(0.2)  # until the stalled request has taken its slot
            assert r.status_code == 429, r.text
            assert r.headers["retry-after"] == "3"
            assert "the limit is 1 at a time (CIRRUS_MAX_CONCURRENT_UPLOADS)" in r.json()["error"]
            # kill -9 of process one: its slot is not in progress any more, process two takes it at once.
            one.kill()
            started = time.monotonic()
            r = _upload(two, tech)
            assert r.status_code == 200, r.text
            print(f"upload accepted {time.monotonic() - started:.2f} s after the slot holder was killed")
        finally:
            sock.close()
    finally:
        one.stop()
        two.stop()
