"""DIMSE C-STORE: Cirrus's SCP (``cirrus dimse``) beside Orthanc's own C-STORE SCP; prints one table.

    python bench/dimse_store.py [--series 4] [--instances 250] [--size 512]

The synthetic CT study of ``bench/synth.py`` (4 series × 250 instances, 512×512, 16-bit: 1,000
instances, about 526 MB) is sent by DCMTK's ``storescu`` (Debian ``dcmtk``) to each SCP, on a fresh
store each time, twice: over one association (one ``storescu`` with every file), and by four
``storescu`` senders in parallel (one series each, one association each). Figures: instances/s and
MB/s from the first association's start to the last sender's end, and the SCP's resident memory
(the process and its children) sampled every 0.1 s during the send: peak and mean. The two servers
alternate (Cirrus, Orthanc, Cirrus, Orthanc) so machine drift hits both; on a shared machine the
ratio in one run is what counts. Each send must store every instance (checked in each index).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import synth  # noqa: E402
from bench.common import ROOT, Process, free_port, require  # noqa: E402
from bench.orthanc import Orthanc  # noqa: E402


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the SCP exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout:.0f} s")


# -- resident memory ------------------------------------------------------------------------------


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, ()))
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class RssSampler:
    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.pid, self.every = pid, every
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(tree_rss(self.pid))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join()


# -- the SCPs -------------------------------------------------------------------------------------


class CirrusScp:
    name = "Cirrus"
    ae = "CIRRUS"

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.process: Process | None = None
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIRRUS_")}
        env.update({"CIRRUS_DATA_DIR": str(work / "data"), "PYTHONPATH": str(ROOT)})
        self.env = env

    def start(self) -> CirrusScp:
        self.work.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=self.env, cwd=ROOT, check=True,
                       capture_output=True)
        argv = [sys.executable, "-m", "server.cli", "dimse", "--port", str(self.port), "--ae", self.ae,
                "--accept-any"]
        self.process = Process("Cirrus DIMSE", argv, self.work / "dimse.log", env=self.env, cwd=ROOT).start()
        wait_port(self.port, self.process.proc)
        return self

    @property
    def pid(self) -> int:
        assert self.process and self.process.proc
        return self.process.proc.pid

    def stored(self) -> int:
        with sqlite3.connect(self.work / "data" / "cirrus.db") as db:
            return int(db.execute("SELECT count(*) FROM instance WHERE state = 'created'").fetchone()[0])

    def stop(self) -> None:
        if self.process:
            self.process.stop()


class OrthancScp:
    name = "Orthanc"
    ae = "BENCH"

    def __init__(self, work: Path) -> None:
        self.orthanc = Orthanc(work)
        self.port = self.orthanc.dicom_port

    def start(self) -> OrthancScp:
        self.orthanc.start()
        wait_port(self.port, self.orthanc.process.proc if self.orthanc.process else None)
        return self

    @property
    def pid(self) -> int:
        assert self.orthanc.process and self.orthanc.process.proc
        return self.orthanc.process.proc.pid

    def stored(self) -> int:
        with urllib.request.urlopen(f"{self.orthanc.url}/statistics", timeout=30) as r:
            return int(json.loads(r.read())["CountInstances"])

    def stop(self) -> None:
        self.orthanc.stop()


# -- a send ---------------------------------------------------------------------------------------


@dataclass
class Figure:
    server: str
    mode: str
    instances: int
    seconds: float
    megabytes: float
    rss_peak: int
    rss_mean: float
    stored: int
    failures: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.instances / self.seconds


def send(scp: Any, groups: list[list[Path]], log: Path) -> tuple[float, list[str]]:
    """One storescu per group, all at once; seconds until the last ends, and any failures."""
    storescu = require("storescu")
    started = time.perf_counter()
    procs = []
    for i, files in enumerate(groups):
        out = open(log.with_suffix(f".{i}.log"), "wb")  # noqa: SIM115  (closed below)
        cmd = [storescu, "-aet", "BENCHSCU", "-aec", scp.ae, "-to", "120", "-ta", "120", "-td", "120",
               "127.0.0.1", str(scp.port), *map(str, files)]
        procs.append((subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT), out))
    failures = []
    for proc, out in procs:
        code = proc.wait()
        out.close()
        if code != 0:
            failures.append(f"storescu exited with {code} (see {out.name})")
    return time.perf_counter() - started, failures


def measure(make: Any, work: Path, mode: str, groups: list[list[Path]], megabytes: float) -> Figure:
    scp = make(work).start()
    try:
        with RssSampler(scp.pid) as rss:
            seconds, failures = send(scp, groups, work / "storescu")
        stored = scp.stored()
        count = sum(len(g) for g in groups)
        if stored != count:
            failures.append(f"{stored} of {count} instances stored")
        samples = rss.samples or [0]
        return Figure(scp.name, mode, count, seconds, megabytes, max(samples), sum(samples) / len(samples),
                      stored, failures)
    finally:
        scp.stop()


def render(figures: list[Figure]) -> str:
    lines = ["| mode | server | instances/s | MB/s | seconds | RSS peak MB | RSS mean MB | stored |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for f in figures:
        lines.append(f"| {f.mode} | {f.server} | {f.per_second:.1f} | {f.megabytes / f.seconds:.1f} | "
                     f"{f.seconds:.1f} | {f.rss_peak / 1e6:.0f} | {f.rss_mean / 1e6:.0f} | {f.stored} |")
    by = {(f.mode, f.server): f for f in figures}
    for mode in dict.fromkeys(f.mode for f in figures):
        c, o = by.get((mode, "Cirrus")), by.get((mode, "Orthanc"))
        if c and o:
            lines.append(f"\n{mode}: Cirrus/Orthanc instances/s = {c.per_second / o.per_second:.2f}, "
                         f"RSS peak = {c.rss_peak / max(o.rss_peak, 1):.2f}")
    for f in figures:
        for failure in f.failures:
            lines.append(f"FAILED {f.server} {f.mode}: {failure}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--series", type=int, default=4)
    p.add_argument("--instances", type=int, default=250, help="per series")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--synth-dir", type=Path, default=Path(tempfile.gettempdir()) / "cirrus-bench-synth",
                   help="where the synthetic study is generated (shared with bench/run.py, reused)")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    a = p.parse_args(argv)

    study = synth.generate(a.synth_dir / f"{a.series}x{a.instances}x{a.size}", a.series, a.instances, a.size)
    root = Path(study.root)
    by_series = [[root / rel for rel in s.files] for s in study.series]
    everything = [f for files in by_series for f in files]
    megabytes = sum(f.stat().st_size for f in everything) / 1e6
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"study: {len(everything)} instances, {megabytes:.0f} MB; load average {load}; {os.cpu_count()} cores",
          flush=True)

    # Four senders: one per series when there are four, else the files dealt out in turn.
    four = by_series if len(by_series) == 4 else [everything[i::4] for i in range(4)]
    work = Path(tempfile.mkdtemp(prefix="cirrus-dimse-bench-"))
    figures: list[Figure] = []
    try:
        for mode, groups in (("1 association", [everything]), ("4 parallel senders", four)):
            for make in (CirrusScp, OrthancScp):
                here = work / f"{make.name}-{len(groups)}"
                figure = measure(make, here, mode, groups, megabytes)
                figures.append(figure)
                print(f"  {mode}, {figure.server}: {figure.per_second:.1f} instances/s "
                      f"({figure.seconds:.1f} s), RSS peak {figure.rss_peak / 1e6:.0f} MB", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(render(figures))
    return 1 if any(f.failures for f in figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
