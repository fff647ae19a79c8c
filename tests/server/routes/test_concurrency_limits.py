"""Per-client concurrency limits on rendering, transcoded frames and uploads (issue 12), SQLite and PostgreSQL.

Over the limit a request answers 429 at once, with Retry-After and a message naming the limit; the
slots are per principal (another account is not affected) and are given back when a request ends,
also when its client goes away mid-body.
"""

from __future__ import annotations

import asyncio
import io
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from starlette.testclient import TestClient

from server import limits
from server.app import create_app
from server.auth import api_tokens
from server.auth.principal import Role
from server.routes.openapi import OPENAPI
from tests.auth_helpers import bearer, create_user, provision_token, token_for
from tests.conftest import LiveServer, authed_client, live_server_env
from tests.dicom_helpers import ct_instance
from tests.server.routes.test_openapi_contract import Contract

JLS = 'multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.80'


def test_the_limiter_counts_per_kind_and_client() -> None:
    limiter = limits.LocalLimiter(limits.Limits({limits.RENDER: 2, limits.UPLOAD: 0}, retry_after=3))

    async def run() -> None:
        await limiter.acquire(limits.RENDER, "user:1")
        await limiter.acquire(limits.RENDER, "user:1")
        with pytest.raises(limits.ConcurrencyLimited) as err:
            await limiter.acquire(limits.RENDER, "user:1")
        assert err.value.retry_after == 3
        assert "the limit is 2 at a time (CIRRUS_MAX_CONCURRENT_RENDERS)" in err.value.message
        await limiter.acquire(limits.RENDER, "user:2")  # another client has its own slots
        for _ in range(50):
            await limiter.acquire(limits.UPLOAD, "user:1")  # 0: no limit
        await limiter.release(limits.RENDER, "user:1")
        await limiter.acquire(limits.RENDER, "user:1")
        assert await limiter.in_progress(limits.RENDER, "user:1") == 2

    asyncio.run(run())
    assert limits.kind_of("GET", "/dicom-web/studies/1.2/series/3/instances/4/frames/1/rendered") == limits.RENDER
    assert limits.kind_of("GET", "/dicom-web/studies/1.2/thumbnail") == limits.RENDER
    assert limits.kind_of("GET", "/wado") == limits.RENDER
    assert limits.kind_of("PUT", "/api/uploads/stream") == limits.UPLOAD
    assert limits.kind_of("GET", "/dicom-web/studies/1.2/series/3/instances/4/frames/1") is None
    assert limits.kind_of("GET", "/dicom-web/studies") is None
    assert limits.kind_of("POST", "/api/auth/login") == limits.LOGIN


@pytest.fixture
def limited(database_url: str, settings_factory) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    settings = settings_factory(database_url, max_concurrent_renders=1, max_concurrent_transcodes=1,
                                concurrency_retry_after_seconds=2)
    with authed_client(create_app(settings)) as c:
        yield c


def _technologist(c: TestClient) -> tuple[dict[str, str], str]:
    """Headers of a new technologist's token and the limiter's key for it."""
    ctx = c.app.state.ctx  # type: ignore[attr-defined]

    async def make() -> tuple[str, int]:
        user = await create_user(ctx, Role.TECHNOLOGIST)
        secret = await token_for(ctx, user, scope="stow")
        [(token, _)] = await api_tokens.list_tokens(ctx, None, user.id)
        return secret, int(token.id or 0)

    assert c.portal is not None
    secret, token_id = c.portal.call(make)
    return bearer(secret), f"token:{token_id}"


