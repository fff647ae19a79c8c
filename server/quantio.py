"""File input for ``cirrus quant``: DICOM files, folders, ZIPs, and BIDS ASL NIfTI.

The quantification library (``quant/``) does no I/O; this module turns paths into pydicom
datasets or into an :class:`quant.AslAcquisition` built from NIfTI arrays.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from quant import AslAcquisition, InputError, Param, geometry_from_affine
from quant.acquisition import VolumeKind

NIFTI_SUFFIXES = (".nii", ".nii.gz")
CONTEXT_KINDS: dict[str, VolumeKind] = {
    "control": "control",
    "label": "label",
    "m0scan": "m0",
    "deltam": "delta_m",
}


def is_nifti(path: Path) -> bool:
    return path.name.endswith(NIFTI_SUFFIXES)


def _read_dicom_bytes(data: bytes, name: str) -> pydicom.Dataset | None:
    try:
        return pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError):
        return None


def _iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            yield from sorted(x for x in p.rglob("*") if x.is_file())
        elif p.is_file():
            yield p
        else:
            raise InputError(f"{p}: no such file or folder")


def read_inputs(paths: Iterable[Path], workdir: Path) -> tuple[list[pydicom.Dataset], list[Path]]:
    """DICOM datasets and NIfTI files found in ``paths`` (ZIPs are opened; NIfTI members are
    extracted into ``workdir`` with their sidecars)."""
    datasets: list[pydicom.Dataset] = []
    niftis: list[Path] = []
    for f in _iter_files(paths):
        if is_nifti(f):
            niftis.append(f)
        elif zipfile.is_zipfile(f):
            with zipfile.ZipFile(f) as zf:
                names = zf.namelist()
                if any(n.endswith(NIFTI_SUFFIXES) for n in names):
                    target = Path(tempfile.mkdtemp(prefix="zip-", dir=workdir))
                    zf.extractall(target)
                    niftis += sorted(p for p in target.rglob("*") if is_nifti(p) and "_asl" in p.name)
                    continue
                for name in names:
                    if name.endswith("/"):
                        continue
                    ds = _read_dicom_bytes(zf.read(name), name)
                    if ds is not None:
                        datasets.append(ds)
        elif f.suffix.lower() in (".json", ".tsv", ".txt", ".md"):
            continue
        else:
            ds = _read_dicom_bytes(f.read_bytes(), str(f))
            if ds is not None:
                datasets.append(ds)
    # A folder of BIDS output: keep only ASL series (ground-truth maps are not inputs).
    niftis = [n for n in niftis if n.name.replace(".gz", "").endswith("_asl.nii")]
    return datasets, niftis


def _sidecar(nifti: Path, suffix: str) -> Path:
    stem = nifti.name[: -len(".nii.gz")] if nifti.name.endswith(".nii.gz") else nifti.name[: -len(".nii")]
    base = stem[: -len("_asl")] if stem.endswith("_asl") else stem
    return nifti.with_name(base + suffix)


def load_nifti_lps(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Data and RAS affine of a NIfTI image, reoriented so that i runs to the patient's left and
    j to posterior (DICOM's usual axial layout: derived images display the radiological way)."""
    img = nib.as_closest_canonical(nib.load(str(path)))  # type: ignore[arg-type]
    data = np.asarray(img.get_fdata(), dtype=np.float64)
    affine = np.asarray(img.affine, dtype=np.float64).copy()
    for axis in (0, 1):  # RAS+ -> LPS+ along i and j
        data = np.flip(data, axis=axis)
        affine[:3, 3] += affine[:3, axis] * (data.shape[axis] - 1)
        affine[:3, axis] = -affine[:3, axis]
    return data, affine


def load_volume_zyx(path: Path) -> np.ndarray:
    """A 3-D NIfTI image as a (z, y, x) array (e.g. a tissue T1 map for the kinetic fit), in
    the same layout as the volumes of :func:`acquisition_from_bids`."""
    data, _ = load_nifti_lps(path)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"{path.name}: expected a 3-D image, got shape {data.shape}")
    return np.transpose(data, (2, 1, 0))


