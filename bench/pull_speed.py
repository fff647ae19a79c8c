"""PACS pull: throughput from Orthanc (instances/s) and time from "stable in the PACS" to the CBF result.

Starts Orthanc (Debian, own config and storage) as the hospital PACS with the Siemens 2D pCASL
study (102 ASL + 1 M0) and a real ``cirrus serve`` with the embedded pull worker
(``CIRRUS_PULL_EMBEDDED``) and one in-process analysis worker; a pull source and a rule are made
through ``/api/pull``. Figures, from the pull's decision log and QIDO-RS:

- pull throughput: instances / (first attempt logged → complete logged);
- stable → CBF: the "stable" event → the CBF series listed by QIDO-RS (includes the quiet period
  of the analysis detector, ``--quiet``).

The peer: Orthanc sending the same study by C-STORE to a second Orthanc (its REST
``/modalities/{peer}/store``, synchronous), the same DIMSE transfer without our ingest.

Usage::

    .venv/bin/python bench/pull_speed.py [--runs 2] [--quiet 2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pydicom

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT.parent / "shared" / "data" / "asl" / "siemens" / "pcasl2d"
sys.path.insert(0, str(ROOT))

from bench.analysis_e2e import cbf_series  # noqa: E402
from bench.common import BENCH_ADMIN_PASSWORD, cirrus_token, free_port, wait_http  # noqa: E402
from bench.orthanc import Orthanc  # noqa: E402


class PacsOrthanc(Orthanc):
    """Orthanc with C-MOVE destinations (``modalities``: name → (AE title, port)) and no plugins."""

    def __init__(self, work: Path, ae_title: str, modalities: dict[str, tuple[str, int]]) -> None:
        super().__init__(work)
        self.ae_title = ae_title
        self.modalities = modalities

    def write_config(self) -> Path:
        path = super().write_config()
        config = json.loads(path.read_text())
        config.update(DicomAet=self.ae_title, Plugins=[], DicomCheckCalledAet=False,
                      DicomModalities={n: [ae, "127.0.0.1", p] for n, (ae, p) in self.modalities.items()})
        config.pop("DicomWeb", None)
        path.write_text(json.dumps(config))
        return path


def dated_today(files: list[Path]) -> list[bytes]:
    """The study as acquired today (a pull rule's window is the source's today)."""
    today = datetime.now(UTC).strftime("%Y%m%d")
    out = []
    for f in files:
        ds = pydicom.dcmread(f)
        ds.StudyDate = today
        buf = io.BytesIO()
        ds.save_as(buf)
        out.append(buf.getvalue())
    return out


def load(orthanc: Orthanc, files: list[bytes]) -> str:
    for data in files:
        httpx.post(f"{orthanc.url}/instances", content=data, timeout=60).raise_for_status()
    return str(httpx.get(f"{orthanc.url}/studies", timeout=10).json()[0])


def peer_rate(work: Path, files: list[bytes]) -> float:
    """Instances/s of Orthanc → Orthanc C-STORE of the study."""
    dest = PacsOrthanc(work / "dest", "DEST", {})
    dest.start()
    try:
        src = PacsOrthanc(work / "src", "SRC", {"dest": ("DEST", dest.dicom_port)})
        src.start()
        try:
            study = load(src, files)
            t0 = time.perf_counter()
            r = httpx.post(f"{src.url}/modalities/dest/store", json={"Resources": [study], "Synchronous": True},
                           timeout=600)
            r.raise_for_status()
            return len(files) / (time.perf_counter() - t0)
        finally:
            src.stop()
    finally:
        dest.stop()


def _at(events: list[dict], kind: str) -> float | None:
    found = [e["at"] for e in events if e["kind"] == kind]
    return datetime.fromisoformat(found[0]).timestamp() if found else None


def one_run(work: Path, files: list[bytes], study_uid: str, quiet: float) -> dict[str, float]:
    pull_port, port = free_port(), free_port()
    pacs = PacsOrthanc(work / "pacs", "HOSPITAL", {"cirrus": ("CIRRUS_PULL", pull_port)})
    pacs.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRRUS_")}
    env.update(CIRRUS_DATA_DIR=str(work / "cirrus"), CIRRUS_WORKERS="1", CIRRUS_STABLE_SECONDS=str(quiet),
               CIRRUS_ADMIN_PASSWORD=BENCH_ADMIN_PASSWORD, CIRRUS_HTTP_WORKERS="1", CIRRUS_PULL_EMBEDDED="1",
               CIRRUS_PULL_PORT=str(pull_port), CIRRUS_PULL_POLL_SECONDS="1", CIRRUS_PULL_QUIET_SECONDS="0.5",
               PYTHONPATH=str(ROOT))
    (work / "cirrus").mkdir()
    with open(work / "server.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--migrate", "--port", str(port)],
                                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/openapi.json", proc)
        headers = {"Authorization": f"Bearer {cirrus_token(base)}"}
        with httpx.Client(base_url=base, timeout=60, headers=headers) as http:
            rule = {"name": "ASL", "study_filter": "ModalitiesInStudy=MR"}
            http.post("/api/pull/rules", json=rule).raise_for_status()
            load(pacs, files)
            http.post("/api/pull/sources", json={"name": "hospital", "ae_title": "HOSPITAL", "host": "127.0.0.1",
                                                 "port": pacs.dicom_port}).raise_for_status()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                uid, _ = cbf_series(http, study_uid)
                if uid:
                    done = time.time()
                    break
                time.sleep(0.1)
            else:
                why = http.get("/api/pull/why", params={"study": study_uid}).json()
                jobs = http.get(f"/api/jobs?study={study_uid}").json()
                raise SystemExit(f"no CBF series within 300 s: pull {why}, jobs {jobs}\n"
                                 + (work / "server.log").read_text()[-3000:])
            events = http.get("/api/pull/why", params={"study": study_uid}).json()["events"]
        stable, first, complete = _at(events, "stable"), _at(events, "attempt"), _at(events, "complete")
        assert stable and complete
        # The attempt event is logged when the retrieve ends: its start is the "stable" event here
        # (the queue is empty, the worker pulls at once).
        start = stable if first is None else min(first, stable)
        return {"rate": len(files) / (complete - start), "pull": complete - start, "to_cbf": done - stable}
    finally:
        proc.terminate()
        proc.wait(30)
        pacs.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--quiet", type=float, default=2.0, help="analysis quiet period in seconds (default 2)")
    args = p.parse_args()
    files = sorted(STUDY.rglob("*.dcm"))
    study_uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"study: Siemens 2D pCASL, {len(files)} instances, {size:.1f} MB; SQLite; analysis quiet {args.quiet:g} s")
    data = dated_today(files)
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="cirrus-pull-bench-") as tmp:
            r = one_run(Path(tmp), data, study_uid, args.quiet)
        runs.append(r)
        print(f"run {i + 1}: pull {r['pull']:.2f} s = {r['rate']:.0f} instances/s; "
              f"stable → CBF listed {r['to_cbf']:.2f} s")
    with tempfile.TemporaryDirectory(prefix="cirrus-pull-peer-") as tmp:
        peer = peer_rate(Path(tmp), data)
    print(f"pull throughput: Cirrus (C-MOVE from Orthanc, ingest, verify) median "
          f"{statistics.median(r['rate'] for r in runs):.0f} instances/s; peer Orthanc → Orthanc C-STORE "
          f"{peer:.0f} instances/s")
    print(f"stable in the PACS → CBF series listed: median {statistics.median(r['to_cbf'] for r in runs):.2f} s "
          f"(includes the {args.quiet:g} s analysis quiet period)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
