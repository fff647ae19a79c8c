"""Siemens ASL (VE11 mosaics): protocol from ASCCONV text in the CSA series header.

PASL (tgse_pasl, ep2d_pasl): TI1 = ``alTI[0]`` µs, TI = ``alTI[2]`` µs. Wang/LOFT pCASL
(ep2d_pcasl*, tgse_pcasl*): PLD = ``sWipMemBlock.adFree[2]`` µs, labeling duration =
``adFree[3]`` RF blocks × 18.4 ms. XA product: ``sAsl.sPostLabelingDelay`` / ``sAsl.ulLabelingDuration``
(µs, unverified on real data). M0 is the first volume for ep2d_pasl and tgse_pcasl, otherwise a
separate series; a separate "M0" series acquired with the ASL protocol's own contrast settings
(same sequence, TR, TI, ``sAsl``, WIP parameters) holds control/label images and is refused.
Background suppression: ``sAsl.ulSuppressionMode`` ≥ 2. Mosaic slice order and normal come from
the CSA image header.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pydicom

from quant.acquisition import AslAcquisition, AslVolume, Geometry, SeriesInfo, VolumeKind
from quant.errors import InputError
from quant.images import mosaic_geometry, unpack_mosaic
from quant.params import Param
from quant.vendors.common import description, field_strength, image_type, number, readout, series_info
from quant.vendors.siemens_wip import (
    NONSELECTIVE_CONTROL_CYCLE,
    NONSELECTIVE_LABEL_CYCLE,
    layout_for,
    nonselective_note,
    vessel_encoded_layout,
    wip_parameters,
)

with warnings.catch_warnings():
    # nibabel.nicom warns on import that its DICOM *readers* are experimental; only the CSA
    # header parser is used here.
    warnings.simplefilter("ignore")
    from nibabel.nicom import csareader

VENDOR = "Siemens"
RF_BLOCK_S = 0.0184  # one Wang pCASL RF block
SCANNER_MAP_WORDS = ("pwi", "perfusion_weighted", "relcbf", "parameter_fit", "_cbf", " cbf", "tt_map")
M0_WORDS = re.compile(r"(_m0\b|\bm0\b|m0$|pd_tse|proton)", re.IGNORECASE)
# Sequence files of ASL (product PASL/pCASL, Wang/LOFT, Oxford VEPCASL, FAIR variants).
ASL_SEQUENCE = re.compile(r"(pasl|pcasl|casl|fairest|picore|q2tips|(?<![a-z])asl(?![a-z]))")
ASL_WORD = re.compile(r"(?<![a-z])(p|pc|c|ve|vepc|e)?asl(?![a-z])", re.IGNORECASE)
# Sequence families that are never ASL, whatever the series is called.
NON_ASL_SEQUENCE = re.compile(r"(bold|diff|dti|resolve|tfl|mprage|(?<!g)tse|spc|space|gre|fl[23]d|haste|swi|tof)")
# Series names of multi-delay variants ("mTI16_800-3800_tgse_pcasl", "..._Multidelay", "mPLD").
MULTI_DELAY_NAME = re.compile(
    r"((?<![a-z])m(ti|pld)\d*(?![a-z])|multi[-_ ]?(delay|pld|ti)|\d+\s*-?delays?(?![a-z]))", re.IGNORECASE
)
ASCCONV = re.compile(r"### ASCCONV BEGIN[^\n]*\n(.*?)### ASCCONV END", re.DOTALL)
FIRST_VOLUME_M0 = ("ep2d_pasl", "tgse_pcasl")
# 3D GRASE (tgse_*) series store control first, ep2d_* label first: in the shared VE11C samples
# mean(control − label) is positive in bright tissue only with this order. The engine warns
# when the mean ΔM in the brain comes out negative.
CONTROL_FIRST = ("tgse_",)
# Protocols say whether background suppression is on, not how many pulses: consensus default.
BS_ASSUMED_PULSES = 2
# ASCCONV keys that decide an image's contrast (see same_contrast).
CONTRAST_KEYS = ("tSequenceFileName", "alTR[", "alTI[", "sAsl.", "sWipMemBlock.", "sPrepPulses.")


def matches(ds: pydicom.Dataset) -> bool:
    return "SIEMENS" in str(ds.get("Manufacturer", "")).upper()


def ascconv(ds: pydicom.Dataset) -> dict[str, str]:
    """ASCCONV protocol lines ``key = value`` from the CSA series header (empty if none)."""
    try:
        header = csareader.get_csa_header(ds, "series")  # type: ignore[no-untyped-call]
    except Exception:  # malformed CSA: treat as absent, the caller reports missing values
        header = None
    text = ""
    if header:
        item = header["tags"].get("MrPhoenixProtocol", {}).get("items") or []
        text = str(item[0]) if item else ""
    if not text:
        raw = ds.get((0x0029, 0x1020))
        if raw is not None and isinstance(raw.value, bytes):
            text = raw.value.decode("latin-1", errors="replace")
    m = ASCCONV.search(text)
    out: dict[str, str] = {}
    for line in (m.group(1) if m else "").splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.split("#")[0].strip().strip('"')
    return out


def _num(asc: dict[str, str], key: str) -> float | None:
    value = asc.get(key)
    try:
        return float(value) if value else None
    except ValueError:
        return None


def sequence_file(asc: dict[str, str]) -> str:
    return asc.get("tSequenceFileName", "").replace("\\", "/").split("/")[-1].lower()


def asl_evidence(ds: pydicom.Dataset, asc: dict[str, str]) -> str | None:
    """Why ``ds`` is an ASL image, or None.

    ``sAsl.ulMode`` is no evidence: every Siemens EPI protocol carries it (the BOLD fMRI sample
    has ``sAsl.ulMode = 0x1``, as has the Wang 2D pCASL). Evidence is an ASL sequence file, the
    ``ASL`` ImageType value, or a series/protocol name saying ASL on a sequence that is not a
    known non-ASL family (BOLD, diffusion, anatomy).
    """
    seq = sequence_file(asc)
    if ASL_SEQUENCE.search(seq):
        return f"Siemens ASL sequence {seq}"
    if "ASL" in image_type(ds):
        return f"ImageType ASL ({seq or 'sequence unknown'})"
    text = f"{description(ds)} {ds.get('ProtocolName', '') or ''}"
    if ASL_WORD.search(text) and not (seq and NON_ASL_SEQUENCE.search(seq)):
        return f"series name says ASL ({seq or 'sequence unknown'})"
    return None


def recognise(datasets: Sequence[pydicom.Dataset]) -> SeriesInfo | None:
    ds = datasets[0]
    desc = description(ds)
    low = desc.lower()
    asc = ascconv(ds)
    seq = sequence_file(asc)
    why = asl_evidence(ds, asc)
    if why is None:
        if M0_WORDS.search(desc):  # an M0 candidate never opens a job on its own
            return series_info(datasets, VENDOR, "m0", "Siemens M0/PD series (Series Description)")
        return None
    if "DERIVED" in image_type(ds) or any(w in low for w in SCANNER_MAP_WORDS):
        return series_info(datasets, VENDOR, "scanner_map", "Siemens scanner-derived map (PWI/CBF/fit)")
    if M0_WORDS.search(desc):
        return series_info(datasets, VENDOR, "m0", f"Siemens M0 series ({seq or 'description'})")
    return series_info(datasets, VENDOR, "asl", why)


def protocol_parameters(ds: pydicom.Dataset) -> tuple[dict[str, Param], list[str], str, list[str]]:
    """Parameters from the ASCCONV text; returns (params, missing, labeling type, notes)."""
    asc = ascconv(ds)
    seq = sequence_file(asc)
    params: dict[str, Param] = {}
    missing: list[str] = []
    notes: list[str] = []

    def proto(name: str, value: Any, unit: str, key: str) -> None:
        params[name] = Param(name, value, unit, "protocol", f"ASCCONV {key} ({seq})")

    if layout_for(seq) is not None or "vepcasl" in seq:
        wip, wip_missing, labeling, wip_notes = wip_parameters(asc, seq)
        params.update(wip)
        missing += wip_missing
        notes += wip_notes
    elif "pasl" in seq:
        labeling = "pasl"
        ti1, ti = _num(asc, "alTI[0]"), _num(asc, "alTI[2]")
        if ti1:
            proto("ti1", ti1 / 1e6, "s", "alTI[0]")
        else:
            missing.append("ti1")
        if ti:
            proto("ti", [ti / 1e6], "s", "alTI[2]")
        else:
            missing.append("ti")
    elif "pcasl" in seq and MULTI_DELAY_NAME.search(f"{description(ds)} {ds.get('ProtocolName', '') or ''}"):
        # Multi-delay variants of the Wang sequences keep their PLDs somewhere in the WIP block
        # that no reader documents; quantifying them as single-delay (adFree[2]) would be wrong.
        labeling = "pcasl"
        params["unsupported"] = Param(
            "unsupported", seq, "", "series description",
            f"{seq} named as a multi-delay acquisition ({description(ds)!r}): where this variant keeps its PLDs "
            "is not documented, and treating it as single-delay would give wrong CBF",
        )
    elif "pcasl" in seq:
        labeling = "pcasl"
        pld, blocks = _num(asc, "sWipMemBlock.adFree[2]"), _num(asc, "sWipMemBlock.adFree[3]")
        if pld:
            proto("pld", [pld / 1e6], "s", "sWipMemBlock.adFree[2]")
        else:
            missing.append("pld")
        if blocks:
            proto("labeling_duration", blocks * RF_BLOCK_S, "s", "sWipMemBlock.adFree[3] × 18.4 ms")
        else:
            missing.append("labeling_duration")
    elif any(k.startswith("sAsl.sPostLabelingDelay") for k in asc) or "sAsl.ulLabelingDuration" in asc:
        labeling = "pcasl"
        pld_key = next((k for k in asc if k.startswith("sAsl.sPostLabelingDelay")), "")
        pld = _num(asc, pld_key) if pld_key else None
        ld = _num(asc, "sAsl.ulLabelingDuration")
        if pld:
            proto("pld", [pld / 1e6], "s", pld_key)
        else:
            missing.append("pld")
        if ld:
            proto("labeling_duration", ld / 1e6, "s", "sAsl.ulLabelingDuration")
        else:
            missing.append("labeling_duration")
    else:
        labeling = ""
        missing += ["labeling_type", "pld", "labeling_duration"]
    tr = _num(asc, "alTR[0]")
    if tr:
        proto("tr", tr / 1e6, "s", "alTR[0]")
    bs = background_suppression(asc)
    if bs is not None:
        params["background_suppression"] = bs
    if labeling:
        params["labeling_type"] = Param(
            "labeling_type", labeling, "", "protocol", f"ASCCONV tSequenceFileName {seq}"
        )
    params["sequence"] = Param("sequence", seq, "", "protocol", "ASCCONV tSequenceFileName")
    return params, missing, labeling, notes


def background_suppression(asc: dict[str, str]) -> Param | None:
    """Background suppression declared by the protocol (value: number of pulses).

    VE11 sequences (product and the Wang/LOFT tgse_pcasl alike) write ``sAsl.ulSuppressionMode``
    (1 = off, 2 and above = on) but not how many pulses, so the consensus default of 2 is
    assumed and said so. Without the key nothing is declared.
    """
    mode = _num(asc, "sAsl.ulSuppressionMode")
    if mode is not None:
        if mode < 2:
            detail = f"ASCCONV sAsl.ulSuppressionMode = {mode:g} (off)"
            return Param("background_suppression", 0, "", "protocol", detail)
        return Param(
            "background_suppression",
            BS_ASSUMED_PULSES,
            "",
            "protocol",
            f"ASCCONV sAsl.ulSuppressionMode = {mode:g} (on); pulse count not in the protocol, "
            f"{BS_ASSUMED_PULSES} assumed",
        )
    return None


def same_contrast(asl: dict[str, str], other: dict[str, str]) -> bool:
    """Whether a series was acquired with the ASL protocol's contrast settings: same sequence,
    TR, inversion times, ASL mode, background suppression and sequence (WIP) parameters.

    Such a series holds control/label images with labeling and suppression on, not M0, whatever
    its name (a proper M0 protocol switches labeling or suppression off, or changes TR).
    """
    keys = {k for k in (*asl, *other) if k.startswith(CONTRAST_KEYS) and "__attribute__" not in k}
    return bool(keys) and all(asl.get(k) == other.get(k) for k in keys)


def _csa_image(ds: pydicom.Dataset) -> dict[str, Any]:
    try:
        header = csareader.get_csa_header(ds, "image")  # type: ignore[no-untyped-call]
    except Exception:
        header = None
    return header or {"tags": {}}


def _csa_value(header: dict[str, Any], name: str) -> list[Any]:
    items = header["tags"].get(name, {}).get("items") or []
    return list(items)


def mosaic_count(ds: pydicom.Dataset) -> int | None:
    if "MOSAIC" not in image_type(ds):
        return None
    csa = _csa_image(ds)
    n = _csa_value(csa, "NumberOfImagesInMosaic")
    if n:
        return int(n[0])
    raw = ds.get((0x0019, 0x100A))
    return int(raw.value) if raw is not None else None


def volume_geometry(ds: pydicom.Dataset) -> tuple[Geometry, int, list[float]]:
    """Geometry of one mosaic, its slice count and per-slice acquisition times (s, from 0)."""
    n = mosaic_count(ds)
    if n is None:
        raise InputError(
            f"Siemens image {ds.SOPInstanceUID} is not a mosaic; single-slice Siemens ASL is not supported"
        )
    csa = _csa_image(ds)
    normal = _csa_value(csa, "SliceNormalVector")
    if len(normal) != 3:
        o = np.asarray([float(v) for v in ds.ImageOrientationPatient])
        normal = list(np.cross(o[:3], o[3:]))
    times = [float(t) / 1000.0 for t in _csa_value(csa, "MosaicRefAcqTimes")][:n]
    return mosaic_geometry(ds, n, normal), n, times


def _loader(ds: pydicom.Dataset, n: int) -> Any:
    return lambda: unpack_mosaic(ds, n)


def build(
    info: SeriesInfo,
    datasets: Sequence[pydicom.Dataset],
    m0_series: Sequence[tuple[SeriesInfo, Sequence[pydicom.Dataset]]],
) -> AslAcquisition:
    ordered = sorted(
        datasets,
        key=lambda d: (number(d, "AcquisitionNumber") or 0, number(d, "InstanceNumber") or 0),
    )
    first = ordered[0]
    params, missing, labeling, notes = protocol_parameters(first)
    geometry, n, times = volume_geometry(first)
    if any(t > 0 for t in times) and max(times) > 0:
        # 2-D readout: slice k is read later than slice 0 by times[k]; PLD grows accordingly.
        params["slice_times"] = Param(
            "slice_times", [t - min(times) for t in times], "s", "tag", "CSA image header MosaicRefAcqTimes"
        )
    seq = params["sequence"].value
    volumes: list[AslVolume] = []
    series = [info]
    rest = ordered
    if any(k in seq for k in FIRST_VOLUME_M0):
        volumes.append(
            AslVolume("m0", 0, info.series_instance_uid, (str(first.SOPInstanceUID),), _loader(first, n))
        )
        rest = ordered[1:]
        params["m0_placement"] = Param(
            "m0_placement", "first volume", "", "protocol", f"{seq}: first volume is M0"
        )
    encoded = None
    if "vepcasl" in seq:
        if layout_for(seq) is not None and "pld" in params:
            n_plds = len(params["pld"].value)
            encoded = vessel_encoded_layout(len(rest), n_plds)
            notes.append(nonselective_note(n_plds, 1 + max(e.repeat for e in encoded)))
        else:
            # Without the sequence's layout the encoding cycles cannot be told apart: refuse
            # rather than pair the images as if they alternated control/label.
            params["unsupported"] = Param(
                "unsupported", seq, "", "protocol",
                f"vessel-encoded sequence {seq}: its encoding cycles cannot be laid out (no documented WIP "
                "layout or no PLDs in the protocol); this series cannot be quantified",
            )
            missing = []
    for i, ds in enumerate(rest):
        g, _, _ = volume_geometry(ds)
        geometry.check_same_grid(g, f"Siemens volume {ds.InstanceNumber}")
        if encoded is not None:
            e = encoded[i]
            if e.cycle in (NONSELECTIVE_LABEL_CYCLE, NONSELECTIVE_CONTROL_CYCLE):
                kind_e: VolumeKind = "label" if e.cycle == NONSELECTIVE_LABEL_CYCLE else "control"
                volumes.append(
                    AslVolume(
                        kind_e, e.pld, info.series_instance_uid, (str(ds.SOPInstanceUID),), _loader(ds, n),
                        repetition=e.repeat,
                    )
                )
            continue
        # Volumes alternate; which comes first depends on the sequence (see CONTROL_FIRST).
        first_kind: VolumeKind = "control" if seq.startswith(CONTROL_FIRST) else "label"
        second_kind: VolumeKind = "label" if first_kind == "control" else "control"
        kind: VolumeKind = first_kind if i % 2 == 0 else second_kind
        volumes.append(
            AslVolume(
                kind,
                0,
                info.series_instance_uid,
                (str(ds.SOPInstanceUID),),
                _loader(ds, n),
                repetition=i // 2,
            )
        )
    if "m0_placement" not in params:
        chosen = _pick_m0(info, m0_series)
        if chosen is not None and same_contrast(ascconv(first), ascconv(chosen[1][0])):
            m0_info = chosen[0]
            name = f"series {m0_info.series_number} {m0_info.description!r}"
            params["m0_rejected"] = Param(
                "m0_rejected",
                name,
                "",
                "protocol",
                "it was acquired with the ASL protocol itself (same sequence, TR, TI, labeling and "
                "background-suppression settings; only the number of measurements differs), so its "
                "images are control/label images, not M0",
            )
            notes.append(f"{name} was not used as M0: " + params["m0_rejected"].detail)
            # Still listed as the study's M0 candidate, so that whoever re-reads the inputs sees
            # it and the reason it was refused.
            series.append(dataclasses.replace(m0_info, reason="named as M0, but not usable: see m0_rejected"))
            chosen = None
        elif chosen is None:
            # This sequence writes M0 as a separate series: wait for it rather than fall back to
            # the control images (a person can still choose m0 = "control").
            params["m0"] = Param(
                "m0", "required", "", "protocol", f"{seq}: M0 comes as a separate series; none found yet"
            )
        if chosen is not None:
            m0_info, m0_ds = chosen
            for ds in m0_ds:
                g, mn, _ = volume_geometry(ds)
                geometry.check_same_grid(g, f"Siemens M0 series {m0_info.description!r}")
                volumes.append(
                    AslVolume(
                        "m0", 0, m0_info.series_instance_uid, (str(ds.SOPInstanceUID),), _loader(ds, mn)
                    )
                )
            series.append(m0_info)
            params["m0_placement"] = Param(
                "m0_placement",
                "separate series",
                "",
                "tag",
                f"series {m0_info.series_number} {m0_info.description!r}",
            )
            tr = number(m0_ds[0], "RepetitionTime")
            if tr is not None and tr > 0:
                params["m0_tr"] = Param("m0_tr", tr / 1000.0, "s", "tag", "RepetitionTime of M0 series")
        elif "m0_rejected" not in params:
            notes.append("no M0 found: neither the first volume nor a separate M0 series")
    elif "tr" in params:
        params["m0_tr"] = Param(
            "m0_tr", params["tr"].value, "s", "protocol", "M0 is a volume of the ASL series"
        )
    for p in (field_strength(first), readout(first)):
        if p is not None:
            params[p.name] = p
    return AslAcquisition(
        vendor=VENDOR,
        labeling_type=labeling or None,
        readout=params["readout"].value if "readout" in params else None,
        series=series,
        volumes=volumes,
        geometry=geometry,
        parameters=params,
        missing=missing,
        reference=first,
        source_images=[(str(d.SOPClassUID), str(d.SOPInstanceUID)) for d in ordered],
        notes=notes,
    )


def _pick_m0(
    info: SeriesInfo, m0_series: Sequence[tuple[SeriesInfo, Sequence[pydicom.Dataset]]]
) -> tuple[SeriesInfo, Sequence[pydicom.Dataset]] | None:
    """The M0 series that belongs to ``info``: prefer one named after it, then the nearest number."""
    if not m0_series:
        return None
    base = info.description.lower()

    def score(item: tuple[SeriesInfo, Sequence[pydicom.Dataset]]) -> tuple[int, int]:
        m0_info = item[0]
        named = 0 if m0_info.description.lower().startswith(base) else 1
        distance = abs((m0_info.series_number or 0) - (info.series_number or 0))
        return named, distance

    return min(m0_series, key=score)
