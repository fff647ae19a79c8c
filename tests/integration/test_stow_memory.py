"""A 2 GB STOW request streams: the server's peak RSS grows by less than 200 MB."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import requests
from pydicom.uid import generate_uid

from tests.conftest import LiveServer, live_server_env, make_database_url
from tests.dicom_helpers import BOUNDARY, STOW_TYPE, ct_instance

TOTAL = 2 * 1024**3
SIDE = 2048  # 8 MB of 16-bit pixels per instance


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def body(study: str, series: str, count: int) -> Iterator[bytes]:
    template = pydicom.dcmread(io.BytesIO(ct_instance(study=study, series=series, size=16)))
    template.Rows = template.Columns = SIDE
    template.PixelData = np.zeros((SIDE, SIDE), dtype="<u2").tobytes()
    for i in range(count):
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = i + 1
        buf = io.BytesIO()
        template.save_as(buf, enforce_file_format=True)
        yield f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        yield buf.getvalue()
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


def test_two_gigabyte_stow_streams(tmp_path: Path) -> None:
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    for url in make_database_url("sqlite", tmp_path):
        server = LiveServer(live_server_env(url, data_dir), data_dir).start()
        try:
            assert server.proc is not None
            one = b"".join(body(generate_uid(), generate_uid(), 1))
            warm = requests.post(f"{server.dicomweb_url}/studies", data=one,
                                 headers={"Content-Type": STOW_TYPE, **server.headers})
            assert warm.status_code == 200
            before = peak_rss_mb(server.proc.pid)
            count = TOTAL // (SIDE * SIDE * 2) + 1
            study = generate_uid()
            r = requests.post(f"{server.dicomweb_url}/studies", data=body(study, generate_uid(), count),
                              headers={"Content-Type": STOW_TYPE, **server.headers}, timeout=600)
            assert r.status_code == 200, r.text[:500]
            assert len(r.json()["00081199"]["Value"]) == count
            growth = peak_rss_mb(server.proc.pid) - before
            print(f"peak RSS before {before:.0f} MB, growth during a {count * 8} MB STOW: {growth:.0f} MB")
            assert growth < 200
            meta = requests.get(f"{server.dicomweb_url}/studies/{study}/metadata", headers=server.headers).json()
            assert len(meta) == count
        finally:
            server.stop()
