"""The event loop stays responsive: a QIDO issued during the heaviest render answers at once."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from tests.conftest import LiveServer
from tests.dicom_helpers import STOW_TYPE, multipart


def multiframe(study: str, frames: int = 2000, size: int = 64) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "Loop^Test", "LOOP", "OT"
    ds.Rows = ds.Columns = size
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.random.default_rng(0).integers(0, 4096, (frames, size, size), dtype="<u2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_qido_answers_during_a_2000_frame_1024_render(live_server: LiveServer) -> None:
    base, auth = live_server.dicomweb_url, live_server.headers
    study = generate_uid()
    data = multiframe(study)
    r = requests.post(f"{base}/studies", data=multipart([data]), headers={"Content-Type": STOW_TYPE, **auth},
                      timeout=120)
    assert r.status_code == 200, r.text
    meta = requests.get(f"{base}/studies/{study}/metadata", headers=auth, timeout=30).json()[0]
    series, sop = meta["0020000E"]["Value"][0], meta["00080018"]["Value"][0]
    url = f"{base}/studies/{study}/series/{series}/instances/{sop}/rendered?viewport=1024,1024"
    received = [0]
    stop = threading.Event()

    def render() -> None:
        with requests.get(url, headers={"Accept": "image/jpeg", **auth}, stream=True, timeout=120) as resp:
            assert resp.status_code == 200
            for chunk in resp.iter_content(1 << 16):
                received[0] += len(chunk)
                if stop.is_set():
                    break  # the client goes away; the server stops rendering

    t = threading.Thread(target=render)
    t.start()
    try:
        deadline = time.monotonic() + 60
        while received[0] == 0:  # the render is under way
            assert time.monotonic() < deadline
            time.sleep(0.05)
        latencies = []
        with requests.Session() as s:
            s.headers.update(auth)
            for _ in range(10):
                t0 = time.perf_counter()
                q = s.get(f"{base}/studies?StudyInstanceUID={study}", timeout=30)
                latencies.append((time.perf_counter() - t0) * 1000)
                assert q.status_code == 200
                time.sleep(0.1)
        print(f"QIDO during the render: max {max(latencies):.0f} ms, median {sorted(latencies)[5]:.0f} ms")
        assert max(latencies) < 300, latencies  # goal 100 ms; generous for a shared machine
    finally:
        stop.set()
        t.join(120)
