"""File input for ``cirrus quant``: DICOM files, folders, ZIPs, and BIDS ASL NIfTI.

The quantification library (``quant/``) does no I/O; this module turns paths into pydicom
datasets or into an :class:`quant.AslAcquisition` built from NIfTI arrays.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from quant import AslAcquisition, InputError, Param, VolumeKind, geometry_from_affine
from server.services.archives import Skipped, UploadLimits, UploadRejected, walk_inputs

NIFTI_SUFFIXES = (".nii", ".nii.gz")
CONTEXT_KINDS: dict[str, VolumeKind] = {
    "control": "control",
    "label": "label",
    "m0scan": "m0",
    "deltam": "delta_m",
}


def is_nifti(path: Path) -> bool:
    return path.name.endswith(NIFTI_SUFFIXES)


SIDECAR_SUFFIXES = (".json", ".tsv")
NOT_IMAGES = (".json", ".tsv", ".txt", ".md")


def _read_dicom(path: Path) -> pydicom.Dataset | None:
    try:
        return pydicom.dcmread(path)
    except (InvalidDicomError, EOFError, ValueError, OSError):
        return None


def read_inputs(paths: Iterable[Path], workdir: Path) -> tuple[list[pydicom.Dataset], list[Path]]:
    """DICOM datasets and BIDS ASL NIfTI files found in ``paths``.

    Files, folders and ZIPs are expanded by the same code as uploads (``server.services.archives``:
    unsafe member names, zip bombs and lying sizes are refused before anything is written). NIfTI
    members of an archive are laid out under ``workdir`` by their (checked) member names, so that
    their BIDS sidecars sit beside them.
    """
    inputs = []
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
        inputs.append((p.name, p.resolve()))
    datasets: list[pydicom.Dataset] = []
    niftis: list[Path] = []
    members = workdir / "members"
    try:
        for item in walk_inputs(inputs, workdir, UploadLimits()):
            if isinstance(item, Skipped):
                continue
            path = item.path
            extracted = path.is_relative_to(workdir)
            name = item.name
            if extracted and (is_nifti(Path(name)) or name.endswith(SIDECAR_SUFFIXES)):
                target = members / name
                target.parent.mkdir(parents=True, exist_ok=True)
                path = path.replace(target)
            if is_nifti(path):
                niftis.append(path)
            elif not name.lower().endswith(NOT_IMAGES):
                ds = _read_dicom(path)
                if ds is not None:
                    datasets.append(ds)
                if extracted:
                    path.unlink(missing_ok=True)
    except UploadRejected as exc:
        raise InputError(exc.message) from None
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
