"""Helpers for tests: build STOW bodies, synthesise small instances, list shared data files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

BOUNDARY = "cirrus-test-boundary-7f3a"
STOW_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def multipart(parts: list[bytes], boundary: str = BOUNDARY, part_type: str = "application/dicom") -> bytes:
    out = io.BytesIO()
    for data in parts:
        out.write(f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


def ct_instance(
    study: str | None = None,
    series: str | None = None,
    sop: str | None = None,
    number: int = 1,
    size: int = 16,
    patient: str = "Doe^Jane",
    seed: int = 0,
) -> bytes:
    """A small valid CT instance (explicit VR little endian) as Part 10 bytes."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = series or generate_uid()
    ds.PatientName = patient
    ds.PatientID = "PID-" + patient.split("^")[0].upper()
    ds.StudyDate = "20240315"
    ds.StudyTime = "101500"
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.StudyDescription = "Head CT"
    ds.SeriesDescription = "Axial"
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    rng = np.random.default_rng(seed + number)
    ds.PixelData = rng.integers(0, 4096, size=(size, size), dtype="<u2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def shared_dicom_files(shared: Path) -> list[Path]:
    """Every DICOM file under the shared data folder (skips READMEs, licences, JSON, zips)."""
    out = []
    for p in sorted(shared.rglob("*")):
        if p.is_file() and p.suffix.lower() not in {".md", ".json", ".zip", ".tsv", ".txt", ".nii", ".gz"} \
                and p.name not in {"LICENSE"}:
            with open(p, "rb") as f:
                head = f.read(132)
            if head[128:132] == b"DICM":
                out.append(p)
    return out
