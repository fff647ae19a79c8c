"""Philips classic DICOM ASL: one file per slice, dynamic, phase and control/label.

Control/label: "Philips MR Imaging DD 005" (2005,xx29) ``CONTROL``/``LABEL``; phase: "Philips
Imaging DD 001" (2001,xx08); repeat: TemporalPositionIdentifier. Values are Philips "floating
point" values FP = (SV·RS + RI) / (RS · SS) with the scale slope SS in "Philips MR Imaging DD 001"
(2005,xx0E), computed per file. Classic headers carry no PLD, labeling duration or labeling type:
the labeling type is read from the series name when it says (``pCASL`` → pCASL; ``STAR``,
``PASL``, ``FAIR`` or a multi-phase ``ASL`` → PASL; provenance "series description"); the timing
is reported as missing unless a preset, a per-protocol setting or a person supplies it.
Multi-phase PASL (STAR with several inflow times) is multi-TI PASL: one TI per phase is asked
for (TriggerTime per phase is shown as a hint, not used).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pydicom
from numpy.typing import NDArray

from quant.acquisition import AslAcquisition, AslVolume, SeriesInfo, VolumeKind
from quant.errors import InputError
from quant.images import geometry_of, sort_slices, stack_loader
from quant.params import Param
from quant.vendors.common import description, field_strength, image_type, number, private, readout, series_info

VENDOR = "Philips"
DD001 = "Philips MR Imaging DD 001"
DD005 = "Philips MR Imaging DD 005"
IMG001 = "Philips Imaging DD 001"
PCASL_NAME = re.compile(r"p-?casl", re.IGNORECASE)
PASL_NAME = re.compile(r"(?<![a-z])(star|pasl|fair|quasar)(?![a-z])", re.IGNORECASE)
ASL_NAME = re.compile(r"(?<![a-z])asl(?![a-z])", re.IGNORECASE)


def labeling_from_name(text: str, phases: int) -> tuple[str, str] | None:
    """Labeling type the series name declares, with the reason (None when it does not say)."""
    if PCASL_NAME.search(text):
        return "pcasl", f"series name {text.strip()!r} says pCASL"
    m = PASL_NAME.search(text)
    if m:
        return "pasl", f"series name {text.strip()!r} says {m.group(1)} (pulsed ASL)"
    if ASL_NAME.search(text) and phases > 1:
        return "pasl", f"series name {text.strip()!r} is a multi-phase ASL ({phases} phases: Philips STAR)"
    return None


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
        groups[(phase(d), int(number(d, "TemporalPositionIdentifier") or 1), lab)].append(d)
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
    tr = number(first, "RepetitionTime")
    if tr is not None and tr > 0:
        # Needed when the control images stand in for a missing M0 (short-TR correction).
        params["tr"] = Param("tr", tr / 1000.0, "s", "tag", "RepetitionTime")
    names = " / ".join(dict.fromkeys(t for t in (description(first), str(first.get("ProtocolName", "") or "")) if t))
    declared = labeling_from_name(names, len(phases))
    notes = ["classic Philips DICOM carries no PLD, labeling duration or labeling type"]
    labeling: str | None = None
    if declared is None:
        missing = ["labeling_type", "pld", "labeling_duration"]
    else:
        labeling, why = declared
        params["labeling_type"] = Param("labeling_type", labeling, "", "series description", why)
        missing = ["ti", "ti1"] if labeling == "pasl" else ["pld", "labeling_duration"]
    if len(phases) > 1:
        trigger = [number(d, "TriggerTime") or 0.0 for d in datasets]
        per_phase = sorted({t for t in trigger})
        notes.append(f"multi-phase: {len(phases)} phases, TriggerTime per phase {per_phase} ms")
        if labeling == "pasl":
            notes.append(
                f"multi-TI PASL: enter one inflow time TI per phase ({len(phases)}) and the bolus duration TI1"
            )
            if len(per_phase) == len(phases) and all(t > 0 for t in per_phase):
                params["ti_hint"] = Param(
                    "ti_hint", [t / 1000.0 for t in per_phase], "s", "tag",
                    "TriggerTime per phase: a hint for TI, not used (Look-Locker timing must be confirmed)",
                )
    return AslAcquisition(
        vendor=VENDOR,
        labeling_type=labeling,
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
