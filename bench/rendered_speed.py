"""Rendered-frame speed: Cirrus side by side with Orthanc, wrk as the load client.

Measures, for 512x512 16-bit CT frames rendered as JPEG:
- uncached: every request has its own window, so nothing can come from a cache;
- cached: the same set of URLs again (Cirrus serves them from its output cache);
- one frame of a 1,000-frame JPEG 2000 instance (rendered and raw), latency per request;
- survival: JPEG-LS frames transcoded to Explicit VR Little Endian; the server must still answer.

Usage::

    .venv/bin/python bench/rendered_speed.py                      # starts Cirrus (2 workers) and Orthanc
    .venv/bin/python bench/rendered_speed.py --url http://127.0.0.1:8080 --compare http://127.0.0.1:8042
    .venv/bin/python bench/rendered_speed.py --no-compare --duration 5

``--url``/``--compare`` are server roots (DICOMweb under ``/dicom-web``). Needs ``wrk`` and
``curl`` (Debian packages); Orthanc from ``orthanc`` + ``orthanc-dicomweb``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import BENCH_ADMIN_PASSWORD, cirrus_token  # noqa: E402

BOUNDARY = "rendered-bench-boundary"
SHARED = ROOT.parent / "shared" / "data" / "transfer-syntaxes"


# -- servers --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes] | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"server for {url} exited with {proc.returncode}")
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url], capture_output=True)
        if r.stdout.strip() not in (b"", b"000"):
            return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def start_cirrus(work: Path, workers: int) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRRUS_")}
    env.update({"CIRRUS_DATA_DIR": str(work / "cirrus"), "CIRRUS_WORKERS": "0", "PYTHONPATH": str(ROOT),
                "CIRRUS_ADMIN_PASSWORD": BENCH_ADMIN_PASSWORD,
                # One token drives every connection: the per-client limits would turn capacity into 429s.
                "CIRRUS_MAX_CONCURRENT_RENDERS": "0", "CIRRUS_MAX_CONCURRENT_TRANSCODES": "0",
                "CIRRUS_MAX_CONCURRENT_UPLOADS": "0",
                # A throughput benchmark is one client asking as fast as it can: the per-client rate
                # limits (issue 12) are turned off like the concurrency limits above.
                "CIRRUS_RENDERS_PER_MINUTE": "0", "CIRRUS_TRANSCODES_PER_MINUTE": "0"})
    log = open(work / "cirrus.log", "ab")  # noqa: SIM115 - lives as long as the process
    cmd = [sys.executable, "-m", "server.cli", "serve", "--migrate", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/dicom-web/", proc)
    AUTH[url] = f"Authorization: Bearer {cirrus_token(url)}"
    return url, proc


def start_orthanc(work: Path) -> tuple[str, subprocess.Popen[bytes]] | None:
    exe = shutil.which("Orthanc")
    plugin = next((p for p in ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                               "/usr/lib/orthanc/libOrthancDicomWeb.so.1.7") if Path(p).exists()), None)
    if not exe or not plugin:
        print("Orthanc or its DICOMweb plugin is not installed: no comparison")
        return None
    port = free_port()
    config = {
        "Name": "RenderedBench", "StorageDirectory": str(work / "orthanc" / "storage"),
        "IndexDirectory": str(work / "orthanc" / "index"), "HttpPort": port, "DicomPort": free_port(),
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}, "HttpThreadsCount": 50, "KeepAlive": True,
    }
    (work / "orthanc").mkdir(parents=True, exist_ok=True)
    (work / "orthanc.json").write_text(json.dumps(config))
    log = open(work / "orthanc.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([exe, str(work / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/system", proc)
    return url, proc


def alive(url: str) -> bool:
    probe = url + "/dicom-web/studies?limit=1"
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5", *auth_args(probe),
                        probe], capture_output=True)
    return r.stdout.strip() == b"200"


# -- data -----------------------------------------------------------------------------------------


def ct_phantom(n: int, size: int = 512) -> np.ndarray:
    """A body-like 16-bit CT slice (HU + 1024): air, soft tissue, bone ring, noise."""
    rng = np.random.default_rng(n)
    y, x = np.mgrid[:size, :size] - size / 2
    r = np.hypot(x / 1.2, y)
    img = np.full((size, size), -1000.0)
    img[r < size * 0.42] = 40
    img[(r > size * 0.30) & (r < size * 0.33)] = 700 + 10 * n
    img[np.hypot(x - 60, y + 40) < 30] = -600
    img += rng.normal(0, 12, img.shape)
    return (img + 1024).clip(0, 4095).astype(np.uint16)


def ct_dataset(study: str, series: str, number: int, pixels: np.ndarray) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientName, ds.PatientID, ds.Modality = "Bench^Render", "BENCH1", "CT"
    ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20240101", 1, number
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = pixels.tobytes()
    return ds


def part10(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


# Header line (``Authorization: Bearer ...``) of each server root that needs one (Cirrus).
AUTH: dict[str, str] = {}


def auth_args(url: str) -> list[str]:
    """curl arguments sending the credentials of the server ``url`` belongs to."""
    return next((["-H", line] for base, line in AUTH.items() if url.startswith(base)), [])


def stow(base: str, blobs: list[bytes], work: Path) -> None:
    body = work / "stow.body"
    with open(body, "wb") as f:
        for b in blobs:
            f.write(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode())
            f.write(b)
            f.write(b"\r\n")
        f.write(f"--{BOUNDARY}--\r\n".encode())
    r = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data-binary", f"@{body}",
         "-H", f'Content-Type: multipart/related; type="application/dicom"; boundary={BOUNDARY}',
         *auth_args(base), base + "/dicom-web/studies"], capture_output=True)
    if r.stdout.strip() not in (b"200", b"202"):
        raise SystemExit(f"STOW to {base} answered {r.stdout!r}")


# -- load -----------------------------------------------------------------------------------------

WRK_SCRIPT = """
local paths = {}
local n = 0
local counter = 0
local id = 0
local threads = 1
local H = %(headers)s
for line in io.lines("%(paths)s") do n = n + 1; paths[n] = line end
function setup(thread) thread:set("tid", %(next_id)s) end
function init(args) id = tid or 0; threads = %(threads)d end
request = function()
  counter = counter + 1
  local path = paths[(counter %% n) + 1]
  %(body)s
