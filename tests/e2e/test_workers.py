"""Real processes: a ``cirrus serve`` API and ``cirrus worker`` processes on one database.

kill -9 of a worker in the middle of a job: the job is re-queued when its
lease expires and finishes once, with one result series. Jobs queued
when the server stops survive the restart.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, live_server_env
from tests.processes import CirrusProcess
from tests.server.workflow.analysis_helpers import wait_jobs, zip_folder


class Worker(CirrusProcess):
    # Short enough to keep the test quick, long enough for heartbeats on a loaded machine.
    stop_seconds = 15.0

    def __init__(self, env: dict[str, str], log: Path, lease: float = 6.0) -> None:
        super().__init__(env, log)
        self.launch(["worker", "--lease", str(lease), "--poll", "0.2", "--no-detector"])

    def kill9(self) -> None:
        self.kill()


@pytest.fixture
def api(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    data = tmp_path / "live"
    data.mkdir()
    env = live_server_env(database_url, data, CIRRUS_STABLE_SECONDS="1")
    server = LiveServer(env, data).start()
    try:
        yield server
    finally:
        server.stop()


def upload(http: httpx.Client, folder: Path) -> list[dict]:
    r = http.post("/api/uploads", files=[("f", (f"{folder.name}.zip", zip_folder(folder), "application/zip"))])
    assert r.status_code == 200, r.text
    return r.json()["jobs"]


@pytest.fixture
def http(api: LiveServer):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=api.url, timeout=120, headers=api.headers) as client:
        yield client


def test_worker_killed_mid_job_then_lease_expires_and_job_finishes_once(
    api: LiveServer, http: httpx.Client, shared_data: Path, tmp_path: Path
) -> None:
    [job] = upload(http, shared_data / "asl/siemens/pcasl2d")
    assert job["state"] == "queued"  # no worker in the API process (CIRRUS_WORKERS=0)

    first = Worker(api.env, tmp_path / "w1.log")
    try:
        deadline = time.monotonic() + 60
        seen = None
        while time.monotonic() < deadline:
            seen = http.get(f"/api/jobs/{job['id']}").json()
            if seen["state"] == "running" and seen["stage"] in ("quantifying", "storing"):
                break
            assert seen["state"] in ("queued", "running"), seen
            time.sleep(0.02)
        assert seen and seen["state"] == "running", seen
        assert f":{first.proc.pid}:" in seen["worker"]
        first.kill9()
    finally:
        first.stop()
    # Nobody holds the job now: it stays running until the lease (6 s) expires.
    assert http.get(f"/api/jobs/{job['id']}").json()["state"] == "running"

    second = Worker(api.env, tmp_path / "w2.log")
    third = Worker(api.env, tmp_path / "w3.log")
    try:
        done = wait_jobs(http.get, [job["id"]], timeout=120, final={"succeeded", "failed"})[job["id"]]
        assert done["state"] == "succeeded", done["reason"]
        assert done["attempts"] == 2
        [result] = done["results"]
        study = done["study_instance_uid"]
        cbf = http.get(f"/dicom-web/studies/{study}/series/{result['series']['CBF']}/metadata").json()
        slices = {i["00200013"]["Value"][0] for i in cbf}
        assert len(cbf) == len(slices)  # every slice once: no duplicate from the killed attempt

        # Two live workers share more jobs; none is run twice.
        more = upload(http, shared_data / "asl/siemens/pasl3d") + upload(http, shared_data / "asl/siemens/pcasl3d")
        rerun = http.post(f"/api/jobs/{job['id']}/rerun")
        assert rerun.status_code == 200 and rerun.json()["attempts"] == 0, rerun.text
        ids = [j["id"] for j in more] + [job["id"]]
        final = wait_jobs(http.get, ids, timeout=180, final={"succeeded", "failed"})
        for j in final.values():
            assert j["attempts"] == 1, j
        versions = [r["version"] for r in final[job["id"]]["results"]]
        assert versions == [1, 2]
    finally:
        second.stop()
        third.stop()


def test_queued_jobs_survive_a_server_restart(database_url: str, shared_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "live"
    data.mkdir()
    env = live_server_env(database_url, data, CIRRUS_STABLE_SECONDS="1")
    server = LiveServer(env, data).start()
    try:
        with httpx.Client(base_url=server.url, timeout=120, headers=server.headers) as http:
            [job] = upload(http, shared_data / "asl/siemens/pcasl2d")
        assert job["state"] == "queued"
    finally:
        server.kill()  # no clean shutdown
    restarted = LiveServer({**env, "CIRRUS_WORKERS": "1"}, data).start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=120, headers=restarted.headers) as http:
            done = wait_jobs(http.get, [job["id"]], timeout=120, final={"succeeded", "failed"})[job["id"]]
        assert done["state"] == "succeeded", done["reason"]
        assert len(done["results"]) == 1
    finally:
        restarted.stop()
