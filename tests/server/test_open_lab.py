"""``CIRRUS_ACCESS_CONTROL_OFF`` (benchmarks, lab): loopback only, refused elsewhere (issue 11, bench comparison)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpx
import pydicom
from pydicom.datadict import tag_for_keyword

from server.auth import open_lab
from tests.conftest import ROOT, LiveServer, live_server_env
from tests.dicom_helpers import ct_instance


def test_loopback_addresses() -> None:
    assert all(open_lab.is_loopback(h) for h in ("127.0.0.1", "127.8.0.2", "::1", "[::1]", "localhost"))
    assert not any(open_lab.is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "pacs.example.org", ""))


def test_serve_refuses_a_non_loopback_bind(sqlite_url: str, tmp_path: Path) -> None:
    env = live_server_env(sqlite_url, tmp_path, CIRRUS_ACCESS_CONTROL_OFF="true")
    done = subprocess.run([sys.executable, "-m", "server.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode != 0
    assert "CIRRUS_ACCESS_CONTROL_OFF is for benchmarks and lab use on this machine only; it refuses to listen " \
           "on '0.0.0.0'" in done.stderr


def test_access_control_off_answers_loopback_only(sqlite_url: str, tmp_path: Path) -> None:
    env = live_server_env(sqlite_url, tmp_path, CIRRUS_ACCESS_CONTROL_OFF="true")
    server = LiveServer(env, tmp_path).start(mint_token=False)
    try:
        raw = ct_instance()
        ds = pydicom.dcmread(io.BytesIO(raw))
        r = httpx.post(f"{server.dicomweb_url}/studies", content=raw, headers={"Content-Type": "application/dicom"},
                       timeout=60)
        assert r.status_code == 200, r.text  # no credentials: this machine acts as the administrator
        found = httpx.get(f"{server.dicomweb_url}/studies", timeout=60).json()
        study_uid = f"{tag_for_keyword('StudyInstanceUID'):08X}"
        assert [s[study_uid]["Value"][0] for s in found] == [ds.StudyInstanceUID]
        # A client elsewhere (through the trusted local proxy) is refused.
        r = httpx.get(f"{server.dicomweb_url}/studies", headers={"X-Forwarded-For": "203.0.113.5"}, timeout=60)
        assert r.status_code == 403
        assert "only requests from this machine are answered" in r.json()["error"]
        assert "ACCESS CONTROL IS OFF" in server.output()
    finally:
        server.stop()
