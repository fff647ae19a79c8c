"""GE 3D spiral pCASL: one series holds PW (perfusion-weighted, NEX-summed, ×32) then PD images.

Private elements used (creator, element): GEMS_PARM_01 (0043,xxA3) ASL contrast
(``PSEUDOCONTINUOUS`` on PW images, ``CONTINUOUS`` on PD), GEMS_PARM_01 (0043,xxA5) labeling
duration in ms, GEMS_IMAG_01 (0027,xx62) NEX, GEMS_ACQU_01 (0019,xx9E) sequence name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pydicom

from quant.acquisition import AslAcquisition, AslVolume, SeriesInfo
from quant.errors import InputError
from quant.images import geometry_of, slice_location, sort_slices, stack_loader
from quant.params import Param
from quant.vendors import ge_easl
from quant.vendors.common import (
    description,
    field_strength,
    image_type,
    number,
    private,
    readout,
    series_info,
    tag_param,
)

VENDOR = "GE"
PARM = "GEMS_PARM_01"
IMAG = "GEMS_IMAG_01"
ACQU = "GEMS_ACQU_01"
ASL_WORD = re.compile(r"(?<![a-z])(p|pc|c|e)?asl(?![a-z])", re.IGNORECASE)
SCANNER_MAP_WORDS = ("transit delay", "transit-corrected", "transit corrected", "cbf", "flow")


def matches(ds: pydicom.Dataset) -> bool:
    return "GE" in str(ds.get("Manufacturer", "")).upper()


def asl_contrast(ds: pydicom.Dataset) -> str:
    return str(private(ds, 0x0043, PARM, 0xA3) or "").strip().upper()


def is_pw(ds: pydicom.Dataset) -> bool:
    return "PERFUSION_ASL" in image_type(ds) or asl_contrast(ds) == "PSEUDOCONTINUOUS"


def recognise(datasets: Sequence[pydicom.Dataset]) -> SeriesInfo | None:
    ds = datasets[0]
    desc = description(ds).lower()
    seq = str(private(ds, 0x0019, ACQU, 0x9E) or "").lower()
    asl_like = any(is_pw(d) for d in datasets) or bool(ASL_WORD.search(desc)) or seq in ("3dpcasl", "easl")
    if not asl_like:
        return None
    if ("eASL" in description(ds) and "raw" not in desc) or (
        any(w in desc for w in SCANNER_MAP_WORDS) and not any(is_pw(d) for d in datasets)
    ):
        return series_info(datasets, VENDOR, "scanner_map", "GE scanner-computed map (Series Description)")
    has_pw = any(is_pw(d) for d in datasets)
    has_pd = any(not is_pw(d) for d in datasets)
    if has_pw and has_pd:
        return series_info(datasets, VENDOR, "asl", "GE PW + PD images (ImageType / ASL contrast)")
    if has_pw:
        return series_info(datasets, VENDOR, "asl", "GE PW images without PD")
    return None


def _delay_groups(
    info: SeriesInfo, pw: list[pydicom.Dataset], cvs: dict[str, float], notes: list[str]
) -> tuple[list[list[pydicom.Dataset]], list[float] | None]:
    """The PW images of each delay (shortest delay first) and their InversionTime (ms) if it
    tells the delays apart; one group when every slice position occurs once."""
    locations = [round(slice_location(d), 3) for d in pw]
    if len(set(locations)) == len(locations):
        return [pw], [number(pw[0], "InversionTime") or 0.0]
    by_ti: dict[float, list[pydicom.Dataset]] = {}
    for d in pw:
        by_ti.setdefault(number(d, "InversionTime") or 0.0, []).append(d)
    if all(len({round(slice_location(d), 3) for d in g}) == len(g) for g in by_ti.values()):
        return [by_ti[t] for t in sorted(by_ti)], sorted(by_ti)
    n = int(cvs.get("n_delays", 0))
    slices = len(set(locations))
    if n > 1 and len(pw) == n * slices:
        # eASL raw with one InversionTime for all delays: blocks of one volume each, in instance
        # order. Unverified on a real export, hence said in the notes.
        ordered = sorted(pw, key=lambda d: number(d, "InstanceNumber") or 0)
        notes.append(
            f"eASL: the {n} delay volumes are taken in instance order, shortest delay first "
            "(InversionTime does not tell them apart; order unverified on real GE data)"
        )
        return [ordered[k * slices : (k + 1) * slices] for k in range(n)], None
    raise InputError(
        f"GE series {info.description!r} has several PW images per slice position that InversionTime "
        "does not separate; multi-delay raw data needs the delay of each image"
    )


def build(info: SeriesInfo, datasets: Sequence[pydicom.Dataset]) -> AslAcquisition:
    pw = [d for d in datasets if is_pw(d)]
    pd = [d for d in datasets if not is_pw(d)]
    if not pw:
        raise InputError(f"GE series {info.description!r} has no perfusion-weighted (PW) images")
    seq = str(private(pw[0], 0x0019, ACQU, 0x9E) or "").strip()
    cvs = ge_easl.user_cvs(pw[0]) if seq.lower() == "easl" or "easl" in info.description.lower() else {}
    notes: list[str] = [f"GE sequence {seq}"] if seq else []
    groups, inversion_ms = _delay_groups(info, pw, cvs, notes)
    volumes: list[AslVolume] = []
    geometry = None
    for index, group in enumerate(groups):
        pw_sorted = sort_slices(group)
        g = geometry_of(pw_sorted)
        if geometry is None:
            geometry = g
        else:
            geometry.check_same_grid(g, f"GE PW images of delay {index + 1}")
        volumes.append(
            AslVolume(
                "delta_m",
                index,
                info.series_instance_uid,
                tuple(str(d.SOPInstanceUID) for d in pw_sorted),
                stack_loader(pw_sorted),
            )
        )
    assert geometry is not None
    if pd:
        pd_sorted = sort_slices(pd)
        geometry.check_same_grid(geometry_of(pd_sorted), f"GE PD images of {info.description!r}")
        volumes.append(
            AslVolume(
                "m0",
                0,
                info.series_instance_uid,
                tuple(str(d.SOPInstanceUID) for d in pd_sorted),
                stack_loader(pd_sorted),
            )
        )
    first = sort_slices(pw)[0] if len(groups) == 1 else pw[0]
    params: dict[str, Param] = {
        "labeling_type": Param("labeling_type", "pcasl", "", "tag", "GE ASL contrast PSEUDOCONTINUOUS"),
        "ge_pw_scaled": Param("ge_pw_scaled", True, "", "tag", "GE PW = NEX-sum × 32"),
    }
    missing: list[str] = []
    design = None
    if len(groups) > 1 and {"first_pld_ms", "total_labeling_ms", "n_delays"} <= set(cvs):
        if int(cvs["n_delays"]) != len(groups):
            notes.append(f"eASL: CV6 says {int(cvs['n_delays'])} delays, the series holds {len(groups)}")
        else:
            design = ge_easl.delay_design(
                cvs["first_pld_ms"], cvs["total_labeling_ms"], len(groups), cvs.get("design", 1.0)
            )
    if design is not None:
        lds, plds = design
        detail = ge_easl.describe(cvs)
        if inversion_ms is not None and not all(
            abs(a - b) <= 0.05 * b for a, b in zip(inversion_ms, plds, strict=True)
        ):
            notes.append(f"eASL: InversionTime per delay {inversion_ms} ms differs from the CV design {plds} ms")
        params["pld"] = tag_param("pld", [v / 1000.0 for v in plds], "s", detail)
        params["labeling_duration"] = tag_param("labeling_duration", [v / 1000.0 for v in lds], "s", detail)
        notes.append("eASL: each delay has its own sub-bolus duration (kinetic model per delay)")
    elif inversion_ms is not None and all(t > 0 for t in inversion_ms):
        params["pld"] = tag_param("pld", [t / 1000.0 for t in inversion_ms], "s", "InversionTime")
    else:
        missing.append("pld")
    ld = private(first, 0x0043, PARM, 0xA5)
    if "labeling_duration" not in params:
        if ld not in (None, "") and float(ld) > 0:
            params["labeling_duration"] = tag_param(
                "labeling_duration", float(ld) / 1000.0, "s", "GE (0043,xxA5) labeling duration"
            )
        else:
            missing.append("labeling_duration")
    nex = private(first, 0x0027, IMAG, 0x62)
    if nex not in (None, "") and float(nex) > 0:
        params["nex"] = tag_param("nex", float(nex), "", "GE (0027,xx62) NEX")
    elif (averages := number(first, "NumberOfAverages")) is not None and averages > 0:
        params["nex"] = tag_param("nex", averages, "", "NumberOfAverages")
    else:
        missing.append("nex")
    for p in (field_strength(first), readout(first)):
        if p is not None:
            params[p.name] = p
    if not pd:
        notes.append("no PD (M0) images in the series")
    return AslAcquisition(
        vendor=VENDOR,
        labeling_type="pcasl",
        readout=params["readout"].value if "readout" in params else "3D",
        series=[info],
        volumes=volumes,
        geometry=geometry,
        parameters=params,
        missing=missing,
        reference=first,
        source_images=[(str(d.SOPClassUID), str(d.SOPInstanceUID)) for d in datasets],
        notes=notes,
    )
