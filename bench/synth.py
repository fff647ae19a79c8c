"""A deterministic synthetic CT study for benchmarks: N series × M instances, 512×512, 16-bit.

``python bench/synth.py OUT_DIR [--series 4] [--instances 250] [--size 512]`` writes
``OUT_DIR/<series>/<instance>.dcm`` and ``OUT_DIR/manifest.json``. The same arguments always give
the same bytes (UIDs derived from a seed, pixels from a seeded generator), so an existing folder
with a matching manifest is reused instead of being written again.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@dataclass
class SeriesInfo:
    series_uid: str
    number: int
    sop_uids: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # relative to the study folder
    # Byte offset and length of the (single) frame inside each file, for the nginx roof.
    pixel_offsets: list[int] = field(default_factory=list)
    pixel_length: int = 0


@dataclass
class StudyInfo:
    root: str
    study_uid: str
    patient_id: str
    params: dict[str, int]
    series: list[SeriesInfo]

    @property
    def instance_count(self) -> int:
        return sum(len(s.sop_uids) for s in self.series)

    def paths(self) -> list[Path]:
        return [Path(self.root) / f for s in self.series for f in s.files]

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.paths())


def _uid(seed: int, *parts: object) -> str:
    return generate_uid(entropy_srcs=["cirrus-bench", str(seed), *map(str, parts)])


def _phantom(size: int, rng: np.random.Generator, z: float) -> np.ndarray:
    """A water cylinder with a few denser inserts, in stored values (HU + 1024), plus noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2
    r = np.hypot(xx - c, yy - c)
    hu = np.full((size, size), -1000.0, dtype=np.float32)
    hu[r < size * 0.42] = 40.0
    for k, (dx, dy, v) in enumerate([(0.2, 0.0, 400.0), (-0.2, 0.1, -100.0), (0.0, -0.22, 900.0)]):
        rad = size * (0.05 + 0.01 * np.sin(z / 20 + k))
        hu[np.hypot(xx - c - dx * size, yy - c - dy * size) < rad] = v
    hu += rng.normal(0.0, 12.0, hu.shape).astype(np.float32)
    stored: np.ndarray = np.clip(hu + 1024.0, 0, 4095).astype(np.int16)
    return stored


def _base_dataset(seed: int, study_uid: str, patient_id: str) -> Dataset:
    ds = Dataset()
    ds.PatientName = "BENCH^CT"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = "20240102"
    ds.StudyTime = "101500"
    ds.StudyID = "1"
    ds.AccessionNumber = f"BENCH{seed:04d}"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Synthetic CT benchmark study"
    ds.Modality = "CT"
    ds.Manufacturer = "Cirrus bench"
    ds.FrameOfReferenceUID = _uid(seed, "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 1.0
    ds.KVP = 120
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    return ds


def generate(out: Path, series: int = 4, instances: int = 250, size: int = 512, seed: int = 0) -> StudyInfo:
    """Write the study (or reuse an identical earlier one) and return its description."""
    out = Path(out)
    params = {"series": series, "instances": instances, "size": size, "seed": seed, "format": FORMAT_VERSION}
    existing = load(out)
    if existing is not None and existing.params == params and all(p.is_file() for p in existing.paths()):
        return existing
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    study_uid = _uid(seed, "study")
    patient_id = f"BENCH-{seed}"
    base = _base_dataset(seed, study_uid, patient_id)
    infos: list[SeriesInfo] = []
    for s in range(series):
        info = SeriesInfo(series_uid=_uid(seed, "series", s), number=s + 1)
        (out / str(s + 1)).mkdir(exist_ok=True)
        for i in range(instances):
            ds = base.copy()
            ds.SeriesInstanceUID = info.series_uid
            ds.SeriesNumber = s + 1
            ds.SeriesDescription = f"Synthetic axial {s + 1}"
            ds.SOPInstanceUID = _uid(seed, "instance", s, i)
            ds.InstanceNumber = i + 1
            z = -float(i) * 1.0
            ds.ImagePositionPatient = [-179.2, -179.2, z]
            ds.SliceLocation = z
            ds.Rows = size
            ds.Columns = size
            ds.PixelData = _phantom(size, rng, float(i + 50 * s)).tobytes()
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = CTImageStorage
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.file_meta = meta
            rel = f"{s + 1}/{i + 1:04d}.dcm"
            ds.save_as(out / rel, enforce_file_format=True)
            info.sop_uids.append(ds.SOPInstanceUID)
            info.files.append(rel)
            info.pixel_length = size * size * 2
            # Native pixel data is the last element of the file: its value is the file's tail.
            info.pixel_offsets.append((out / rel).stat().st_size - info.pixel_length)
        infos.append(info)
    study = StudyInfo(str(out.resolve()), study_uid, patient_id, params, infos)
    (out / MANIFEST).write_text(json.dumps(asdict(study), indent=1))
    return study


def load(out: Path) -> StudyInfo | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    series = [SeriesInfo(**s) for s in raw.pop("series")]
    return StudyInfo(series=series, **raw)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--series", type=int, default=4)
    p.add_argument("--instances", type=int, default=250)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    study = generate(a.out, a.series, a.instances, a.size, a.seed)
    print(f"{study.instance_count} instances, {study.total_bytes / 1e6:.1f} MB in {study.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
