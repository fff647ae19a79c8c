"""Philips classic DICOM ASL: one file per slice, dynamic, phase and control/label.

Control/label: "Philips MR Imaging DD 005" (2005,xx29) ``CONTROL``/``LABEL``; phase: "Philips
Imaging DD 001" (2001,xx08); repeat: TemporalPositionIdentifier. Values are Philips "floating
point" values FP = (SV·RS + RI) / (RS · SS) with the scale slope SS in "Philips MR Imaging DD 001"
(2005,xx0E), computed per file. Classic headers carry no PLD, labeling duration or labeling type:
they are reported as missing unless a per-protocol setting or a person supplies them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pydicom
from numpy.typing import NDArray

from quant.acquisition import AslAcquisition, AslVolume, SeriesInfo, VolumeKind
from quant.errors import InputError
from quant.images import geometry_of, sort_slices, stack_loader
from quant.params import Param
from quant.vendors.common import description, field_strength, image_type, private, readout, series_info

VENDOR = "Philips"
DD001 = "Philips MR Imaging DD 001"
DD005 = "Philips MR Imaging DD 005"
IMG001 = "Philips Imaging DD 001"


def matches(ds: pydicom.Dataset) -> bool:
    return "PHILIPS" in str(ds.get("Manufacturer", "")).upper()


def label_type(ds: pydicom.Dataset) -> str:
    return str(private(ds, 0x2005, DD005, 0x29) or "").strip().upper()


def floating_point(ds: pydicom.Dataset) -> NDArray[np.float64]:
    """Philips FP value of one file (the scale slope may differ per file, so never share it)."""
    sv = ds.pixel_array.astype(np.float64)
    rs = float(ds.get("RescaleSlope", 1.0) or 1.0)
    ri = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    ss = private(ds, 0x2005, DD001, 0x0E)
    ss_f = float(ss) if ss not in (None, "") and float(ss) != 0 else 1.0
    out: NDArray[np.float64] = (sv * rs + ri) / (rs * ss_f)
    return out


def recognise(datasets: Sequence[pydicom.Dataset]) -> SeriesInfo | None:
    ds = datasets[0]
    desc = description(ds)
    types = image_type(ds)
    labels = {label_type(d) for d in datasets}
    if {"CONTROL", "LABEL"} <= labels:
        return series_info(datasets, VENDOR, "asl", "Philips control/label flags (2005,xx29)")
    if any("PERFUSION" in t for t in types) and "SOURCE" not in desc.upper():
        return series_info(
            datasets, VENDOR, "scanner_map", "Philips scanner ΔM (perfusion-weighted) series, not CBF"
        )
    if "ASL" in desc.upper() and ("M0" in desc.upper() or "PROTON" in desc.upper()):
        return series_info(datasets, VENDOR, "m0", "Philips M0 series (Series Description)")
    return None


def phase(ds: pydicom.Dataset) -> int:
    value = private(ds, 0x2001, IMG001, 0x08)
    return int(value) if value not in (None, "") else 1


def build(info: SeriesInfo, datasets: Sequence[pydicom.Dataset]) -> AslAcquisition:
    groups: dict[tuple[int, int, str], list[pydicom.Dataset]] = defaultdict(list)
    for d in datasets:
        lab = label_type(d)
        if lab not in ("CONTROL", "LABEL"):
            raise InputError(
                f"Philips series {info.description!r}: image {d.SOPInstanceUID} is neither CONTROL nor LABEL"
            )
        groups[(phase(d), int(d.get("TemporalPositionIdentifier", 1) or 1), lab)].append(d)
    phases = sorted({k[0] for k in groups})
    volumes: list[AslVolume] = []
    geometry = None
    for (ph, dyn, lab), files in sorted(groups.items()):
        slices = sort_slices(files)
        g = geometry_of(slices)
        if geometry is None:
            geometry = g
        else:
            geometry.check_same_grid(g, f"Philips dynamic {dyn} phase {ph} {lab.lower()}")
        kind: VolumeKind = "control" if lab == "CONTROL" else "label"
        volumes.append(
            AslVolume(
                kind,
                phases.index(ph),
                info.series_instance_uid,
                tuple(str(s.SOPInstanceUID) for s in slices),
                stack_loader(slices, floating_point),
                repetition=dyn,
            )
        )
    assert geometry is not None
    first = datasets[0]
    params: dict[str, Param] = {}
    for p in (field_strength(first), readout(first)):
        if p is not None:
            params[p.name] = p
    tr = first.get("RepetitionTime")
    if tr not in (None, ""):
        # Needed when the control images stand in for a missing M0 (short-TR correction).
        params["tr"] = Param("tr", float(tr) / 1000.0, "s", "tag", "RepetitionTime")
    missing = ["labeling_type", "pld", "labeling_duration"]
    notes = ["classic Philips DICOM carries no PLD, labeling duration or labeling type"]
    if len(phases) > 1:
        trigger = sorted({float(d.get("TriggerTime", 0) or 0) for d in datasets})
        notes.append(f"multi-phase: TriggerTime per phase {trigger} ms")
    return AslAcquisition(
        vendor=VENDOR,
        labeling_type=None,
        readout=params["readout"].value if "readout" in params else None,
        series=[info],
        volumes=volumes,
        geometry=geometry,
        parameters=params,
        missing=missing,
        reference=first,
        source_images=[(str(d.SOPClassUID), str(d.SOPInstanceUID)) for d in datasets],
        notes=notes,
    )


def m0_volume(info: SeriesInfo, datasets: Sequence[pydicom.Dataset]) -> tuple[AslVolume, object]:
    slices = sort_slices(datasets)
    return (
        AslVolume(
            "m0",
            0,
            info.series_instance_uid,
            tuple(str(s.SOPInstanceUID) for s in slices),
            stack_loader(slices, floating_point),
        ),
        geometry_of(slices),
    )
