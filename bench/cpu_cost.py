"""CPU time per request of a Cirrus server, phase by phase, the way a viewer opens a series.

    python bench/cpu_cost.py [--workers N] [--quick] [--repeat-warm K]

Wall-clock throughput on a shared, loaded machine says more about the neighbours than about the
server; the CPU time the server's processes spend per request does not depend on them (much). This
starts ``cirrus serve`` on a fresh data folder (``--workers`` HTTP processes, default 1 so one
process's caches see every request), stores the synthetic CT (``bench/synth.py``) and, with curl as
the client, runs the phases of ``bench/firstread.py``: STOW, series metadata (first, warm), frame 1
of distinct instances (first, warm), rendered JPEGs of other instances (first, warm), series
retrieve (first, warm). For each phase it prints the user+system CPU milliseconds per request of
the HTTP worker processes and of the render workers (``/proc/<pid>/stat`` of every process in the
server's tree before and after), beside the wall time and the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import synth  # noqa: E402
from bench.common import FRAME_ACCEPT, INSTANCE_ACCEPT, CurlRun, curl  # noqa: E402
from bench.firstread import CirrusDefaults, instance_url, prepare_bodies  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
JSON_ACCEPT = "application/dicom+json"


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def process_tree(root: int) -> list[int]:
    seen, todo = [], [root]
    while todo:
        pid = todo.pop()
        seen.append(pid)
        todo += _children(pid)
    return seen


def _cpu_and_kind(pid: int) -> tuple[float, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    seconds = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    return seconds, ("forkserver" if "forkserver" in cmdline else "other")


@dataclass
class Sample:
    http: float  # CPU seconds of the HTTP serving processes
    render: float  # CPU seconds of the render workers (children of a forkserver)


def sample(root: int) -> tuple[Sample, dict[int, float]]:
    http = render = 0.0
    per_pid: dict[int, float] = {}
    forkservers = set()
    for pid in process_tree(root):
        got = _cpu_and_kind(pid)
        if got is None:
            continue
        seconds, kind = got
        per_pid[pid] = seconds
        if kind == "forkserver":
            forkservers.add(pid)
    # Render workers fork from the fork server and keep its command line: a "forkserver" process
    # whose parent is one too is a render worker; the fork server itself does no request work.
    for pid, seconds in per_pid.items():
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if pid in forkservers and ppid in forkservers:
            render += seconds
        elif pid not in forkservers:
            http += seconds
    return Sample(http, render), per_pid


def measure(root: int, label: str, count: int, run: Callable[[], CurlRun]) -> dict[str, float]:
    before, _ = sample(root)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = run()
    wall = time.perf_counter() - t0
    time.sleep(0.3)  # let a response's tail (audit queue, logging) finish on the server's side
    after, _ = sample(root)
    if not result.ok:
        raise SystemExit(f"{label}: answered {result.statuses}")
    http_ms = (after.http - before.http) * 1000 / count
    render_ms = (after.render - before.render) * 1000 / count
    print(f"| {label:<34} | {count:>5} | {http_ms:>8.2f} | {render_ms:>8.2f} | {wall * 1000 / count:>8.2f} |"
          f" {load:>5.1f} |", flush=True)
    return {"http_ms": http_ms, "render_ms": render_ms, "wall_ms": wall * 1000 / count}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=1, help="HTTP worker processes of cirrus serve")
    p.add_argument("--series", type=int, default=4)
    p.add_argument("--instances", type=int, default=250)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--frames", type=int, default=500)
    p.add_argument("--rendered", type=int, default=200)
    p.add_argument("--repeat-warm", type=int, default=1, help="warm passes per phase")
    p.add_argument("--quick", action="store_true", help="2 series x 50 instances")
    p.add_argument("--synth-dir", type=Path, default=Path(tempfile.gettempdir()) / "cirrus-bench-synth")
    p.add_argument("--keep", action="store_true", help="leave the server running until Enter (to attach py-spy)")
    a = p.parse_args(argv)
    if a.quick:
        a.series, a.instances, a.frames, a.rendered = 2, 50, 50, 20
    study = synth.generate(a.synth_dir / f"{a.series}x{a.instances}x{a.size}", a.series, a.instances, a.size)
    work = Path(tempfile.mkdtemp(prefix="cirrus-cpu-"))
    server = CirrusDefaults(work / "cirrus", workers=a.workers)
    try:
        bodies, boundary = prepare_bodies(study, work / "stow", max(1, study.instance_count // 20))
        server.start()
        assert server.process is not None and server.process.proc is not None
        root = server.process.proc.pid
        base = server.dicomweb_url
        auth = server.auth
        print(f"cirrus serve --workers {a.workers}, study {study.instance_count} instances; CPU ms per request "
              "(HTTP processes | render workers), wall ms per request, load average at the start")
        print("| phase                              |     n |  http ms | rendr ms |  wall ms |  load |")
        print("|------------------------------------|-------|----------|----------|----------|-------|")
        stow_headers = [f"Content-Type: multipart/related; type=\"application/dicom\"; boundary={boundary}",
                        f"Accept: {JSON_ACCEPT}", *auth]
        measure(root, "STOW (per instance)", study.instance_count,
                lambda: curl([f"{base}/studies"] * len(bodies), headers=stow_headers, parallel=4, uploads=bodies))
        meta = [f"{base}/studies/{study.study_uid}/series/{s.series_uid}/metadata" for s in study.series]
        jh = [f"Accept: {JSON_ACCEPT}", *auth]
        measure(root, "series metadata first", len(meta), lambda: curl(meta, headers=jh))
        for _ in range(a.repeat_warm):
            measure(root, "series metadata warm", len(meta) * 3, lambda: curl(meta * 3, headers=jh))
        pairs = [(s.series_uid, sop) for s in study.series for sop in s.sop_uids]
        frame_pairs = pairs[0::2][: a.frames]
        rest = pairs[1::2]
        step = max(1, len(rest) // max(1, a.rendered))
        rendered_pairs = rest[::step][: a.rendered]
        frames = [instance_url(base, study, se, sop) + "/frames/1" for se, sop in frame_pairs]
        fh = [f"Accept: {FRAME_ACCEPT}", *auth]
        measure(root, "frames first", len(frames), lambda: curl(frames, headers=fh, parallel=8))
        for _ in range(a.repeat_warm):
            measure(root, "frames warm", len(frames), lambda: curl(frames, headers=fh, parallel=8))
        rendered = [instance_url(base, study, se, sop) + "/rendered" for se, sop in rendered_pairs]
        rh = ["Accept: image/jpeg", *auth]
        measure(root, "rendered first", len(rendered), lambda: curl(rendered, headers=rh, parallel=4))
        for _ in range(a.repeat_warm):
            measure(root, "rendered warm", len(rendered), lambda: curl(rendered, headers=rh, parallel=4))
        retrieve = [f"{base}/studies/{study.study_uid}/series/{s.series_uid}" for s in study.series]
        ih = [f"Accept: {INSTANCE_ACCEPT}", *auth]
        measure(root, "series retrieve first (per series)", len(retrieve),
                lambda: curl(retrieve, headers=ih, parallel=len(retrieve)))
        for _ in range(a.repeat_warm):
            measure(root, "series retrieve warm (per series)", len(retrieve),
                    lambda: curl(retrieve, headers=ih, parallel=len(retrieve)))
        if a.keep:
            print(f"server pid {root} at {base}; press Enter to stop", flush=True)
            sys.stdin.readline()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