def acquisition_from_bids(niftis: list[Path]) -> AslAcquisition:
    """One acquisition from BIDS ASL NIfTI files (several files = several delays)."""
    if not niftis:
        raise InputError("no *_asl.nii(.gz) file given")
    volumes: list[tuple[VolumeKind, float | None, np.ndarray]] = []
    geometry = None
    meta0: dict[str, Any] = {}
    m0_tr: float | None = None
    for path in sorted(niftis):
        data, affine = load_nifti_lps(path)
        if data.ndim == 3:
            data = data[..., None]
        side = _sidecar(path, "_asl.json")
        ctx = _sidecar(path, "_aslcontext.tsv")
        if not side.exists():
            raise InputError(f"{path.name}: BIDS sidecar {side.name} not found")
        if not ctx.exists():
            raise InputError(f"{path.name}: {ctx.name} (volume types) not found")
        meta = json.loads(side.read_text(encoding="utf-8"))
        meta0 = meta0 or meta
        with ctx.open(encoding="utf-8") as fh:
            kinds = [row["volume_type"].strip().lower() for row in csv.DictReader(fh, delimiter="\t")]
        if len(kinds) != data.shape[3]:
            raise InputError(f"{path.name}: {data.shape[3]} volumes but {len(kinds)} rows in {ctx.name}")
        g = geometry_from_affine(affine, data.shape[:3])
        if geometry is None:
            geometry = g
        else:
            geometry.check_same_grid(g, path.name)
        pld = meta.get("PostLabelingDelay")
        plds = pld if isinstance(pld, list) else [pld] * len(kinds)
        trs = meta.get("RepetitionTime")
        trs_l = trs if isinstance(trs, list) else [trs] * len(kinds)
        for i, k in enumerate(kinds):
            if k not in CONTEXT_KINDS:
                raise InputError(
                    f"{path.name}: volume type {k!r} is not supported (control/label/m0scan/deltam)"
                )
            kind = CONTEXT_KINDS[k]
            if kind == "m0" and trs_l[i] is not None:
                m0_tr = float(trs_l[i])
            volumes.append((kind, None if kind == "m0" else plds[i], np.transpose(data[..., i], (2, 1, 0))))
    assert geometry is not None
    delays = sorted({float(p) for k, p, _ in volumes if k != "m0" and p is not None})
    labeling = str(meta0.get("LabelingType", meta0.get("ArterialSpinLabelingType", "")) or "").lower()
    params: dict[str, Param] = {}
    missing: list[str] = []

    def side(name: str, value: Any, unit: str, key: str) -> None:
        params[name] = Param(name, value, unit, "tag", f"BIDS sidecar {key}")

    if labeling:
        side("labeling_type", labeling, "", "LabelingType")
    else:
        missing.append("labeling_type")
    if labeling == "pasl":
        if delays:
            side("ti", delays, "s", "PostLabelingDelay (TI)")
        if meta0.get("BolusCutOffDelayTime") is not None:
            bc = meta0["BolusCutOffDelayTime"]
            side("ti1", float(bc[0] if isinstance(bc, list) else bc), "s", "BolusCutOffDelayTime")
        else:
            missing.append("ti1")
    else:
        if delays:
            side("pld", delays, "s", "PostLabelingDelay")
        else:
            missing.append("pld")
        if meta0.get("LabelingDuration") is not None:
            ld = meta0["LabelingDuration"]
            side("labeling_duration", float(ld[0] if isinstance(ld, list) else ld), "s", "LabelingDuration")
        else:
            missing.append("labeling_duration")
    if meta0.get("MagneticFieldStrength"):
        side("field_strength", float(meta0["MagneticFieldStrength"]), "T", "MagneticFieldStrength")
    acq_type = meta0.get("MRAcquisitionType", meta0.get("MrAcquisitionType"))
    if acq_type:
        side("readout", str(acq_type).upper(), "", "MRAcquisitionType")
    if meta0.get("LabelingEfficiency"):
        side("labeling_efficiency", float(meta0["LabelingEfficiency"]), "", "LabelingEfficiency")
    if meta0.get("BackgroundSuppression") is not None:
        n = (
            int(meta0.get("BackgroundSuppressionNumberPulses", 0) or 0)
            if meta0["BackgroundSuppression"]
            else 0
        )
        side("background_suppression", n, "", "BackgroundSuppression(NumberPulses)")
    if m0_tr is not None:
        side("m0_tr", m0_tr, "s", "RepetitionTime of the m0scan volume")
    vols = [(k, 0 if p is None else delays.index(float(p)), a) for k, p, a in volumes]
    return AslAcquisition.from_arrays(
        vols,
        params,
        geometry,
        vendor="BIDS",
        labeling_type=labeling or None,
        readout=params["readout"].value if "readout" in params else None,
        description=", ".join(p.name for p in niftis),
        missing=missing,
    )
