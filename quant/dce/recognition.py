"""Sort a study's images into DCE acquisitions: a multi-phase T1-weighted spoiled gradient echo
series, with the pre-contrast variable-flip-angle (VFA) series that share its grid.

What makes a series DCE here (every rule must hold; the first that fails is the reason given):

1. MR, ``ORIGINAL`` images, no ImageType value naming ASL, diffusion, perfusion maps, phase,
   subtraction or projections; gradient echo (ScanningSequence ``GR`` or EchoPulseSequence
   ``GRADIENT``), neither echo-planar (BOLD, DSC, DWI) nor inversion-prepared (MPRAGE);
   TR ≤ 100 ms, TE ≤ 15 ms and flip angle ≤ 70° where given (T1-weighted spoiled GRE).
2. The same slice positions repeated at ≥ ``MIN_PHASES`` time points, with one flip angle, one
   echo time and one ImageType (a multi-echo or Dixon series repeats positions too).
3. Phase times increase: the first of TriggerTime, AcquisitionDateTime/AcquisitionTime,
   ContentTime that rises strictly from phase to phase gives them; failing that,
   TemporalPositionIdentifier × TemporalResolution; failing that, ``phase_times`` (or
   ``temporal_resolution``) is missing and must be entered.

Vendor notes (classic single-frame MR unless stated):

- **GE** (DISCO, LAVA multi-phase, "DCE" protocols): one series; TemporalPositionIdentifier and
  NumberOfTemporalPositions per image; TriggerTime carries the phase time in ms, while
  AcquisitionTime is often the series start for every phase, so TriggerTime is tried first.
- **Philips** (T1 FFE / THRIVE dynamic): one series; TemporalPositionIdentifier /
  NumberOfTemporalPositions; TriggerTime is usually 0 and AcquisitionTime is the dynamic's start.
  Values are Philips floating-point values (RescaleSlope and the private ScaleSlope (2005,xx0E),
  per file), as for ASL. Enhanced MR exports put the dynamic in FrameContentSequence
  (TemporalPositionIndex, FrameAcquisitionDateTime).
- **Siemens** (VIBE, TWIST-VIBE, FLASH): either one series with one AcquisitionNumber and
  AcquisitionTime per measurement and no temporal identifiers, or one *series per measurement*
  (same SeriesDescription, geometry and flip angle, consecutive SeriesNumbers); the latter are
  merged when ≥ ``MIN_PHASES`` such single-volume series exist. XA (enhanced MR) puts the time in
  FrameAcquisitionDateTime. The VFA series are usually separate series ("t1_vibe_fa2", ...).
- VFA T1 mapping: single-volume (or multi-flip) spoiled GRE series on the same grid as the
  dynamic series, with ≥ 2 distinct flip angles and one TR, acquired before the first phase when
  the times tell. Other vendors' and anonymised data follow the same generic rules.

Timing: a phase's time is the mean over its slices; a 2D multi-slice readout's per-slice offsets
(each slice acquired a little later within a phase) are not modelled.

Not DCE: ASL (labelled ImageType, long TR, 90° flip angles), BOLD and DSC (EPI), DWI, single-phase
T1/T2, CT and everything else; each such series gets role ``other`` with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pydicom

from quant.acquisition import Geometry
from quant.dce.acquisition import DceAcquisition, DcePhase, DceSeriesInfo, VfaVolume
from quant.dce.errors import NotDceError
from quant.dce.frames import Frame, frames_of, geometry_of_frames, parse_tm, volume_loader
from quant.dce.params import agent_from_text
from quant.errors import GeometryMismatchError, QuantError
from quant.params import Param

__all__ = ["MIN_PHASES", "classify_series", "classify_study"]

MIN_PHASES = 5
MAX_TR_MS = 100.0
MAX_TE_MS = 15.0
MAX_FLIP_DEG = 70.0
EXCLUDED_TYPES = frozenset(
    {
        "ASL",
        "DIFFUSION",
        "ADC",
        "EADC",
        "TRACEW",
        "FA",
        "PERFUSION",
        "SUBTRACTION",
        "SUB",
        "MIP",
        "MPR",
        "PROJECTION IMAGE",
        "P",
        "PHASE",
        "DERIVED",
        "MOSAIC",
        "T1 MAP",
        "T2 MAP",
        "B1",
        "FIELD_MAP",
    }
)


def _vendor(ds: pydicom.Dataset) -> str:
    text = str(ds.get("Manufacturer", "") or "").upper()
    for key, name in (("SIEMENS", "Siemens"), ("GE ", "GE"), ("GE MEDICAL", "GE"), ("PHILIPS", "Philips")):
        if key in text + " ":
            return name
    return "generic"


def _image_type(ds: pydicom.Dataset) -> list[str]:
    value = ds.get("ImageType") or []
    return [str(v).upper() for v in (value if isinstance(value, Sequence) and not isinstance(value, str) else [value])]


def _not_t1w_gre(ds: pydicom.Dataset, frame: Frame) -> str | None:
    """Why this series is not a T1-weighted spoiled gradient echo (None when it is one)."""
    if str(ds.get("Modality", "")).upper() != "MR":
        return f"modality {ds.get('Modality', '?')}, not MR"
    types = _image_type(ds)
    if types and types[0] == "DERIVED":
        return "derived images (ImageType DERIVED)"
    bad = sorted(set(types) & EXCLUDED_TYPES)
    if bad:
        return f"ImageType {'/'.join(bad)}"
    scanning = (
        {str(v).upper() for v in (ds.get("ScanningSequence") or [])}
        if not isinstance(ds.get("ScanningSequence"), str)
        else {str(ds.ScanningSequence).upper()}
    )
    pulse = str(ds.get("EchoPulseSequence", "") or "").upper()
    if "EP" in scanning or str(ds.get("EchoPlanarPulseSequence", "")).upper() == "YES":
        return "echo-planar readout (BOLD, DSC or DWI)"
    if "IR" in scanning or str(ds.get("InversionRecovery", "")).upper() == "YES":
        return "inversion-prepared (not a steady-state T1-weighted dynamic)"
    if not ("GR" in scanning or pulse in ("GRADIENT", "BOTH")):
        return "not a gradient echo"
    if frame.repetition_time is not None and frame.repetition_time > MAX_TR_MS:
        return f"TR {frame.repetition_time:g} ms is not a T1-weighted spoiled GRE"
    if frame.echo_time is not None and frame.echo_time > MAX_TE_MS:
        return f"TE {frame.echo_time:g} ms is not T1-weighted"
    if frame.flip_angle is not None and frame.flip_angle > MAX_FLIP_DEG:
        return f"flip angle {frame.flip_angle:g}° is not a spoiled GRE"
    return None


@dataclass
class _Series:
    uid: str
    number: int | None
    description: str
    vendor: str
    datasets: list[pydicom.Dataset]
    kind: str = "other"  # dynamic / volume / multi_flip / other
    reason: str = ""
    volumes: list[list[Frame]] = field(default_factory=list)  # phases or flip-angle volumes, sorted by location
    times: list[float] | None = None
    time_source: str = ""
    merged: list[_Series] = field(default_factory=list)  # single-phase series merged into this dynamic

    def info(self, role: str, reason: str = "") -> DceSeriesInfo:
        return DceSeriesInfo(
            self.uid,
            self.number,
            self.description,
            self.vendor,
            role,  # type: ignore[arg-type]
            len(self.datasets),
            reason or self.reason,
        )

    @property
    def first(self) -> Frame:
        return self.volumes[0][0]

    def grid_key(self) -> tuple[object, ...]:
        f = self.volumes[0]
        return (
            len(f),
            f[0].rows,
            f[0].columns,
            tuple(np.round(f[0].orientation, 2)),
            tuple(np.round(f[0].position, 0)),
            tuple(np.round(f[-1].position, 0)),
        )


def _per_location(frames: list[Frame]) -> dict[float, list[Frame]]:
    groups: dict[float, list[Frame]] = defaultdict(list)
    for f in frames:
        groups[round(f.location, 2)].append(f)
    return groups


def _order_key(frames: list[Frame]) -> Callable[[Frame], tuple[float, ...]]:
    use_tpi = all(f.temporal_index is not None for f in frames)
    triggers = {f.trigger_time for f in frames}
    use_trigger = None not in triggers and len(triggers) > 1

    def key(f: Frame) -> tuple[float, ...]:
        return (
            float(f.temporal_index or 0) if use_tpi else 0.0,
            float(f.trigger_time or 0.0) if use_trigger else 0.0,
            float(f.acquisition_number or 0),
            float(f.acquisition_time or 0.0),
            float(f.content_time or 0.0),
            float(f.instance_number or 0),
            float(f.frame or 0),
        )

    return key


def _phase_times(phases: list[list[Frame]]) -> tuple[list[float] | None, str]:
    getters: list[tuple[str, Callable[[Frame], float | None]]] = [
        ("TriggerTime", lambda f: None if f.trigger_time is None else f.trigger_time / 1000.0),
        ("AcquisitionDateTime/AcquisitionTime", lambda f: f.acquisition_time),
        ("ContentTime", lambda f: f.content_time),
    ]
    for name, get in getters:
        values = [[get(f) for f in ph] for ph in phases]
        if any(v is None for ph in values for v in ph):
            continue
        per_phase = np.asarray([np.mean(np.asarray(ph, dtype=np.float64)) for ph in values])
        if per_phase.size > 1 and np.all(np.diff(per_phase) > 1e-3):
            return [float(v) for v in per_phase - per_phase[0]], name
    resolution = phases[0][0].ds.get("TemporalResolution")
    idx = [ph[0].temporal_index for ph in phases]
    if resolution not in (None, "") and float(resolution) > 0 and all(i is not None for i in idx):
        steps = np.asarray(idx, dtype=np.float64) - float(idx[0] or 0)
        if np.all(np.diff(steps) > 0):
            return [
                float(v) for v in steps * float(resolution) / 1000.0
            ], "TemporalPositionIdentifier × TemporalResolution"
    return None, ""


def _analyse(datasets: list[pydicom.Dataset]) -> _Series:
    ds = datasets[0]
    number = ds.get("SeriesNumber")
    s = _Series(
        uid=str(ds.get("SeriesInstanceUID", "")),
        number=int(number) if number not in (None, "") else None,
        description=str(ds.get("SeriesDescription", "") or ""),
        vendor=_vendor(ds),
        datasets=datasets,
    )
    try:
        frames = [f for d in datasets for f in frames_of(d)]
    except (QuantError, AttributeError, KeyError, TypeError, ValueError) as exc:
        s.reason = f"no usable image geometry ({exc})"
        return s
    if not frames:
        s.reason = "no images"
        return s
    why = _not_t1w_gre(ds, frames[0])
    if why:
        s.reason = why
        return s
    groups = _per_location(frames)
    counts = {len(v) for v in groups.values()}
    flips = {round(f.flip_angle, 2) for f in frames if f.flip_angle is not None}
    if len(counts) != 1:
        s.reason = f"slice positions repeat unevenly ({sorted(counts)} images per position)"
        return s
    n = counts.pop()
    locations = sorted(groups)
    if len(flips) > 1:
        # Several flip angles in one series: VFA, one volume per angle.
        by_flip: dict[float, list[Frame]] = defaultdict(list)
        for f in frames:
            by_flip[round(f.flip_angle or 0.0, 2)].append(f)
        vols = []
        for _, fr in sorted(by_flip.items()):
            if len(fr) != len(locations):
                s.reason = "flip angles do not each cover every slice once"
                return s
            vols.append(sorted(fr, key=lambda f: f.location))
        s.kind, s.volumes, s.reason = "multi_flip", vols, f"VFA: flip angles {sorted(flips)}°"
        return s
    if n == 1:
        s.kind, s.volumes = "volume", [sorted(frames, key=lambda f: f.location)]
        s.reason = "single T1-weighted GRE volume"
        return s
    echoes = {f.echo_time for f in frames}
    types = {tuple(_image_type(f.ds)) for f in frames}
    if len(echoes) > 1 or len(types) > 1:
        s.reason = "several echoes or image types per position (multi-echo / Dixon), not phases"
        return s
    if n < MIN_PHASES:
        s.reason = f"{n} time points (DCE needs ≥ {MIN_PHASES})"
        return s
    key = _order_key(frames)
    ordered = {loc: sorted(groups[loc], key=key) for loc in locations}
    phases = [[ordered[loc][p] for loc in locations] for p in range(n)]
    times, source = _phase_times(phases)
    s.kind, s.volumes, s.times, s.time_source = "dynamic", phases, times, source
    tr = frames[0].repetition_time
    s.reason = (
        f"{n} phases × {len(locations)} slices, T1-weighted GRE"
        + (f" TR {tr:g} ms" if tr is not None else "")
        + (f" FA {frames[0].flip_angle:g}°" if frames[0].flip_angle is not None else "")
        + (f"; phase times from {source}" if source else "; phase times unknown")
    )
    return s


def _group(datasets: Sequence[pydicom.Dataset]) -> dict[str, list[pydicom.Dataset]]:
    groups: dict[str, list[pydicom.Dataset]] = defaultdict(list)
    for ds in datasets:
        uid = ds.get("SeriesInstanceUID")
        if uid:
            groups[str(uid)].append(ds)
    return groups


def classify_series(datasets: Sequence[pydicom.Dataset]) -> DceSeriesInfo:
    """Role of one series on its own: ``dce`` (multi-phase), ``vfa`` (candidate T1-mapping
    volume) or ``other``, with the reason."""
    s = _analyse(list(datasets))
    role = {"dynamic": "dce", "volume": "vfa", "multi_flip": "vfa"}.get(s.kind, "other")
    return s.info(role)


def _merge_split_dynamics(singles: list[_Series]) -> tuple[list[_Series], list[_Series]]:
    """Siemens-style one-series-per-measurement dynamics → merged dynamic series."""
    buckets: dict[tuple[object, ...], list[_Series]] = defaultdict(list)
    for s in singles:
        f = s.first
        buckets[(s.description, round(f.flip_angle or 0, 2), round(f.repetition_time or 0, 2), s.grid_key())].append(s)
    merged, rest = [], []
    for members in buckets.values():
        if len(members) < MIN_PHASES:
            rest.extend(members)
            continue
        members.sort(key=lambda m: (m.first.acquisition_time or 0.0, m.number or 0))
        lead = members[0]
        dyn = _Series(
            lead.uid,
            lead.number,
            lead.description,
            lead.vendor,
            [d for m in members for d in m.datasets],
            kind="dynamic",
        )
        dyn.volumes = [m.volumes[0] for m in members]
        dyn.times, dyn.time_source = _phase_times(dyn.volumes)
        dyn.reason = f"{len(members)} single-phase series merged into one dynamic (same description and grid)"
        dyn.merged = members
        merged.append(dyn)
    return merged, rest


def _geometry(s: _Series) -> Geometry:
    return geometry_of_frames(s.volumes[0])


def _params(dyn: _Series) -> tuple[dict[str, Param], list[str]]:
    f = dyn.first
    ds = f.ds
    params: dict[str, Param] = {}
    missing: list[str] = []
    flip_kw = "FlipAngle" if f.frame is None else "MRTimingAndRelatedParametersSequence.FlipAngle"
    tr_kw = "RepetitionTime" if f.frame is None else "MRTimingAndRelatedParametersSequence.RepetitionTime"
    if f.flip_angle is not None and f.flip_angle > 0:
        params["flip_angle"] = Param("flip_angle", f.flip_angle, "deg", "tag", flip_kw)
    else:
        missing.append("flip_angle")
    if f.repetition_time is not None and f.repetition_time > 0:
        params["tr"] = Param("tr", f.repetition_time / 1000.0, "s", "tag", f"{tr_kw} (ms)")
    else:
        missing.append("tr")
    if dyn.times is not None:
        params["phase_times"] = Param("phase_times", dyn.times, "s", "tag", dyn.time_source)
    else:
        missing.append("phase_times")
    field_t = ds.get("MagneticFieldStrength")
    if field_t not in (None, ""):
        tesla = float(field_t)
        tesla = tesla / 10000.0 if tesla > 1000 else (tesla / 1000.0 if tesla > 100 else tesla)
        params["field_strength"] = Param("field_strength", tesla, "T", "tag", "MagneticFieldStrength")
    agent_text = str(ds.get("ContrastBolusAgent", "") or "")
    agent = agent_from_text(agent_text) if agent_text else None
    if agent:
        params["agent"] = Param("agent", agent, "", "tag", f"ContrastBolusAgent {agent_text!r}")
    start = parse_tm(ds.get("ContrastBolusStartTime"))
    first_tm = parse_tm(ds.get("AcquisitionTime"))
    if start is not None and first_tm is not None and dyn.times is not None:
        offset = start - first_tm
        if 0 <= offset <= dyn.times[-1]:
            params["bolus_arrival_time"] = Param(
                "bolus_arrival_time", offset, "s", "tag", "ContrastBolusStartTime − AcquisitionTime of the first phase"
            )
    return params, missing


def _vfa_for(
    dyn: _Series, geometry: Geometry, candidates: list[_Series]
) -> tuple[list[VfaVolume], list[_Series], list[str]]:
    notes: list[str] = []
    start = dyn.first.acquisition_time
    volumes: list[tuple[float, float | None, _Series, list[Frame]]] = []
    for c in candidates:
        try:
            geometry.check_same_grid(_geometry(c), f"series {c.description!r}")
        except GeometryMismatchError:
            continue
        ct = c.first.acquisition_time
        if start is not None and ct is not None and ct > start:
            notes.append(f"{c.description!r} was acquired after the dynamic series (post-contrast): not used for T1")
            continue
        for vol in c.volumes:
            volumes.append((float(vol[0].flip_angle or 0.0), vol[0].repetition_time, c, vol))
    by_tr: dict[float, list[tuple[float, float | None, _Series, list[Frame]]]] = defaultdict(list)
    for v in volumes:
        if v[0] > 0:
            by_tr[round(v[1] or 0.0, 2)].append(v)
    best: list[tuple[float, float | None, _Series, list[Frame]]] = []
    for group in by_tr.values():
        if len({round(v[0], 2) for v in group}) >= 2 and len(group) > len(best):
            best = group
    if not best:
        if volumes:
            notes.append("T1-weighted volumes on the same grid do not form a VFA set (≥ 2 flip angles, one TR)")
        return [], [], notes
    seen: dict[float, tuple[float, float | None, _Series, list[Frame]]] = {}
    for v in best:
        seen.setdefault(round(v[0], 2), v)  # one volume per flip angle (the first found)
    out = [
        VfaVolume(
            angle,
            None if tr is None else tr / 1000.0,
            s.uid,
            tuple(f.sop_instance_uid for f in frames),
            volume_loader(frames),
        )
        for angle, tr, s, frames in sorted(seen.values(), key=lambda v: v[0])
    ]
    used = list({id(v[2]): v[2] for v in seen.values()}.values())
    return out, used, notes


def _acquisition(dyn: _Series, vfa_candidates: list[_Series]) -> DceAcquisition:
    geometry = _geometry(dyn)
    for k, ph in enumerate(dyn.volumes):
        geometry.check_same_grid(geometry_of_frames(ph), f"phase {k + 1} of {dyn.description!r}")
    cache: dict[int, np.ndarray] = {}
    times = dyn.times
    phases = [
        DcePhase(
            k, None if times is None else times[k], tuple(f.sop_instance_uid for f in ph), volume_loader(ph, cache)
        )
        for k, ph in enumerate(dyn.volumes)
    ]
    params, missing = _params(dyn)
    vfa, used, notes = _vfa_for(dyn, geometry, vfa_candidates)
    members = dyn.merged or [dyn]
    series = [m.info("dce", dyn.reason) for m in members]
    series += [
        u.info("vfa", f"VFA flip angle(s) {[v.flip_angle for v in vfa if v.series_instance_uid == u.uid]}°")
        for u in used
    ]
    if vfa:
        params["vfa_flip_angles"] = Param(
            "vfa_flip_angles", [v.flip_angle for v in vfa], "deg", "tag", "FlipAngle of the VFA series"
        )
        trs = {v.tr for v in vfa}
        if len(trs) == 1 and None not in trs:
            params["vfa_tr"] = Param("vfa_tr", trs.pop(), "s", "tag", "RepetitionTime of the VFA series (ms)")
        else:
            missing.append("vfa_tr")
    sources = [(str(f.ds.SOPClassUID), f.sop_instance_uid) for ph in dyn.volumes for f in ph if "SOPClassUID" in f.ds]
    sources += [
        (str(f.ds.SOPClassUID), f.sop_instance_uid)
        for u in used
        for vol in u.volumes
        for f in vol
        if "SOPClassUID" in f.ds
    ]
    return DceAcquisition(
        vendor=dyn.vendor,
        series=series,
        phases=phases,
        geometry=geometry,
        parameters=params,
        missing=missing,
        vfa=vfa,
        reference=dyn.first.ds,
        source_images=list(dict.fromkeys(sources)),
        notes=notes,
    )


def classify_study(datasets: Sequence[pydicom.Dataset]) -> list[DceAcquisition]:
    """Group ``datasets`` by series and return every DCE acquisition found (with its VFA series).

    Raises :class:`~quant.dce.errors.NotDceError` when the study holds no DCE series.
    """
    analysed = [_analyse(items) for items in _group(datasets).values()]
    dynamics = [s for s in analysed if s.kind == "dynamic"]
    singles = [s for s in analysed if s.kind == "volume"]
    merged, singles = _merge_split_dynamics(singles)
    dynamics += merged
    vfa_candidates = singles + [s for s in analysed if s.kind == "multi_flip"]
    out = [_acquisition(d, vfa_candidates) for d in sorted(dynamics, key=lambda d: d.number or 0)]
    if not out:
        found = "; ".join(f"{s.description or s.uid!r}: {s.reason}" for s in analysed) or "no images"
        raise NotDceError(f"no DCE series found ({found})")
    return out
