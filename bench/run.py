"""Cirrus against Orthanc and an nginx roof on a synthetic CT study; prints one table.

    python bench/run.py [--compare URL] [--json] [--quick]

Starts its own Cirrus (``python -m server.cli serve`` on a temp data dir), Orthanc (Debian packages
``orthanc`` + ``orthanc-dicomweb``, own temp config) and nginx (serving the same bytes as static
files: the physical roof of this machine), stores the study (4 series × 250 instances, 512×512,
16-bit) in both servers and measures:

- STOW instances/s: multipart batches posted in parallel by curl (and to an nginx sink, the client roof);
- QIDO p50/p95: typical study/series/instance queries, one connection, one at a time;
- series metadata latency: cold (first request after a server restart) and warm (250 instances);
- frames/s: wrk cycling over every frame URL with 8 connections (nginx: the raw frame files);
- series retrieve MB/s: the 4 series retrieved at once (nginx: each series' files concatenated), by a
  client reading into 4 MB buffers (``bench.common.bulk_get``) and, for comparison, by curl.

``--auth-compare`` (``make bench`` passes it) also starts a second Cirrus with access control off
(``CIRRUS_ACCESS_CONTROL_OFF``: no authentication, tenancy rule or request audit; loopback only),
measures it interleaved with the first, and prints access control on vs off per metric with the
issue's 10 % bound.

``--compare URL`` measures an already-running DICOMweb server (its STOW endpoint must accept the
study) instead of starting Orthanc. Results can be written to ``bench/results/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import firstread, synth  # noqa: E402
from bench.common import (  # noqa: E402
    BENCH_ADMIN_PASSWORD,
    FRAME_ACCEPT,
    INSTANCE_ACCEPT,
    ROOT,
    Process,
    bulk_get,
    cirrus_token,
    curl,
    free_port,
    percentile,
    stow_content_type,
    write_stow_body,
    wrk,
)
from bench.orthanc import Nginx, Orthanc  # noqa: E402

JSON_ACCEPT = "application/dicom+json"
RESULTS = ROOT / "bench" / "results"
# How long a server may take to start: its imports alone take half a minute on a loaded machine.
START_SECONDS = 180.0


# -- servers ------------------------------------------------------------------------------------


class Cirrus:
    def __init__(self, work: Path, storage_url: str = "", workers: int = 1, access_control: bool = True) -> None:
        self.work = work
        # Off: CIRRUS_ACCESS_CONTROL_OFF (loopback only), no token, no audit — for --auth-compare.
        self.access_control = access_control
        self.workers = workers
        self.port = free_port()
        self.storage_url = storage_url
        self.process: Process | None = None
        self.startup_failures = 0
        self.token = ""  # an admin API token, minted at each start

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def start(self) -> Cirrus:
        self.work.mkdir(parents=True, exist_ok=True)
        # The caller's S3 settings pass through (for --cirrus-storage-url s3://...); nothing else does.
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIRRUS_") or k.startswith("CIRRUS_S3_")}
        env.update({"CIRRUS_DATA_DIR": str(self.work / "data"), "CIRRUS_WORKERS": "0", "PYTHONPATH": str(ROOT),
                    "CIRRUS_ADMIN_PASSWORD": BENCH_ADMIN_PASSWORD,
                    # One token drives every connection: the per-client limits would turn capacity into 429s.
                    "CIRRUS_MAX_CONCURRENT_RENDERS": "0", "CIRRUS_MAX_CONCURRENT_TRANSCODES": "0",
                    "CIRRUS_MAX_CONCURRENT_UPLOADS": "0"})
        if self.storage_url:
            env["CIRRUS_STORAGE_URL"] = self.storage_url
        if not self.access_control:
            env["CIRRUS_ACCESS_CONTROL_OFF"] = "true"
        argv = [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port), "--migrate"]
        argv += ["--workers", str(self.workers)]
        log = self.work / "cirrus.log"
        for _attempt in range(3):
            offset = log.stat().st_size if log.exists() else 0
            self.process = Process("Cirrus", argv, log, env=env, cwd=ROOT).start(f"{self.url}/", timeout=START_SECONDS)
            if self._workers_up(log, offset):
                self.token = cirrus_token(self.url) if self.access_control else ""
                return self
            # Seen on a fresh database with several workers: they race to create the default
            # institution, one dies and uvicorn stops the rest. A second start finds the row.
            self.startup_failures += 1
            self.process.stop()
        raise RuntimeError(f"Cirrus workers did not all start; see {log}")

    def _workers_up(self, log: Path, offset: int, timeout: float = START_SECONDS) -> bool:
        """True once every HTTP worker has logged a completed start-up (the port opens at the first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(log, "rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
            if "Application startup failed" in text or "failed to start" in text:
                return False
            if text.count("Application startup complete.") >= self.workers:
                return True
            if self.process is None or self.process.proc is None or self.process.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process:
            self.process.stop()


@dataclass
class Target:
    name: str
    dicomweb_url: str
    restart: Callable[[], None] | None = None
    reset: Callable[[Target, str], None] | None = None  # restarts the server on an empty store
    server: Any = None  # the Cirrus/Orthanc object when the harness started it
    auth: Callable[[], list[str]] = lambda: []  # header lines each request carries (a Cirrus token)
    results: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)
    frame_host: str = ""
    frame_paths: list[str] = field(default_factory=list)
    retrieve_urls: list[str] = field(default_factory=list)


# -- the study as files for the roof and the STOW bodies ----------------------------------------


def prepare_roof(study: synth.StudyInfo, root: Path) -> None:
    """Raw frame bytes as one file per frame, and each series' files concatenated, for nginx."""
    frames = root / "frames"
    series_dir = root / "series"
    if (root / ".done").exists():
        return
    frames.mkdir(parents=True, exist_ok=True)
    series_dir.mkdir(parents=True, exist_ok=True)
    for s in study.series:
        with open(series_dir / f"{s.number}.bin", "wb") as cat:
            for rel, sop, off in zip(s.files, s.sop_uids, s.pixel_offsets, strict=True):
                raw = (Path(study.root) / rel).read_bytes()
                (frames / f"{sop}.raw").write_bytes(raw[off : off + s.pixel_length])
                cat.write(raw)
    (root / ".done").touch()


def prepare_stow(study: synth.StudyInfo, folder: Path, batch: int) -> tuple[list[Path], str]:
    folder.mkdir(parents=True, exist_ok=True)
    boundary = "cirrus-bench-" + uuid.uuid4().hex
    paths = study.paths()
    bodies = []
    for i in range(0, len(paths), batch):
        body = folder / f"batch-{i // batch:03d}.multipart"
        write_stow_body(paths[i : i + batch], body, boundary)
        bodies.append(body)
    return bodies, boundary


# -- measurements -------------------------------------------------------------------------------


def get_json(url: str, auth: list[str] | None = None) -> Any:
    extra = dict(h.split(": ", 1) for h in auth or [])
    req = urllib.request.Request(url, headers={"Accept": JSON_ACCEPT, **extra})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def measure_stow(t: Target, bodies: list[Path], boundary: str, count: int, parallel: int) -> None:
    run = curl(
        [f"{t.dicomweb_url}/studies"] * len(bodies),
        headers=[f"Content-Type: {stow_content_type(boundary)}", f"Accept: {JSON_ACCEPT}", *t.auth()],
        parallel=parallel,
        uploads=bodies,
    )
    if not run.ok:
        t.notes.append(f"STOW answered {run.statuses}")
        return
    t.samples.setdefault("stow_instances_per_s", []).append(count / run.wall)


def fresh_cirrus(t: Target, _study_uid: str) -> None:
    c = t.server
    c.stop()
    shutil.rmtree(c.work / "data", ignore_errors=True)
    c.start()


def fresh_orthanc(t: Target, _study_uid: str) -> None:
    o = t.server
    o.stop()
    for folder in ("storage", "index"):
        shutil.rmtree(o.work / folder, ignore_errors=True)
    o.start()


def measure_stow_all(targets: list[Target], study: synth.StudyInfo, bodies: list[Path], boundary: str, a: Any) -> None:
    """STOW the study into every server, ``--stow-repeats`` times, alternating servers.

    Every sample stores into an empty store: between repetitions a server this harness started is
    restarted on a fresh data folder (servers that cannot be reset are measured once). Deleting the
    study instead left each server's index and files in the state a delete leaves, and the previous
    sample's written-back pages competed with the next sample's writes; ``os.sync()`` before each
    sample keeps one server's write-back out of the other's figure.
    """
    for rep in range(a.stow_repeats):
        for t in targets:
            if rep and t.reset is None:
                continue
            try:
                if rep:
                    t.reset(t, study.study_uid)  # type: ignore[misc]
                os.sync()
                measure_stow(t, bodies, boundary, study.instance_count, a.stow_parallel)
            except Exception as exc:
                t.notes.append(f"STOW repetition {rep + 1} failed: {exc}")
            check_alive(t, "stow")
        print(f"  STOW repetition {rep + 1}/{a.stow_repeats} done", flush=True)
    for t in targets:
        values = t.samples.get("stow_instances_per_s")
        if values:
            t.results["stow_instances_per_s"] = statistics.median(values)
            t.results["stow_instances_per_s_samples"] = [round(v, 1) for v in values]


def measure_stow_roof(sink: str, bodies: list[Path], boundary: str, count: int, parallel: int) -> float:
    run = curl(
        [sink] * len(bodies),
        headers=[f"Content-Type: {stow_content_type(boundary)}"],
        parallel=parallel,
        uploads=bodies,
    )
    if not run.ok:
        raise RuntimeError(f"the nginx sink answered {run.statuses}")
    return count / run.wall


def qido_urls(t: Target, study: synth.StudyInfo) -> list[str]:
    base = t.dicomweb_url
    st = study.study_uid
    se = study.series[0].series_uid
    return [
        f"{base}/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060",
        f"{base}/studies?PatientID={study.patient_id}",
        f"{base}/studies?StudyDate=20240101-20241231",
        f"{base}/studies?StudyInstanceUID={st}",
        f"{base}/studies/{st}/series",
        f"{base}/studies/{st}/series?includefield=0008103E%2C00080021",
        f"{base}/studies/{st}/series/{se}/instances",
    ]


def measure_qido(t: Target, study: synth.StudyInfo, rounds: int) -> None:
    urls = qido_urls(t, study)
    found = get_json(urls[3], t.auth())
    if not isinstance(found, list) or len(found) != 1:
        t.notes.append(f"QIDO by StudyInstanceUID returned {found!r:.80}")
    run = curl(urls * rounds, headers=[f"Accept: {JSON_ACCEPT}", *t.auth()])
    if not run.ok:
        t.notes.append(f"QIDO answered {run.statuses}")
        return
    lat = run.latencies_ms()
    t.results["qido_p50_ms"] = percentile(lat, 50)
    t.results["qido_p95_ms"] = percentile(lat, 95)


def metadata_urls(t: Target, study: synth.StudyInfo) -> list[str]:
    return [f"{t.dicomweb_url}/studies/{study.study_uid}/series/{s.series_uid}/metadata" for s in study.series]


def measure_metadata(t: Target, study: synth.StudyInfo, rounds: int) -> None:
    urls = metadata_urls(t, study)
    if t.restart is not None:
        t.restart()
        cold = curl(urls, headers=[f"Accept: {JSON_ACCEPT}", *t.auth()])
        if cold.ok:
            t.results["metadata_cold_ms"] = percentile(cold.latencies_ms(), 50)
        else:
            t.notes.append(f"cold metadata answered {cold.statuses}")
    else:
        t.notes.append("cold metadata not measured (server not started by the harness)")
    docs = get_json(urls[0], t.auth())
    expected = len(study.series[0].sop_uids)
    if not isinstance(docs, list) or len(docs) != expected:
        t.notes.append(f"series metadata held {len(docs) if isinstance(docs, list) else docs!r} of {expected}")
    warm = curl(urls * rounds, headers=[f"Accept: {JSON_ACCEPT}", *t.auth()])
    if not warm.ok:
        t.notes.append(f"warm metadata answered {warm.statuses}")
        return
    t.results["metadata_warm_ms"] = percentile(warm.latencies_ms(), 50)
    t.results["metadata_warm_p95_ms"] = percentile(warm.latencies_ms(), 95)
    t.results["metadata_bytes"] = warm.transfers[0].size


def frame_paths(t: Target, study: synth.StudyInfo) -> list[str]:
    prefix = t.dicomweb_url.removeprefix("http://").partition("/")[2]
    return [
        f"/{prefix}/studies/{study.study_uid}/series/{s.series_uid}/instances/{sop}/frames/1"
        for s in study.series
        for sop in s.sop_uids
    ]


def host_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.partition('/')[0]}"


