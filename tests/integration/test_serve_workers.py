"""`cirrus serve` with several HTTP worker processes on one SQLite file: STOW and reads at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from pydicom.uid import generate_uid

from server.settings import Settings
from tests.auth_helpers import bearer, live_admin_token
from tests.conftest import ROOT, free_port, live_server_env, make_database_url, wait_for_port
from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart


def test_default_is_one_http_worker_per_core() -> None:
    assert Settings(http_workers=0).resolved_http_workers == (os.cpu_count() or 1)
    assert Settings(http_workers=3).resolved_http_workers == 3


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def test_two_workers_store_and_read_concurrently_on_sqlite(tmp_path: Path) -> None:
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    url = next(make_database_url("sqlite", tmp_path))
    env = live_server_env(url, data_dir, CIRRUS_HTTP_WORKERS="2")
    port = free_port()
    log_path = data_dir / "server.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for_port(port, timeout=90, proc=proc)
        deadline = time.monotonic() + 90
        while log_path.read_text().count("Application startup complete.") < 2:
            assert time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.2)
        assert len(_children(proc.pid)) >= 2
        base = f"http://127.0.0.1:{port}/dicom-web"
        auth = bearer(live_admin_token(f"http://127.0.0.1:{port}"))
        study = generate_uid()
        series = [generate_uid() for _ in range(4)]
        errors: list[str] = []
        stored: list[tuple[str, str]] = []
        done = threading.Event()

        def writer(w: int) -> None:
            with requests.Session() as s:
                s.headers.update(auth)
                for b in range(5):
                    sops = [generate_uid() for _ in range(10)]
                    body = multipart([ct_instance(study=study, series=series[w], sop=sop, number=b * 10 + i + 1)
                                      for i, sop in enumerate(sops)])
                    r = s.post(f"{base}/studies", data=body, headers={"Content-Type": STOW_TYPE}, timeout=60)
                    if r.status_code != 200:
                        errors.append(f"STOW {r.status_code}: {r.text[:300]}")
                    stored.extend((series[w], sop) for sop in sops)

        def reader() -> None:
            with requests.Session() as s:
                s.headers.update(auth)
                while not done.is_set():
                    for path in (f"/studies?StudyInstanceUID={study}", f"/studies/{study}/series"):
                        r = s.get(base + path, timeout=60)
                        if r.status_code not in (200, 204):
                            errors.append(f"GET {path} {r.status_code}: {r.text[:300]}")
                    if stored:
                        se, sop = stored[len(stored) // 2]
                        r = s.get(f"{base}/studies/{study}/series/{se}/instances/{sop}/frames/1", timeout=60,
                                  headers={"Accept": 'multipart/related; type="application/octet-stream"'})
                        if r.status_code != 200:
                            errors.append(f"frame {r.status_code}: {r.text[:300]}")

        writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        readers = [threading.Thread(target=reader) for _ in range(2)]
        for t in writers + readers:
            t.start()
        for t in writers:
            t.join()
        done.set()
        for t in readers:
            t.join()
        assert errors == []
        meta = requests.get(f"{base}/studies/{study}/metadata", headers=auth, timeout=60).json()
        assert len(meta) == 200
        text = log_path.read_text()
        assert "database is locked" not in text
        assert "Traceback" not in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
