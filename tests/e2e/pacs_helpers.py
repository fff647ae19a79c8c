"""Orthanc (Debian) as the hospital's PACS for the pull tests, and the studies put into it.

Each Orthanc runs with its own configuration, storage and ports under the test's temp folder; its
C-MOVE destination ``CIRRUS_PULL`` is the pull receiver of the ``cirrus pull`` under test.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from tests.conftest import ROOT, free_port, wait_for_port

ORTHANC = "/usr/sbin/Orthanc"


class OrthancPACS:
    def __init__(self, work: Path, ae_title: str, destination_port: int, destination_ae: str = "CIRRUS_PULL",
                 **config: Any):
        """``config``: more Orthanc settings (e.g. ``SynchronousCMove=False``)."""
        self.work = work
        self.extra = config
        self.ae_title = ae_title
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.destination = (destination_ae, destination_port)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> OrthancPACS:
        if not Path(ORTHANC).exists() and shutil.which("Orthanc") is None:
            pytest.fail("Orthanc is missing: apt-get install -y orthanc")
        self.work.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": self.ae_title, "StorageDirectory": str(self.work / "storage"),
            "IndexDirectory": str(self.work / "index"), "HttpPort": self.http_port, "DicomPort": self.dicom_port,
            "DicomAet": self.ae_title, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False, "Plugins": [], "ConcurrentJobs": 1,
            "DicomModalities": {"cirrus": [self.destination[0], "127.0.0.1", self.destination[1]]},
            "StorageAccessOnFind": "Always", "DicomAlwaysAllowGet": True, **self.extra,
        }
        path = self.work / "orthanc.json"
        path.write_text(json.dumps(config))
        with open(self.work / "orthanc.log", "ab") as out:
            self.proc = subprocess.Popen([ORTHANC, str(path)], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/system", timeout=2).status_code == 200:
                    wait_for_port(self.dicom_port, timeout=20)
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"Orthanc did not start: {(self.work / 'orthanc.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def store(self, *instances: bytes) -> None:
        for data in instances:
            r = httpx.post(f"{self.url}/instances", content=data, timeout=30)
            assert r.status_code == 200, r.text

    def source(self, name: str, **extra: Any) -> dict[str, Any]:
        """The body of ``POST /api/pull/sources`` for this PACS."""
        return {"name": name, "ae_title": self.ae_title, "host": "127.0.0.1", "port": self.dicom_port, **extra}


class Blackhole:
    """A TCP port that accepts connections and never answers (``hang``), or closes each at once:
    a C-MOVE destination a PACS cannot deliver to."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.hang = True
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.hang:
                self.held.append(conn)
            else:
                conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


def instance(study: str, series: str, number: int, *, modality: str = "MR", study_time: str = "080000",
             size: int = 8, sop_class: str = MRImageStorage, charset: str = "ISO_IR 192",
             **attrs: Any) -> bytes:
    """A small image of ``study``/``series`` dated today (the source's clock is UTC in the tests)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SpecificCharacterSet = charset
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientName, ds.PatientID = "Pull^Test", "PULL-1"
    ds.StudyDate, ds.StudyTime = today(), study_time
    ds.AccessionNumber = attrs.pop("AccessionNumber", "ACC" + study[-8:])
    ds.Modality = modality
    ds.SeriesNumber, ds.InstanceNumber = 1, number
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    with warnings.catch_warnings():  # a mis-encoded value is not valid for its VR: that is the point
        warnings.simplefilter("ignore")
        for key, value in attrs.items():
            setattr(ds, key, value)
    ds.PixelData = np.random.default_rng(number).integers(0, 4096, (size, size), dtype="<u2").tobytes()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def series_of(study: str, count: int, **attrs: Any) -> list[bytes]:
    series = generate_uid()
    return [instance(study, series, n + 1, **attrs) for n in range(count)]


class PullProcess:
    """``cirrus pull`` on its own receiver port, output in a log file."""

    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        self.env, self.log, self.port = env, log, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PullProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "server.cli", "pull", "--port", str(self.port)],
                                         env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=180, proc=self.proc)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(check: Any, timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")