def plan_throughput(t: Target, study: synth.StudyInfo) -> None:
    """Decide the frame paths and series URLs of a server, after checking one answer of each."""
    t.frame_host = host_of(t.dicomweb_url)
    t.frame_paths = frame_paths(t, study)
    check = curl([t.frame_host + t.frame_paths[0]], headers=[f"Accept: {FRAME_ACCEPT}", *t.auth()])
    if not check.ok or check.transfers[0].size < study.series[0].pixel_length:
        t.notes.append(f"frame request answered {check.statuses}, {check.transfers[0].size} bytes")
        t.frame_paths = []
    t.retrieve_urls = [f"{t.dicomweb_url}/studies/{study.study_uid}/series/{s.series_uid}" for s in study.series]


def plan_roof(nginx: Nginx, study: synth.StudyInfo) -> Target:
    roof = Target("nginx roof", nginx.url)
    roof.frame_host = nginx.url
    roof.frame_paths = [f"/frames/{sop}.raw" for s in study.series for sop in s.sop_uids]
    roof.retrieve_urls = [f"{nginx.url}/series/{s.number}.bin" for s in study.series]
    return roof


def sample_frames(t: Target, study: synth.StudyInfo, a: Any) -> None:
    if not t.frame_paths:
        return
    run = wrk(t.frame_host, t.frame_paths, FRAME_ACCEPT, seconds=a.seconds, connections=a.connections,
              headers=t.auth())
    if run.errors:
        t.notes.append(f"frames: {run.errors} of {run.requests} requests failed")
        return
    # wrk counts answers, not their content: every answer must carry a whole frame (wrk prints the
    # byte total rounded to 3 digits, hence the slack).
    if run.bytes < 0.98 * run.requests * study.series[0].pixel_length:
        t.notes.append(f"frames: {run.bytes} bytes read for {run.requests} answers, less than a frame each")
        return
    t.samples.setdefault("frames_per_s", []).append(run.per_second)
    if run.latency_p50_ms is not None:
        t.samples.setdefault("frames_p50_ms", []).append(run.latency_p50_ms)