def test_rendered_and_transcoded_frames_over_the_limit_answer_429(limited: TestClient) -> None:
    c = limited
    raw = ct_instance()
    ds = pydicom.dcmread(io.BytesIO(raw))
    assert c.post("/dicom-web/studies", content=raw, headers={"Content-Type": "application/dicom"}).status_code == 200
    inst = f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    headers, key = _technologist(c)
    limiter: limits.ClientLimiter = c.app.state.limiter  # type: ignore[attr-defined]
    assert c.portal is not None
    assert c.get(inst + "/rendered", headers=headers).status_code == 200
    assert c.get(inst + "/frames/1", headers={**headers, "Accept": JLS}).status_code == 200

    c.portal.call(limiter.acquire, limits.RENDER, key)  # this client has one render in progress
    try:
        for path in ("/rendered", "/thumbnail", "/frames/1/rendered"):
            r = c.get(inst + path, headers=headers)
            assert r.status_code == 429, (path, r.text)
            assert r.headers["retry-after"] == "2"
            assert "the limit is 1 at a time (CIRRUS_MAX_CONCURRENT_RENDERS)" in r.json()["error"]
        wado = {"requestType": "WADO", "studyUID": ds.StudyInstanceUID, "seriesUID": ds.SeriesInstanceUID,
                "objectUID": ds.SOPInstanceUID}
        assert c.get("/wado", params=wado, headers=headers).status_code == 429
        assert c.get(inst + "/rendered").status_code == 200  # the admin's own slots are free
        assert c.get(inst + "/frames/1", headers={**headers, "Accept": JLS}).status_code == 200
    finally:
        c.portal.call(limiter.release, limits.RENDER, key)
    assert c.get(inst + "/rendered", headers=headers).status_code == 200

    c.portal.call(limiter.acquire, limits.TRANSCODE, key)
    try:
        r = c.get(inst + "/frames/1", headers={**headers, "Accept": JLS})
        assert r.status_code == 429 and "CIRRUS_MAX_CONCURRENT_TRANSCODES" in r.json()["error"], r.text
        # Frames sent as stored are not transcoded: not limited.
        assert c.get(inst + "/frames/1", headers=headers).status_code == 200
    finally:
        c.portal.call(limiter.release, limits.TRANSCODE, key)
    assert c.get(inst + "/frames/1", headers={**headers, "Accept": JLS}).status_code == 200
    assert c.portal.call(limiter.in_progress, limits.RENDER, key) == 0
    assert c.portal.call(limiter.in_progress, limits.TRANSCODE, key) == 0


def _stalled_upload(server: LiveServer, token: str) -> socket.socket:
    """An upload whose body stops after a few bytes (its slot stays held until the socket closes)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (f"POST /api/uploads/stream?filename=x.dcm HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/dicom\r\nContent-Length: 100000\r\n\r\n")
    sock.sendall(head.encode() + b"\0" * 128)
    return sock


def _upload(server: LiveServer, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.url}/api/uploads/stream", params={"filename": "ct.dcm", "analyse": "0"},
                      content=ct_instance(), headers={**headers, "Content-Type": "application/dicom"}, timeout=30)


def test_uploads_over_the_limit_answer_429_until_one_ends(database_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    other = provision_token(database_url, data_dir, "other-tech")
    env = live_server_env(database_url, data_dir, CIRRUS_MAX_CONCURRENT_UPLOADS="1",
                          CIRRUS_CONCURRENCY_RETRY_AFTER_SECONDS="5")
    server = LiveServer(env, data_dir).start()
    try:
        sock = _stalled_upload(server, server.token)
        try:
            deadline = time.monotonic() + 10
            while (r := _upload(server, server.headers)).status_code != 429 and time.monotonic() < deadline:
                time.sleep(0.1)  # until the stalled request has reached the limiter
            assert r.status_code == 429, r.text
            Contract(OPENAPI).check(r, "/uploads/stream")  # the documented error body
            assert r.headers["retry-after"] == "5"
            assert "too many uploads in progress for this client: the limit is 1 at a time " \
                   "(CIRRUS_MAX_CONCURRENT_UPLOADS)" in r.json()["error"]
            assert _upload(server, bearer(other)).status_code == 200  # another account uploads meanwhile
        finally:
            sock.close()
        deadline = time.monotonic() + 10
        while (r := _upload(server, server.headers)).status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.1)  # the server notices the closed connection and gives the slot back
        assert r.status_code == 200, r.text
    finally:
        server.stop()
