"""``cirrus ingest`` as a real process: folders and ZIPs, summary, exit codes, hostile input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, live_server_env
from tests.server.services import hostile_archives as hostile


def cirrus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )


def test_cli_ingest_folder_and_zip(sqlite_url: str, shared_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = live_server_env(sqlite_url, data)
    m0 = shared_data / "asl/siemens/pasl3d/13_pasl_3d_m0"
    archive = tmp_path / "m0.zip"
    archive.write_bytes(hostile.dicom_zip(sorted(m0.glob("*.dcm"))))
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")

    first = cirrus(env, "ingest", "--no-analysis", str(m0), str(notes))
    assert first.returncode == 0, first.stderr
    assert "stored 2, already present 0, failed 0, skipped 1" in first.stdout
    assert "notes.txt: not a DICOM file" in first.stdout

    again = cirrus(env, "ingest", "--no-analysis", str(archive))
    assert again.returncode == 0 and "stored 0, already present 2" in again.stdout

    evil = tmp_path / "evil.zip"
    evil.write_bytes(hostile.traversal_zip())
    bad = cirrus(env, "ingest", str(evil))
    assert bad.returncode == 2
    assert "unsafe file name '../../etc/cirrus-owned'" in bad.stdout

    nothing = cirrus(env, "ingest", str(notes))
    assert nothing.returncode == 1 and "stored 0" in nothing.stdout