def sample_retrieve(t: Target, study: synth.StudyInfo, a: Any) -> None:
    """The 4 series at once, twice over: with curl, and with a client that reads in 4 MB gulps
    (curl's 16 KB reads cap a 2-core machine below what the servers can send)."""
    if not t.retrieve_urls:
        return
    urls = t.retrieve_urls * a.retrieve_rounds
    expected = study.total_bytes * a.retrieve_rounds
    run = curl(urls, headers=[f"Accept: {INSTANCE_ACCEPT}", *t.auth()], parallel=len(t.retrieve_urls))
    if not run.ok or run.bytes < expected:
        t.notes.append(f"series retrieve answered {run.statuses}, {run.bytes} of >= {expected} bytes")
        t.retrieve_urls = []
        return
    t.samples.setdefault("retrieve_curl_mb_per_s", []).append(run.mb_per_second)
    bulk = bulk_get(urls, headers=[f"Accept: {INSTANCE_ACCEPT}", *t.auth()], connections=len(t.retrieve_urls))
    if not bulk.ok or bulk.bytes < expected:
        t.notes.append(f"series retrieve (bulk client) answered {bulk.statuses}, {bulk.bytes} of >= {expected}")
        return
    t.samples.setdefault("retrieve_mb_per_s", []).append(bulk.mb_per_second)


