"""Recovery after kill -9 (issue 12): an intent no live process holds is recoverable at once.

A real child process opens the app context, records ``creating`` intents for a batch (phase one
of the two-phase write) and is killed with SIGKILL before it can finish. On PostgreSQL its
advisory-lock lease dies with its connection, so the resend of the batch is stored at once; an
intent whose process still lives keeps refusing ("being stored by another request").
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid
from starlette.testclient import TestClient

from server.app import create_app
from tests.conftest import ROOT, authed_client
from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart

CHILD = r"""
import asyncio, os, signal, sys
from pathlib import Path
from server.context import open_context
from server.auth.visibility import system_principal
from server.services.ingest import IngestService
from server.services.parse import parse_candidate
from server.settings import Settings

async def main():
    settings = Settings(data_dir=Path(sys.argv[1]), database_url=sys.argv[2], workers=0)
    async with open_context(settings) as ctx:
        todo = []
        for i, path in enumerate(sys.argv[3:]):
            data = Path(path).read_bytes()
            import hashlib
            todo.append((i, parse_candidate(hashlib.sha256(data).hexdigest(), data=data)))
        outcomes = [None] * len(todo)
        accepted = await IngestService(ctx)._phase_creating(todo, outcomes, system_principal(ctx.institution_id))
        assert len(accepted) == len(todo), outcomes
        print("INTENTS", flush=True)
        if os.environ.get("HOLD"):
            await asyncio.sleep(60)
        os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def _child(tmp_path: Path, url: str, parts: list[bytes], hold: bool = False) -> subprocess.Popen[str]:
    files = []
    for i, data in enumerate(parts):
        p = tmp_path / f"part{i}.dcm"
        p.write_bytes(data)
        files.append(str(p))
    env = {**os.environ, "PYTHONPATH": str(ROOT), **({"HOLD": "1"} if hold else {})}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "child"), url, *files], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "INTENTS"
    return proc


def _killed(proc: subprocess.Popen[str]) -> bool:
    code = proc.wait(30)
    assert proc.stdout is not None
    proc.stdout.close()
    return code == -9


def _stow(c: TestClient, parts: list[bytes]):  # type: ignore[no-untyped-def]
    return c.post("/dicom-web/studies", content=multipart(parts), headers={"Content-Type": STOW_TYPE})


def test_resend_after_kill_9_is_stored_at_once_on_postgresql(tmp_path: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_database_url

    gen = make_database_url("postgres", tmp_path)
    url = next(gen)
    try:
        study = generate_uid()
        parts = [ct_instance(study=study, number=i) for i in range(3)]
        proc = _child(tmp_path, url, parts)
        assert _killed(proc)
        with authed_client(create_app(settings_factory(url))) as c:
            started = time.monotonic()
            r = _stow(c, parts)
            assert r.status_code == 200, r.text
            assert time.monotonic() - started < 10
            assert len(c.get(f"/dicom-web/studies/{study}/instances").json()) == 3
            # A live holder keeps its intents: the resend is refused, not taken over.
            other = [ct_instance(study=generate_uid())]
            live = _child(tmp_path, url, other, hold=True)
            try:
                r = _stow(c, other)
                assert r.status_code == 409 and "being stored by another request" in r.text
            finally:
                live.kill()
                _killed(live)
            deadline = time.monotonic() + 10
            while (r := _stow(c, other)).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)  # the server notices the closed connection within moments
            assert r.status_code == 200, r.text
            sop = pydicom.dcmread(io.BytesIO(other[0])).SOPInstanceUID
            assert sop in r.text
    finally:
        for _ in gen:
            pass


def test_no_lease_on_sqlite_keeps_the_start_up_sweep(sqlite_url: str, tmp_path: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    """SQLite: the dead process's intents are swept when the app starts (one host, one process)."""
    parts = [ct_instance(study=generate_uid())]
    proc = _child(tmp_path, sqlite_url, parts)
    assert _killed(proc)
    with authed_client(create_app(settings_factory(sqlite_url, http_workers=1))) as c:
        assert _stow(c, parts).status_code == 200

