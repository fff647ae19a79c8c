"""Two real ``cirrus serve`` processes on one database and one blob store: a DELETE through one
reaches the other's cached series tables (through the change bus) — the other stops serving the
deleted instances' frames and rendered images within the change notification's delay, not after
the tables' 60 s lifetime."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom.uid import generate_uid

from tests.conftest import LiveServer, live_server_env
from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart

# PostgreSQL delivers a NOTIFY in milliseconds; SQLite's signal files are looked at twice a second.
DEADLINE = 3.0


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    env = live_server_env(database_url, data_dir)
    a = LiveServer(env, data_dir)
    b = LiveServer(env, data_dir)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_delete_through_one_process_stops_the_other_serving_the_study(two_servers) -> None:  # type: ignore[no-untyped-def]
    a, b = two_servers
    study, series = generate_uid(), generate_uid()
    sops = [generate_uid() for _ in range(3)]
    body = multipart([ct_instance(study, series, sop, number=i + 1) for i, sop in enumerate(sops)])
    stored = httpx.post(f"{a.dicomweb_url}/studies", content=body, timeout=60,
                        headers={**a.headers, "Content-Type": STOW_TYPE, "Accept": "application/dicom+json"})
    assert stored.status_code == 200, stored.text

    base = f"{b.dicomweb_url}/studies/{study}/series/{series}/instances"
    urls = [f"{base}/{sops[0]}/rendered", f"{base}/{sops[1]}/frames/1", f"{base}/{sops[2]}/rendered"]
    with httpx.Client(headers=b.headers, timeout=30) as other:
        # B reads the series' metadata (its table cached) and renders, twice: served from its caches.
        assert other.get(f"{b.dicomweb_url}/studies/{study}/series/{series}/metadata").status_code == 200
        for _ in range(2):
            assert [other.get(u).status_code for u in urls] == [200, 200, 200]

        deleted = httpx.delete(f"{a.dicomweb_url}/studies/{study}", headers=a.headers, timeout=30)
        assert deleted.status_code == 204, deleted.text
        started = time.monotonic()
        statuses: list[int] = []
        while time.monotonic() - started < DEADLINE:
            statuses = [other.get(u).status_code for u in urls]
            if statuses == [404, 404, 404]:
                break
            time.sleep(0.05)
        took = time.monotonic() - started
        assert statuses == [404, 404, 404], f"B still answers {statuses} {took:.1f} s after the DELETE"
        # And it stays gone (no table comes back from another cache).
        time.sleep(0.6)
        assert [other.get(u).status_code for u in urls] == [404, 404, 404]