def measure_throughput(subjects: list[Target], study: synth.StudyInfo, a: Any) -> None:
    """Frames and retrieve, alternating between the servers each repetition, medians kept.

    The machine is shared, so its load drifts; interleaving gives each server the same weather.
    """
    for rep in range(a.repeats):
        for t in subjects:
            for name, step in (
                ("frames", functools.partial(sample_frames, t, study, a)),
                ("retrieve", functools.partial(sample_retrieve, t, study, a)),
            ):
                if name in a.skip:
                    continue
                try:
                    step()
                except Exception as exc:
                    t.notes.append(f"{name} failed: {exc}")
                check_alive(t, name)
        print(f"  throughput repetition {rep + 1}/{a.repeats} done", flush=True)
    for t in subjects:
        for key, values in t.samples.items():
            t.results[key] = statistics.median(values)
            t.results[key + "_samples"] = [round(v, 1) for v in values]


def measure_target(t: Target, study: synth.StudyInfo, bodies: list[Path], boundary: str, a: Any) -> None:
    steps: list[tuple[str, Callable[[], None]]] = [
        ("qido", functools.partial(measure_qido, t, study, a.qido_rounds)),
        ("metadata", functools.partial(measure_metadata, t, study, a.metadata_rounds)),
        ("plan", functools.partial(plan_throughput, t, study)),
    ]
    for name, step in steps:
        if name in a.skip:
            continue
        print(f"  {t.name}: {name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            step()
        except Exception as exc:  # one failing measurement must not hide the others
            t.notes.append(f"{name} failed: {exc}")
        print(f"  {t.name}: {name} done in {time.perf_counter() - t0:.1f} s", flush=True)
        check_alive(t, name)


def check_alive(t: Target, step: str) -> None:
    """A server that died mid-run explains every later failure: say so, with its log's tail."""
    proc = t.server.process if t.server is not None and t.server.process is not None else None
    if proc is None or proc.proc is None or proc.proc.poll() is None:
        return
    t.notes.append(f"{t.name} exited with code {proc.proc.returncode} during {step}; log tail:\n{proc.tail(30)}")
    t.server.start()  # so the remaining measurements still say something


# -- report -------------------------------------------------------------------------------------

ROWS = [
    # key, label, format, better ("hi"/"lo")
    ("stow_instances_per_s", "STOW instances/s", "{:.0f}", "hi"),
    ("qido_p50_ms", "QIDO p50 ms", "{:.1f}", "lo"),
    ("qido_p95_ms", "QIDO p95 ms", "{:.1f}", "lo"),
    ("metadata_cold_ms", "series metadata cold ms", "{:.0f}", "lo"),
    ("metadata_warm_ms", "series metadata warm ms", "{:.1f}", "lo"),
    ("frames_per_s", "frames/s (512 KB, 8 conns)", "{:.0f}", "hi"),
    ("retrieve_mb_per_s", "series retrieve MB/s (4 at once)", "{:.0f}", "hi"),
    ("retrieve_curl_mb_per_s", "  same, curl as the client", "{:.0f}", "hi"),
]


def targets_met(c: dict[str, Any], peer: dict[str, Any], roof: dict[str, Any]) -> dict[str, str]:
    """The issue's speed targets, as 'yes (x2.3)' / 'no (x1.1)' strings."""
    out: dict[str, str] = {}

    def ratio(key: str) -> float | None:
        if key in c and key in peer and peer[key]:
            return float(c[key]) / float(peer[key])
        return None

    r = ratio("stow_instances_per_s")
    if r is not None:
        out["stow_instances_per_s"] = f"{'yes' if r >= 2 else 'no'}: x{r:.2f} (>= x2)"
    r = ratio("metadata_warm_ms")
    if r is not None:
        out["metadata_warm_ms"] = f"{'yes' if r <= 0.1 else 'no'}: x{r:.3f} (<= x0.1)"
    r = ratio("frames_per_s")
    if r is not None and "frames_per_s" in roof:
        of_roof = c["frames_per_s"] / roof["frames_per_s"]
        ok = r >= 2 and of_roof >= 0.5
        out["frames_per_s"] = f"{'yes' if ok else 'no'}: x{r:.2f} (>= x2), {of_roof:.0%} of roof (>= 50%)"
    r = ratio("retrieve_mb_per_s")
    if r is not None:
        out["retrieve_mb_per_s"] = f"{'yes' if r >= 1.5 else 'no'}: x{r:.2f} (>= x1.5)"
    return out


OPEN_NAME = "Cirrus, access control off"
AUTH_TOLERANCE = 0.10  # issue 11: with access control on, the figures stay within 10 % of those without


def render_auth_compare(on: dict[str, Any], off: dict[str, Any]) -> str:
    """Access control on vs off per metric: the change, and whether "on" is within 10 % of "off"."""
    header = ["metric", "access control on", "off", "on vs off", "within 10 %"]
    lines = []
    for key, label, fmt, better in ROWS:
        a, b = on.get(key), off.get(key)
        if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
            continue
        change = a / b - 1
        worse = -change if better == "hi" else change  # > 0: access control made it worse
        lines.append([label.strip(), fmt.format(a), fmt.format(b), f"{change:+.1%}",
                      "yes" if worse <= AUTH_TOLERANCE else "no"])
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = ["access control on vs off (the same machine, the same run, interleaved):", row(header),
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [row(c) for c in lines])


def render_table(targets: list[Target], roof: dict[str, Any]) -> str:
    names = [t.name for t in targets] + ["nginx roof"]
    peers = [t for t in targets[1:] if t.name != OPEN_NAME]  # the targets are met against the peer only
    met = targets_met(targets[0].results, peers[0].results, roof) if peers else {}
    header = ["metric", *names, "target met"]
    lines = []
    for key, label, fmt, _ in ROWS:
        cells = [label]
        for res in [t.results for t in targets] + [roof]:
            v = res.get(key)
            cells.append(fmt.format(v) if isinstance(v, int | float) else "–")
        cells.append(met.get(key, ""))
        lines.append(cells)
    widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [row(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [row(c) for c in lines]
    return "\n".join(out)


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Cirrus vs Orthanc vs nginx roof on a synthetic CT study.")
    p.add_argument(
        "--compare", metavar="URL", help="DICOMweb base URL of another running server (instead of starting Orthanc)"
    )
    p.add_argument("--compare-name", default=None, help="its name in the table")
    p.add_argument("--cirrus", metavar="URL", help="measure an already-running Cirrus at this DICOMweb URL")
    p.add_argument("--cirrus-token", default=os.environ.get("CIRRUS_TOKEN", ""),
                   help="API token for --cirrus (default: $CIRRUS_TOKEN; `cirrus token create --user admin`)")
    p.add_argument("--no-peer", action="store_true", help="measure Cirrus and the roof only")
    p.add_argument("--auth-compare", action="store_true",
                   help="also measure a second Cirrus with access control off (CIRRUS_ACCESS_CONTROL_OFF, "
                   "loopback only) and print on vs off")
    p.add_argument("--cirrus-storage-url", default="", help="CIRRUS_STORAGE_URL for the Cirrus started here")
    p.add_argument(
        "--cirrus-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="HTTP worker processes of Cirrus (default: cores)",
    )
    p.add_argument("--series", type=int, default=4)
    p.add_argument("--instances", type=int, default=250)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--quick", action="store_true", help="2 series x 50 instances, short runs (to debug)")
    p.add_argument("--batch", type=int, default=50, help="instances per STOW request")
    p.add_argument("--stow-parallel", type=int, default=4, help="STOW requests in flight")
    p.add_argument("--stow-repeats", type=int, default=3, help="STOW repetitions (study deleted in between)")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each wrk run")
    p.add_argument("--connections", type=int, default=8, help="wrk connections for frames")
    p.add_argument("--qido-rounds", type=int, default=30)
    p.add_argument("--metadata-rounds", type=int, default=10)
    p.add_argument("--retrieve-rounds", type=int, default=6, help="times the 4 series are fetched per sample")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repetitions of frames and retrieve")
    p.add_argument(
        "--skip", default="", help="comma-separated steps to skip: firstread,stow,qido,metadata,frames,retrieve"
    )
    p.add_argument("--work", type=Path, help="work folder (default: a temp dir, removed unless --keep)")
    p.add_argument(
        "--synth-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "cirrus-bench-synth",
        help="where the synthetic study is generated (reused across runs)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--json", action="store_true", help="also write bench/results/<time>.json")
    a = p.parse_args(argv)
    if a.quick:
        a.series, a.instances, a.seconds, a.qido_rounds, a.metadata_rounds, a.repeats = 2, 50, 3.0, 5, 3, 1
        a.stow_repeats = 2
    a.skip = {s.strip().lower() for s in a.skip.split(",") if s.strip()}
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)

    work = a.work or Path(tempfile.mkdtemp(prefix="cirrus-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started: list[Any] = []
    try:
        t0 = time.perf_counter()
        synth_dir = a.synth_dir / f"{a.series}x{a.instances}x{a.size}"
        study = synth.generate(synth_dir, a.series, a.instances, a.size)
        print(
            f"study: {study.instance_count} instances, {study.total_bytes / 1e6:.0f} MB "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        first: tuple[dict[str, dict[str, Any]], list[str]] | None = None
        if "firstread" not in a.skip and not (a.cirrus or a.compare):
            print("first reads: fresh store, default settings, each server alone ...", flush=True)
            fr = argparse.Namespace(
                series=a.series, instances=a.instances, size=a.size, bodies=max(1, study.instance_count // a.batch),
                frames=min(500, study.instance_count // 2), rendered=min(200, study.instance_count // 5),
                stow_again=False, synth_dir=a.synth_dir, only=["Cirrus"] if a.no_peer else ["Cirrus", "Orthanc"],
            )
            first = firstread.run(fr, work / "firstread")
        roof_dir = synth_dir.parent / (synth_dir.name + "-roof")
        prepare_roof(study, roof_dir)
        bodies, boundary = prepare_stow(study, work / "stow", a.batch)

        nginx = Nginx(work / "nginx", roof_dir).start()
        started.append(nginx)
        targets: list[Target] = []
        if a.cirrus:
            given = [f"Authorization: Bearer {a.cirrus_token}"] if a.cirrus_token else []
            targets.append(Target("Cirrus", a.cirrus.rstrip("/"), auth=lambda: given))
        else:
            cirrus = Cirrus(work / "cirrus", a.cirrus_storage_url, a.cirrus_workers).start()
            started.append(cirrus)

            def restart_cirrus(c: Cirrus = cirrus) -> None:
                c.stop()
                c.start()

            targets.append(
                Target("Cirrus", cirrus.dicomweb_url, restart_cirrus, reset=fresh_cirrus, server=cirrus,
                       auth=lambda: [f"Authorization: Bearer {cirrus.token}"])
            )
        open_target: Target | None = None
        if a.auth_compare and not a.cirrus:
            # Access control off: no token, no rule, no audit — the figures before accounts existed.
            open_cirrus = Cirrus(work / "cirrus-open", a.cirrus_storage_url, a.cirrus_workers,
                                 access_control=False).start()
            started.append(open_cirrus)

            def restart_open(c: Cirrus = open_cirrus) -> None:
                c.stop()
                c.start()

            open_target = Target(OPEN_NAME, open_cirrus.dicomweb_url, restart_open, reset=fresh_cirrus,
                                 server=open_cirrus)
        if a.compare:
            targets.append(Target(a.compare_name or "peer", a.compare.rstrip("/")))
        elif not a.no_peer:
            orthanc = Orthanc(work / "orthanc").start()
            started.append(orthanc)

            def restart_orthanc(o: Orthanc = orthanc) -> None:
                o.stop()
                o.start()

            targets.append(
                Target("Orthanc", orthanc.dicomweb_url, restart_orthanc, reset=fresh_orthanc, server=orthanc)
            )

        if open_target is not None:
            targets.append(open_target)  # after the peer: the table's target column compares [0] with [1]
        load_before = os.getloadavg()
        roof_target = plan_roof(nginx, study)
        if "stow" not in a.skip:
            print("STOW client roof (nginx sink) ...", flush=True)
            roof_target.results["stow_instances_per_s"] = measure_stow_roof(
                f"{nginx.url}/sink", bodies, boundary, study.instance_count, a.stow_parallel
            )
        if "stow" not in a.skip:
            print(f"STOW, {a.stow_repeats} interleaved repetitions ...", flush=True)
            measure_stow_all(targets, study, bodies, boundary, a)
        for t in targets:
            print(f"{t.name} at {t.dicomweb_url}", flush=True)
            measure_target(t, study, bodies, boundary, a)
        print(f"frames and series retrieve, {a.repeats} interleaved repetitions ...", flush=True)
        measure_throughput([roof_target, *targets], study, a)
        roof = roof_target.results
        table = render_table(targets, roof)
        for t in targets:
            if isinstance(t.server, Cirrus) and t.server.startup_failures:
                t.notes.append(f"{t.server.startup_failures} start(s) of `cirrus serve` failed and were retried")
        print()
        if first is not None:
            print(firstread.render_table(first[0]))
            for note in first[1]:
                print(f"note: first read: {note}")
            loads = ", ".join(f"{k} {v['load_before']:.2f}" for k, v in first[0].items())
            print(f"first-read load average before each server's run: {loads}")
            print()
            print("warm (every URL many times over, both servers running):")
        print(table)
        for t in [*targets, roof_target]:
            for note in t.notes:
                print(f"note: {t.name}: {note}")
        if open_target is not None:
            print()
            print(render_auth_compare(targets[0].results, open_target.results))
        load = os.getloadavg()
        print(
            f"\nload average before/after: {load_before[0]:.2f} / {load[0]:.2f} on {os.cpu_count()} cores; "
            f"study {study.instance_count} instances; STOW {a.stow_parallel} parallel batches of {a.batch}; "
            f"frames via wrk {a.connections} connections x {a.seconds:.0f} s; Cirrus HTTP workers {a.cirrus_workers}"
        )
        if a.json:
            RESULTS.mkdir(parents=True, exist_ok=True)
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            path = RESULTS / f"bench-{stamp}.json"
            path.write_text(
                json.dumps(
                    {
                        "when": stamp,
                        "machine": {
                            "cpus": os.cpu_count(),
                            "platform": platform.platform(),
                            "load": [load_before, load],
                        },
                        "study": study.params,
                        "args": {
                            k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v)
                            for k, v in vars(a).items()
                        },
                        "roof": roof,
                        "targets": {
                            t.name: {"url": t.dicomweb_url, "results": t.results, "notes": t.notes} for t in targets
                        },
                        "table": table,
                        "first_read": first[0] if first is not None else None,
                    },
                    indent=1,
                )
            )
            print(f"wrote {path}")
        return 0
    finally:
        for s in reversed(started):
            s.stop()
        if not a.keep and a.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