end
"""


def wrk(base: str, paths: list[str], unique: bool, seconds: int, connections: int, work: Path) -> dict[str, float]:
    """Requests/s over ``paths``; with ``unique`` each request gets its own window width."""
    plist = work / "paths.txt"
    plist.write_text("\n".join(paths) + "\n")
    body = ('return wrk.format("GET", path .. "&window=40," .. (400 + id + threads * counter) .. ",linear", H)'
            if unique else 'return wrk.format("GET", path, H)')
    name, _, value = AUTH.get(base, "").partition(": ")
    headers = f'{{["{name}"] = "{value}"}}' if value else "{}"
    script = work / "bench.lua"
    script.write_text(WRK_SCRIPT % {"paths": plist, "threads": 2, "body": body, "headers": headers,
                                    "next_id": "(function() _G.__n = (_G.__n or 0) + 1; return _G.__n end)()"})
    r = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), base],
                       capture_output=True, text=True)
    out = r.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)) if "Requests/sec" in out else 0.0
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "non2xx": float(bad.group(1)) if bad else 0.0,
            "requests": float(total.group(1)) if total else 0.0, "socket_errors": 1.0 if errors else 0.0}


def curl_times(urls: list[str], headers: list[str] | None = None) -> list[float]:
    times = []
    for u in urls:
        cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", *auth_args(u)]
        for h in headers or []:
            cmd += ["-H", h]
        code, t = subprocess.run(cmd + [u], capture_output=True, text=True).stdout.split()
        if code != "200":
            raise SystemExit(f"{u} answered {code}")
        times.append(float(t) * 1000)
    return times


# -- main -----------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="Cirrus root URL (default: start one)")
    ap.add_argument("--token", default=os.environ.get("CIRRUS_TOKEN", ""),
                    help="API token for --url (default: $CIRRUS_TOKEN)")
    ap.add_argument("--compare", help="Orthanc root URL (default: start one if installed)")
    ap.add_argument("--no-compare", action="store_true")
    ap.add_argument("--workers", type=int, default=2, help="HTTP workers of the Cirrus started here")
    ap.add_argument("--instances", type=int, default=40)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--big-size", type=int, default=512, help="rows/columns of the 1,000-frame JPEG 2000 instance")
    args = ap.parse_args()
    for tool in ("wrk", "curl"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed (apt-get install -y {tool})")
    work = Path(tempfile.mkdtemp(prefix="rendered-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        cirrus = args.url
        if cirrus and args.token:
            AUTH[cirrus] = f"Authorization: Bearer {args.token}"
        if not cirrus:
            cirrus, p = start_cirrus(work, args.workers)
            procs.append(p)
        orthanc = None if args.no_compare else args.compare
        if not orthanc and not args.no_compare:
            started = start_orthanc(work)
            if started:
                orthanc, p = started
                procs.append(p)
        servers = {"cirrus": cirrus, **({"orthanc": orthanc} if orthanc else {})}

        study, series = generate_uid(), generate_uid()
        datasets = [ct_dataset(study, series, i + 1, ct_phantom(i)) for i in range(args.instances)]
        blobs = [part10(ds) for ds in datasets]
        prefix = f"/dicom-web/studies/{study}/series/{series}/instances/"
        paths = [f"{prefix}{ds.SOPInstanceUID}/frames/1/rendered?quality=90" for ds in datasets]
        results: dict[str, dict[str, dict[str, float]]] = {}
        for name, base in servers.items():
            stow(base, blobs, work)
            curl_times([base + p for p in paths[:2]])  # warm the process
            print(f"[{name}] uncached rendered JPEG ...", flush=True)
            unc = wrk(base, paths, True, args.duration, args.connections, work)
            for p in paths:  # make every cached URL hot
                curl_times([base + p])
            print(f"[{name}] cached rendered JPEG ...", flush=True)
            cac = wrk(base, paths, False, args.duration, args.connections, work)
            results[name] = {"uncached": unc, "cached": cac}

        # One frame of a 1,000-frame JPEG 2000 instance (Cirrus).
        size = args.big_size
        big = ct_dataset(study, generate_uid(), 1, ct_phantom(99, size))
        frame = pydicom.pixels.get_encoder(JPEG2000Lossless).encode(
            ct_phantom(99, size), rows=size, columns=size, samples_per_pixel=1, bits_allocated=16, bits_stored=12,
            pixel_representation=0, photometric_interpretation="MONOCHROME2", number_of_frames=1)
        big.file_meta.TransferSyntaxUID = JPEG2000Lossless
        big.NumberOfFrames = 1000
        big.PixelData = encapsulate([frame] * 1000, has_bot=True)
        big["PixelData"].VR = "OB"
        stow(cirrus, [part10(big)], work)
        inst = f"{cirrus}/dicom-web/studies/{study}/series/{big.SeriesInstanceUID}/instances/{big.SOPInstanceUID}"
        rendered_ms = curl_times([f"{inst}/frames/{500 + i}/rendered?window=40,{400 + i}" for i in range(20)])
        raw_ms = curl_times([f"{inst}/frames/{300 + i}" for i in range(20)],
                            ["Accept: multipart/related; type=application/octet-stream; transfer-syntax=*"])
        le_ms = curl_times([f"{inst}/frames/{700 + i}" for i in range(20)],
                           ["Accept: multipart/related; type=application/octet-stream"])

        # Survival: JPEG-LS frames transcoded to Explicit VR LE, several times.
        survival = {}
        jls = pydicom.dcmread(SHARED / "7.dcm")
        jls.StudyInstanceUID, jls.SeriesInstanceUID, jls.SOPInstanceUID = study, generate_uid(), generate_uid()
        jls.file_meta.MediaStorageSOPInstanceUID = jls.SOPInstanceUID
        for name, base in servers.items():
            try:
                stow(base, [part10(jls)], work)
                url = (f"{base}/dicom-web/studies/{study}/series/{jls.SeriesInstanceUID}/instances/"
                       f"{jls.SOPInstanceUID}/frames/1")
                for _ in range(5):
                    subprocess.run(["curl", "-s", "-o", "/dev/null", "-m", "20", *auth_args(url), "-H",
                                    "Accept: multipart/related; type=application/octet-stream; "
                                    "transfer-syntax=1.2.840.10008.1.2.1", url])
            except SystemExit as exc:
                print(f"[{name}] survival step: {exc}")
            survival[name] = alive(base)

        print()
        print(f"rendered 512x512 16-bit CT frames as JPEG, wrk -t2 -c{args.connections} -d{args.duration}s")
        print(f"{'server':10} {'uncached/s':>11} {'cached/s':>10} {'non-2xx':>8} {'alive after JPEG-LS transcode':>30}")
        for name, res in results.items():
            bad = int(res["uncached"]["non2xx"] + res["cached"]["non2xx"])
            print(f"{name:10} {res['uncached']['rps']:11.0f} {res['cached']['rps']:10.0f} {bad:8d} "
                  f"{str(survival.get(name)):>30}")
        if "orthanc" in results and results["orthanc"]["uncached"]["rps"]:
            o = results["orthanc"]
            c = results["cirrus"]
            print(f"cirrus/orthanc: uncached x{c['uncached']['rps'] / o['uncached']['rps']:.1f}, "
                  f"cached x{c['cached']['rps'] / max(o['cached']['rps'], 1e-9):.1f} "
                  "(targets: >= 2x uncached, >= 10x cached)")
        print(f"1,000-frame JPEG 2000 instance ({size}x{size}, {len(frame) * 1000 / 1e6:.0f} MB): "
              f"rendered frame median {statistics.median(rendered_ms):.1f} ms "
              f"(max {max(rendered_ms):.1f}); raw frame median {statistics.median(raw_ms):.1f} ms; "
              f"frame transcoded to Explicit VR LE median {statistics.median(le_ms):.1f} ms (target < 50 ms)")
        return 0
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
