"""First reads as a viewer and a gateway meet them: Cirrus beside Orthanc, both on a fresh store.

    python bench/firstread.py [--quick] [--only cirrus|orthanc] [--stow-again]

Each server is started with its defaults (``cirrus serve`` with no tuning flags; Orthanc 1.10 from
Debian with the settings of Debian's ``/etc/orthanc/orthanc.json`` plus the DICOMweb plugin) on an
empty data folder, then, one server after the other (back to back, the load average recorded before
each), curl is the client of:

- STOW: the 1,000-instance synthetic CT (``bench/synth.py``) as 20 bodies × 50 instances, 4 in flight;
- series metadata: each of the 4 series once (first read), then 3 more times (warm);
- frames: frame 1 of 500 distinct instances, each URL once, 8 in flight (first read), then the same
  500 URLs again (warm);
- rendered: 200 other distinct instances as JPEG, each once, 4 in flight (first read), then again (warm);
- series retrieve: the 4 series at once (first read), then again (warm).

``--stow-again`` also deletes the study and stores it a second time (the condition under which
``bench/run.py`` used to measure Orthanc's STOW), to show what a delete does to the next STOW.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import synth  # noqa: E402
from bench.common import (  # noqa: E402
    BENCH_ADMIN_PASSWORD,
    FRAME_ACCEPT,
    INSTANCE_ACCEPT,
    ROOT,
    Process,
    cirrus_token,
    curl,
    free_port,
    percentile,
    stow_content_type,
    write_stow_body,
)
from bench.orthanc import Orthanc  # noqa: E402

JSON_ACCEPT = "application/dicom+json"

ROWS = [
    # key, label, format, better
    ("stow_instances_per_s", "STOW instances/s (20 x 50, 4 in flight)", "{:.0f}", "hi"),
    ("stow_again_instances_per_s", "STOW again after DELETE, instances/s", "{:.0f}", "hi"),
    ("metadata_first_ms", "series metadata first read ms (p50 of 4)", "{:.1f}", "lo"),
    ("metadata_warm_ms", "series metadata warm ms (p50 of 12)", "{:.1f}", "lo"),
    ("frames_first_per_s", "frames/s first read (500 distinct, 8 in flight)", "{:.0f}", "hi"),
    ("frames_warm_per_s", "frames/s warm (same 500 again)", "{:.0f}", "hi"),
    ("rendered_first_per_s", "rendered/s first read (200 distinct, 4 in flight)", "{:.1f}", "hi"),
    ("rendered_warm_per_s", "rendered/s warm (same 200 again)", "{:.0f}", "hi"),
    ("retrieve_first_mb_per_s", "series retrieve MB/s first (4 at once)", "{:.0f}", "hi"),
    ("retrieve_warm_mb_per_s", "series retrieve MB/s warm", "{:.0f}", "hi"),
]


class CirrusDefaults:
    """``cirrus serve --migrate`` on a fresh data folder: every other setting at its default."""

    def __init__(self, work: Path, workers: int | None = None, env: dict[str, str] | None = None) -> None:
        self.work = work
        self.workers = workers  # None: the default (one HTTP worker per core)
        self.extra_env = env or {}
        self.port = free_port()
        self.process: Process | None = None
        self.auth: list[str] = []  # the Authorization header of an admin token minted at start

    @property
    def dicomweb_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dicom-web"

    def start(self) -> CirrusDefaults:
        self.work.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIRRUS_")}
        env.update({"CIRRUS_DATA_DIR": str(self.work / "data"), "PYTHONPATH": str(ROOT),
                    "CIRRUS_ADMIN_PASSWORD": BENCH_ADMIN_PASSWORD, **self.extra_env})
        argv = [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port), "--migrate"]
        if self.workers is not None:
            argv += ["--workers", str(self.workers)]
        log = self.work / "cirrus.log"
        self.process = Process("Cirrus", argv, log, env=env, cwd=ROOT).start(f"http://127.0.0.1:{self.port}/", 240)
        # The port opens with the first worker; wait until every started worker has finished starting.
        deadline = time.monotonic() + 120
        time.sleep(1.0)
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            done = text.count("Application startup complete.")
            if done and done >= text.count("Started server process"):
                break
            time.sleep(0.2)
        self.auth = [f"Authorization: Bearer {cirrus_token(f'http://127.0.0.1:{self.port}')}"]
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()


def _series_paths(study: synth.StudyInfo) -> list[tuple[str, str]]:
    return [(s.series_uid, sop) for s in study.series for sop in s.sop_uids]


def instance_url(base: str, study: synth.StudyInfo, series: str, sop: str) -> str:
    return f"{base}/studies/{study.study_uid}/series/{series}/instances/{sop}"


def delete_study(name: str, base: str, study_uid: str, auth: list[str]) -> None:
    if name == "Cirrus":
        req = urllib.request.Request(f"{base}/studies/{study_uid}", method="DELETE",
                                     headers=dict(h.split(": ", 1) for h in auth))
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
        return
    root = base.rsplit("/dicom-web", 1)[0]
    req = urllib.request.Request(f"{root}/tools/lookup", data=study_uid.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        found = json.loads(r.read())
    for item in found:
        if item.get("Type") == "Study":
            req = urllib.request.Request(f"{root}/studies/{item['ID']}", method="DELETE")
            with urllib.request.urlopen(req, timeout=120) as r:
                r.read()


def measure(name: str, base: str, study: synth.StudyInfo, bodies: list[Path], boundary: str,
            frames_n: int, rendered_n: int, stow_again: bool, auth: Sequence[str] = ()
            ) -> tuple[dict[str, Any], list[str]]:
    """``auth``: header lines every request carries (Cirrus: its token)."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    auth = list(auth)
    stow_headers = [f"Content-Type: {stow_content_type(boundary)}", f"Accept: {JSON_ACCEPT}", *auth]

    def stow() -> float | None:
        run = curl([f"{base}/studies"] * len(bodies), headers=stow_headers, parallel=4, uploads=bodies)
        if not run.ok:
            notes.append(f"STOW answered {run.statuses}")
            return None
        return study.instance_count / run.wall

    out["stow_instances_per_s"] = stow()
    if stow_again:
        delete_study(name, base, study.study_uid, auth)
        out["stow_again_instances_per_s"] = stow()

    meta = [f"{base}/studies/{study.study_uid}/series/{s.series_uid}/metadata" for s in study.series]
    first = curl(meta, headers=[f"Accept: {JSON_ACCEPT}", *auth])
    warm = curl(meta * 3, headers=[f"Accept: {JSON_ACCEPT}", *auth])
    if first.ok and warm.ok:
        out["metadata_first_ms"] = percentile(first.latencies_ms(), 50)
        out["metadata_warm_ms"] = percentile(warm.latencies_ms(), 50)
    else:
        notes.append(f"metadata answered {first.statuses} / {warm.statuses}")

    pairs = _series_paths(study)
    # Frames: every other instance (spread over all series); rendered: others not read before.
    frame_pairs = pairs[0::2][:frames_n]
    rest = pairs[1::2]
    step = max(1, len(rest) // max(1, rendered_n))
    rendered_pairs = rest[::step][:rendered_n]
    frame_urls = [instance_url(base, study, se, sop) + "/frames/1" for se, sop in frame_pairs]
    frame_len = study.series[0].pixel_length
    for key in ("frames_first_per_s", "frames_warm_per_s"):
        run = curl(frame_urls, headers=[f"Accept: {FRAME_ACCEPT}", *auth], parallel=8)
        if not run.ok or run.bytes < len(frame_urls) * frame_len:
            notes.append(f"frames answered {run.statuses}, {run.bytes} bytes")
            break
        out[key] = run.per_second
    rendered_urls = [instance_url(base, study, se, sop) + "/rendered" for se, sop in rendered_pairs]
    for key in ("rendered_first_per_s", "rendered_warm_per_s"):
        run = curl(rendered_urls, headers=["Accept: image/jpeg", *auth], parallel=4)
        if not run.ok:
            notes.append(f"rendered answered {run.statuses}")
            break
        out[key] = run.per_second
    retrieve = [f"{base}/studies/{study.study_uid}/series/{s.series_uid}" for s in study.series]
    for key in ("retrieve_first_mb_per_s", "retrieve_warm_mb_per_s"):
        run = curl(retrieve, headers=[f"Accept: {INSTANCE_ACCEPT}", *auth], parallel=len(retrieve))
        if not run.ok or run.bytes < study.total_bytes:
            notes.append(f"series retrieve answered {run.statuses}, {run.bytes} bytes")
            break
        out[key] = run.mb_per_second
    return {k: v for k, v in out.items() if v is not None}, notes


def prepare_bodies(study: synth.StudyInfo, folder: Path, batch: int) -> tuple[list[Path], str]:
    folder.mkdir(parents=True, exist_ok=True)
    boundary = "cirrus-firstread-" + uuid.uuid4().hex
    paths = study.paths()
    bodies = []
    for i in range(0, len(paths), batch):
        body = folder / f"batch-{i // batch:03d}.multipart"
        write_stow_body(paths[i : i + batch], body, boundary)
        bodies.append(body)
    return bodies, boundary


def ratio_text(key: str, better: str, ours: dict[str, Any], peer: dict[str, Any]) -> str:
    if key not in ours or key not in peer or not peer[key] or not ours[key]:
        return ""
    r = ours[key] / peer[key] if better == "hi" else peer[key] / ours[key]
    return f"x{r:.2f}"


def render_table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    header = ["first read, fresh store, defaults", *names, "Cirrus vs Orthanc"]
    lines = []
    for key, label, fmt, better in ROWS:
        if not any(key in r for r in results.values()):
            continue
        cells = [label] + [fmt.format(results[n][key]) if key in results[n] else "–" for n in names]
        cells.append(ratio_text(key, better, results.get("Cirrus", {}), results.get("Orthanc", {})))
        lines.append(cells)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([row(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(row, lines)])


def run(a: argparse.Namespace, work: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    synth_dir = a.synth_dir / f"{a.series}x{a.instances}x{a.size}"
    study = synth.generate(synth_dir, a.series, a.instances, a.size)
    batch = max(1, study.instance_count // a.bodies)
    bodies, boundary = prepare_bodies(study, work / "stow", batch)
    results: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for name in a.only:
        server: Any = CirrusDefaults(work / "cirrus") if name == "Cirrus" else Orthanc(work / "orthanc")
        server.start()
        try:
            load = os.getloadavg()[0]
            print(f"{name}: first-read run, load average before {load:.2f}", flush=True)
            res, n = measure(name, server.dicomweb_url, study, bodies, boundary, a.frames, a.rendered, a.stow_again,
                             getattr(server, "auth", []))
            res["load_before"] = load
            results[name] = res
            notes += [f"{name}: {x}" for x in n]
        finally:
            server.stop()
    return results, notes


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--series", type=int, default=4)
    p.add_argument("--instances", type=int, default=250)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--bodies", type=int, default=20, help="STOW bodies (instances split evenly)")
    p.add_argument("--frames", type=int, default=500, help="distinct instances whose frame 1 is read once")
    p.add_argument("--rendered", type=int, default=200, help="distinct instances rendered once")
    p.add_argument("--stow-again", action="store_true", help="delete the study and STOW it a second time")
    p.add_argument(
        "--synth-dir", type=Path, default=Path(tempfile.gettempdir()) / "cirrus-bench-synth",
        help="where the synthetic study is generated (reused across runs)",
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="First reads on a fresh store: Cirrus beside Orthanc.")
    add_args(p)
    p.add_argument("--only", default="cirrus,orthanc", help="comma-separated: cirrus,orthanc (run in this order)")
    p.add_argument("--quick", action="store_true", help="2 series x 50 instances (to debug)")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    a = p.parse_args(argv)
    if a.quick:
        a.series, a.instances, a.frames, a.rendered, a.bodies = 2, 50, 50, 20, 4
    a.only = [{"cirrus": "Cirrus", "orthanc": "Orthanc"}[s.strip().lower()] for s in a.only.split(",") if s.strip()]
    work = Path(tempfile.mkdtemp(prefix="cirrus-firstread-"))
    try:
        results, notes = run(a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(render_table(results))
    for n in notes:
        print(f"note: {n}")
    loads = ", ".join(f"{k} {v['load_before']:.2f}" for k, v in results.items())
    print(f"\nload average before each run: {loads} on {os.cpu_count()} cores; Cirrus `cirrus serve` defaults, "
          "Orthanc Debian defaults + DICOMweb plugin; curl as the client")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
