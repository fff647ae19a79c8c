"""``quantify``: from an :class:`AslAcquisition` to CBF (and ATT) maps with provenance."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from quant import kinetics, qc
from quant.acquisition import AslAcquisition, AslVolume
from quant.errors import (
    ControlLabelMismatchError,
    GeometryMismatchError,
    InputError,
    MissingM0Error,
    MissingParameterError,
    UnitsError,
)
from quant.params import BS_EFFICIENCY_BY_PULSES, M0_MODES, Param, default_param, merge_overrides
from quant.qc import QcCollector, QcReport
from quant.stats import regional_statistics, rows_for_csv

if TYPE_CHECKING:
    from quant.regions.analysis import RegionalAnalysis
    from quant.regions.atlas import Atlas
    from quant.regions.space import Volume

__all__ = ["MODELS", "QuantResult", "missing_parameters", "quantify", "statistics_csv"]

Array = NDArray[np.float64]
MODELS = ("auto", "consensus", "ge", "kinetic", "weighted_delay")


@dataclass
class QuantResult:
    """Maps (indexed slice, row, column), statistics and the parameters actually used."""

    cbf: Array
    mask: NDArray[np.bool_]
    m0: Array
    delta_m: Array  # (delays, slice, row, column), averaged over repetitions
    model: str
    parameters: dict[str, Param]
    statistics: dict[str, Any]
    timings: dict[str, float]
    att: Array | None = None
    warnings: list[str] = field(default_factory=list)
    qc: QcReport | None = None
    regions: RegionalAnalysis | None = None  # atlas regions and panels, when an atlas was given

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays); ``qc`` as documented in :mod:`quant.qc`."""
        out = {
            "model": self.model,
            "qc": self.qc.as_dict() if self.qc is not None else None,
            "parameters": {k: p.as_dict() for k, p in self.parameters.items()},
            "statistics": self.statistics,
            "timings_s": self.timings,
            "warnings": list(self.warnings),
            "shape": list(self.cbf.shape),
        }
        if self.regions is not None:
            out["regions"] = self.regions.as_dict()
        return out


def statistics_csv(result: QuantResult) -> str:
    """Regional statistics as CSV text (region, n, mean, median, sd, unit)."""
    return rows_for_csv(result.statistics)


class _Params:
    """Parameter lookup that records which values were used."""

    def __init__(self, params: dict[str, Param]) -> None:
        self.all = params
        self.used: dict[str, Param] = {}

    def get(self, name: str, default_key: str | None = None) -> Any:
        p = self.all.get(name)
        if p is None and default_key is not None:
            p = default_param(default_key, name)
        if p is None:
            return None
        self.used[name] = p
        return p.value

    def derived(self, name: str, value: Any, unit: str, detail: str) -> Any:
        self.used[name] = Param(name, value, unit, "derived", detail)
        return value

    def require(self, names: list[str], context: str) -> None:
        missing = [n for n in names if n not in self.all]
        if missing:
            raise MissingParameterError(missing, context)


def _pairable(d: int, vols: list[AslVolume], warnings: list[str]) -> list[AslVolume]:
    """Control and label volumes of one delay that pair up.

    A series that stops after a control (or label) with no partner (e.g. an odd number of
    measurements after an M0 volume) loses that last volume, with a warning; any other
    imbalance is an error, since pairing would then be guesswork.
    """
    control = [v for v in vols if v.kind == "control"]
    label = [v for v in vols if v.kind == "label"]
    if len(control) == len(label):
        return vols
    paired = [v for v in vols if v.kind in ("control", "label")]
    last = paired[-1] if paired else None
    majority = "control" if len(control) > len(label) else "label"
    if abs(len(control) - len(label)) == 1 and last is not None and last.kind == majority:
        warnings.append(
            f"delay {d}: the last {last.kind} volume (of {len(control)} control and {len(label)} label) "
            "has no partner and was left out"
        )
        return [v for v in vols if v is not last]
    raise ControlLabelMismatchError(
        f"delay {d}: {len(control)} control and {len(label)} label images cannot be paired; "
        "check for a missing or extra volume (or an M0 volume not marked as such)"
    )


def _array(v: AslVolume, shape: tuple[int, int, int], what: str) -> Array:
    a = v.loader()
    if a.shape != shape:
        raise GeometryMismatchError(f"{what} volume has shape {a.shape}, but the ASL images have {shape}")
    return a


def _mean(items: list[AslVolume], shape: tuple[int, int, int], what: str) -> Array:
    acc = np.zeros(shape)
    for v in items:
        acc += _array(v, shape, what)
    out: Array = acc / len(items)
    return out


def _load(acq: AslAcquisition) -> tuple[Array, Array | None, Array | None, list[str], QcCollector]:
    """ΔM per delay (D, Z, Y, X), mean M0 (or None), mean control (or None), warnings and the
    QC measures collected on the way (each image is loaded once)."""
    warnings: list[str] = []
    shape = acq.geometry.shape
    collector = QcCollector(acq.geometry)
    delays = sorted({v.delay_index for v in acq.volumes if v.kind != "m0"})
    if not delays:
        raise InputError("the acquisition has no control/label or ΔM images")
    dms = []
    controls: list[tuple[Array, int]] = []
    for d in delays:
        vols = _pairable(d, [v for v in acq.volumes if v.delay_index == d and v.kind != "m0"], warnings)
        control = [v for v in vols if v.kind == "control"]
        label = [v for v in vols if v.kind == "label"]
        direct = [v for v in vols if v.kind == "delta_m"]
        if control:
            # Average (never sum) over repetitions: ΔM must stay on the scale of one image, like M0.
            # The k-th control pairs with the k-th label (acquisition order) for the QC measures.
            sum_c, sum_l = np.zeros(shape), np.zeros(shape)
            for c, lab in zip(control, label, strict=True):
                a_c, a_l = _array(c, shape, "control"), _array(lab, shape, "label")
                sum_c += a_c
                sum_l += a_l
                collector.volume(a_c)
                collector.volume(a_l)
                collector.pair(d, a_c - a_l)
            mean_c = sum_c / len(control)
            dms.append(mean_c - sum_l / len(label))
            controls.append((mean_c, len(control)))
        elif direct:
            dms.append(_mean(direct, shape, "ΔM"))
        else:
            raise ControlLabelMismatchError(f"delay {d}: no control/label pair and no ΔM image")
    m0s = [v for v in acq.volumes if v.kind == "m0"]
    m0 = _mean(m0s, shape, "M0") if m0s else None
    mean_control = (
        sum((c * n for c, n in controls), np.zeros(shape)) / sum(n for _, n in controls) if controls else None
    )
    return np.stack(dms), m0, mean_control, warnings, collector


def brain_mask(m0: Array) -> NDArray[np.bool_]:
    """M0 above half its intensity-weighted mean (GE's rule), holes filled slice by slice."""
    pos = np.clip(m0, 0, None)
    total = pos.sum()
    if total <= 0:
        raise UnitsError("the M0 image has no positive values")
    thr = 0.5 * float((pos**2).sum() / total)
    mask = pos > thr
    out: NDArray[np.bool_] = np.stack([ndimage.binary_fill_holes(s) for s in mask]).astype(bool)
    return out


def _check_seconds(name: str, values: list[float], upper: float) -> None:
    for v in values:
        if not np.isfinite(v) or v < 0:
            raise UnitsError(f"{name} = {v} is not a valid time in seconds")
        if v > upper:
            raise UnitsError(
                f"{name} = {v} s is implausible; was it given in milliseconds? (expected seconds)"
            )


def _bs_pulses(P: _Params) -> int:
    """Declared number of background-suppression pulses (0 when none is declared)."""
    p = P.all.get("background_suppression")
    if p is None or p.value in (None, "", False):
        return 0
    return 2 if p.value is True else int(p.value)


def _choose_m0(
    P: _Params,
    entered: set[str],
    m0: Array | None,
    mean_control: Array | None,
    warnings: list[str],
) -> Array:
    """The M0 image to calibrate with, its provenance recorded as parameter ``m0``.

    Without M0 images, the mean control image stands in for M0 (as ExploreASL and the consensus
    paper allow when no M0 was acquired), corrected for its TR by 1/(1 − e^(−TR/T1t)) through
    ``m0_tr``. Background suppression makes the control images far darker than M0, so the
    surrogate is refused then unless a person forces it with ``m0="control"``.
    """
    mode = str(P.get("m0") or "auto").lower() if "m0" in P.all else "auto"
    if mode not in M0_MODES:
        raise InputError(f"m0 = {mode!r} is not known; choose one of {', '.join(M0_MODES)}")
    if m0 is not None and mode != "control":
        placement = P.all.get("m0_placement")
        P.used["m0"] = Param(
            "m0",
            placement.value if placement else "M0 images",
            "",
            placement.source if placement else "tag",
            placement.detail if placement else "M0 volumes of the acquisition",
        )
        return m0
    rejected = P.all.get("m0_rejected")
    why = f"; {rejected.value} was not used as M0: {rejected.detail}" if rejected else ""
    if mode == "required":
        if rejected:
            raise InputError(f"no usable M0 image{why}")
        raise MissingM0Error(
            "no M0 (proton density) image: add the M0 series or the scanner's PD images "
            '(m0 = "required"; m0 = "control" would use the mean control images instead)'
        )
    if mean_control is None:
        raise MissingM0Error(
            "no M0 (proton density) image and no control images to stand in for it: "
            "add the M0 series or the scanner's PD images" + why
        )
    pulses = _bs_pulses(P)
    if pulses and mode == "auto":
        bs = P.all["background_suppression"]
        declared = f"{bs.source}: {bs.detail}" if bs.detail else f"{pulses} pulse(s), {bs.source}"
        message = (
            f"no usable M0 image, and the control images cannot stand in for it: background "
            f"suppression is declared ({declared}), which darkens static tissue in "
            "the control images and would overestimate CBF several-fold" + why + ". Add an M0 "
            'series acquired without labeling and background suppression, or pass m0 = "control" '
            "to force the control images (only if background suppression was in fact off)"
        )
        # A mislabelled M0 series in the study will not turn into a proper one by waiting.
        raise InputError(message) if rejected else MissingM0Error(message)
    # An acquisition's own m0_tr describes its M0 images, not the control images: only an
    # entered m0_tr (override) or the ASL series' TR applies here.
    if "m0_tr" in entered:
        tr_param = P.all["m0_tr"]
    elif "tr" in P.all:
        tr_param = P.all["tr"]
    else:
        raise MissingParameterError(["m0_tr"], "M0 from the control images (their repetition time)")
    tr = float(tr_param.value)
    _check_seconds("m0_tr", [tr], 100.0)
    # The later short-TR correction reads m0_tr: here it is the control images' own TR.
    P.all["m0_tr"] = Param(
        "m0_tr", tr, "s", tr_param.source, f"{tr_param.detail} (TR of the control images used as M0)"
    )
    if pulses:
        warnings.append(
            f"M0 taken from the control images although background suppression is declared ({pulses} "
            "pulse(s)): CBF is overestimated unless suppression was in fact off"
        )
    note = "mean control images, TR-corrected (no M0 series)"
    if mode == "control" and m0 is not None:
        note = "mean control images, TR-corrected (forced: m0 = control; the M0 images were not used)"
    elif rejected:
        note = f"mean control images, TR-corrected ({rejected.value} is not an M0: {rejected.detail})"
    P.used["m0"] = Param("m0", "control", "", "derived", note)
    return mean_control


TIMING = {"pcasl": ("pld", "labeling_duration"), "casl": ("pld", "labeling_duration"), "pasl": ("ti", "ti1")}
TIMING_NAMES = frozenset(n for names in TIMING.values() for n in names)


def missing_parameters(acq: AslAcquisition, labeling: str, merged: Mapping[str, Param]) -> list[str]:
    """Every parameter still needed, at once (a person enters them together, not one by one).

    With the labeling type unknown: ``labeling_type`` and whatever the classifier found missing;
    with it known: that type's timing parameters and any other missing name not yet supplied.
    """
    out: list[str] = []
    if labeling not in TIMING:
        out.append("labeling_type")
        out += [n for n in acq.missing if n not in merged and n != "labeling_type"]
        return list(dict.fromkeys(out))
    out += [n for n in TIMING[labeling] if n not in merged]
    out += [n for n in acq.missing if n not in merged and n not in TIMING_NAMES and n != "labeling_type"]
    return list(dict.fromkeys(out))


class _TissueT1:
    """Tissue T1, asked for only where it enters, and recorded under the name of that use.

    The white paper's single-compartment model (Alsop 2015, eq. 1 and 2) has T1 of blood only:
    the label is assumed to stay in blood water until imaged. Tissue T1 enters in two other places:

    - ``t1_tissue_m0``: the T1-recovery correction of an M0 image that has not fully relaxed
      (short TR: ÷ (1 − e^(−TR/T1)); GE's saturation-recovery PD: ÷ (1 − e^(−ST/T1))). Default
      1.3 s (grey matter at 3 T), the white paper's recommendation for that correction.
    - ``t1_tissue_kinetic``: the general kinetic model's decay of the label after it reaches
      tissue (Buxton 1998, T1' = 1/(1/T1 + f/λ)). Default: T1 of blood, the single-compartment
      assumption (the kinetic model then reduces to eq. 1 for ATT ≤ PLD), so the kinetic and
      consensus models agree unless a tissue T1 is known.

    ``t1_tissue_map`` (voxel-wise, measured) or ``t1_tissue`` (one value) set both uses;
    ``t1_tissue_m0`` / ``t1_tissue_kinetic`` set one alone and win over them.
    """

    def __init__(self, P: _Params, t1b: float, shape: tuple[int, int, int]) -> None:
        self.P, self.t1b = P, t1b
        self.map: Array | None = None
        given = P.all.get("t1_tissue_map")
        if given is not None:
            t1t = np.asarray(given.value, dtype=np.float64)
            if np.shape(t1t) != shape:
                raise GeometryMismatchError(f"t1_tissue_map has shape {np.shape(t1t)}, maps have {shape}")
            self.map = np.where(t1t > 0.05, t1t, t1b)

    def _value(self, use: str, where: str) -> Array | float:
        P = self.P
        own = P.all.get(use)
        if own is not None:
            P.used[use] = Param(use, own.value, "s", own.source, _joined(own.detail, where))
            return float(own.value)
        if self.map is not None:
            P.used["t1_tissue_map"] = P.all["t1_tissue_map"]
            P.used[use] = Param(use, "t1_tissue_map", "s", "derived", f"voxel-wise tissue T1 map ({where})")
            return self.map
        common = P.all.get("t1_tissue")
        if common is not None:
            P.used[use] = Param(use, float(common.value), "s", common.source,
                                _joined(common.detail, f"t1_tissue ({where})"))
            return float(common.value)
        if use == "t1_tissue_m0":
            p = default_param("t1_tissue_m0")
            P.used[use] = Param(use, p.value, p.unit, p.source, f"{p.detail} ({where})")
            return float(p.value)
        return float(P.derived(use, self.t1b, "s",
                         f"equal to t1_blood: single-compartment assumption (Alsop 2015) ({where})"))

    def m0(self, where: str) -> Array | float:
        """Tissue T1 of the M0 T1-recovery correction (``where`` names the correction)."""
        return self._value("t1_tissue_m0", f"M0 T1-recovery correction: {where}")

    def kinetic(self) -> Array | float:
        """Tissue T1 of the kinetic model's label decay after arrival."""
        return self._value("t1_tissue_kinetic", "kinetic model: label decay after arrival")


def _joined(detail: str, where: str) -> str:
    return f"{detail}; {where}" if detail and detail != "override" else where


def quantify(
    acq: AslAcquisition,
    overrides: Mapping[str, Any] | None = None,
    model: str = "auto",
    *,
    regions: Atlas | None = None,
    anatomy: Volume | None = None,
) -> QuantResult:
    """Compute CBF (and ATT for multi-delay) for ``acq``; raises a :class:`QuantError` subclass.

    With ``regions`` (an atlas), the subject is registered to the atlas' template — through
    ``anatomy`` (a T1 volume; default: ``acq.anatomy`` when the study has one) or else the M0
    image — and ``result.regions`` holds the regional values and panels (override
    ``region_reference`` picks the reference of relative CBF).
    """
    t_start = time.perf_counter()
    merged = merge_overrides(acq.parameters, overrides)
    if "model" in merged:
        model = str(merged["model"].value)
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    P = _Params(merged)
    if "unsupported" in merged:
        raise InputError(merged["unsupported"].detail)
    labeling = str(P.get("labeling_type") or acq.labeling_type or "").lower()
    missing = missing_parameters(acq, labeling, merged)
    if missing:
        raise MissingParameterError(missing, f"{acq.vendor} series")
    dm, m0, mean_control, warnings, collector = _load(acq)
    t_loaded = time.perf_counter()
    n_delays = dm.shape[0]
    if labeling == "pasl":
        times = [float(v) for v in np.atleast_1d(P.get("ti"))]
        bolus_all = np.atleast_1d(np.asarray(P.get("ti1"), dtype=np.float64))
        _check_seconds("ti", times, 10.0)
        _check_seconds("ti1", bolus_all.tolist(), 5.0)
        if bolus_all.size != 1:
            raise InputError("PASL: one bolus duration TI1 is expected")
    else:
        times = [float(v) for v in np.atleast_1d(P.get("pld"))]
        bolus_all = np.atleast_1d(np.asarray(P.get("labeling_duration"), dtype=np.float64))
        _check_seconds("pld", times, 10.0)
        _check_seconds("labeling_duration", bolus_all.tolist(), 10.0)
    if len(times) != n_delays:
        raise InputError(f"{len(times)} delay value(s) given for {n_delays} delay(s) in the images")
    # One labeling duration for all delays, or one per delay (GE eASL: each delay its own sub-bolus).
    if bolus_all.size not in (1, n_delays):
        raise InputError(f"{bolus_all.size} labeling durations given for {n_delays} delay(s)")
    bolus: float | Array = float(bolus_all[0]) if bolus_all.size == 1 else bolus_all
    entered = {k for k, v in (overrides or {}).items() if v is not None}
    m0 = _choose_m0(P, entered, m0, mean_control, warnings)
    shape = acq.geometry.shape
    # Per-slice timing for 2D readouts: slice k is read later, so its effective delay is longer.
    slice_offsets: Array = np.zeros(shape[0])
    readout = str(P.all["readout"].value if "readout" in P.all else acq.readout or "").upper()
    if readout == "2D":
        if "slice_time" in P.all:
            slice_offsets = np.arange(shape[0], dtype=np.float64) * float(P.get("slice_time"))
        elif "slice_times" in P.all and len(P.all["slice_times"].value) == shape[0]:
            slice_offsets = np.asarray(P.get("slice_times"), dtype=np.float64)
    field_t = float(P.get("field_strength", "field_strength"))
    if "t1_blood" in P.all:
        t1b = float(P.get("t1_blood"))
    else:
        t1b = float(P.get("t1_blood", "t1_blood_1_5t" if field_t < 2.0 else "t1_blood_3t"))
    lam = float(P.get("partition_coefficient", "partition_coefficient"))
    t1_tissue = _TissueT1(P, t1b, shape)
    if model == "auto":
        model = "kinetic" if n_delays > 1 else ("ge" if acq.vendor == "GE" else "consensus")
    eff_key = {
        "pcasl": "labeling_efficiency_pcasl",
        "casl": "labeling_efficiency_casl",
        "pasl": "labeling_efficiency_pasl",
    }[labeling]
    alpha0 = float(P.get("labeling_efficiency", eff_key))
    if "bs_efficiency" in P.all:
        bs_eff = float(P.get("bs_efficiency"))
    else:
        pulses = _bs_pulses(P)
        if "background_suppression" in P.all:
            P.get("background_suppression")
        bs_eff = P.derived(
            "bs_efficiency",
            BS_EFFICIENCY_BY_PULSES.get(pulses, 0.75),
            "",
            f"{pulses} background-suppression pulse(s)",
        )
    alpha = alpha0 * bs_eff
    m0_scale = float(P.get("m0_scale", "m0_scale"))
    m0 = m0 * m0_scale
    if float(np.nanmax(m0)) <= 0:
        raise UnitsError("the M0 image has no positive values")

    mask = P.get("mask")
    mask_arr: NDArray[np.bool_] = np.asarray(mask, dtype=bool) if mask is not None else brain_mask(m0)
    if mask_arr.shape != shape:
        raise GeometryMismatchError(f"mask has shape {mask_arr.shape}, maps have {shape}")
    att_map: Array | None = None
    if mean_control is not None and mask_arr.any() and P.used["m0"].value != "control" and not _bs_pulses(P):
        # Static tissue in the control images should be close to M0; far darker control images
        # mean background suppression that nobody declared (α would then be too high).
        ratio = float(np.mean(mean_control[mask_arr]) / max(float(np.mean(m0[mask_arr])), 1e-12))
        if ratio < 0.5:
            warnings.append(
                f"the control images are {ratio:.0%} of M0 in the brain: background suppression seems "
                "on but is not declared; set background_suppression (number of pulses)"
            )

    if model == "ge":
        if labeling != "pcasl":
            raise InputError("the GE product formula applies to pCASL only")
        nex = P.get("nex")
        if nex is None:
            raise MissingParameterError(["nex"], "GE formula")
        pld_z = times[0] + slice_offsets[:, None, None]
        cbf = kinetics.ge_cbf(
            dm[0],
            m0,
            pld_z,
            float(np.atleast_1d(bolus)[0]),
            float(nex),
            st=float(P.get("ge_saturation_time", "ge_saturation_time")),
            t1t=float(P.get("ge_t1_tissue", "ge_t1_tissue")),
            t1b=float(P.get("ge_t1_blood", "ge_t1_blood")),
            eff=float(P.get("ge_efficiency", "ge_efficiency")),
            sf=float(P.get("ge_scale", "ge_scale")),
            lam=lam,
        )
    else:
        m0_eff = m0.copy()
        if acq.vendor == "GE" and "ge_pw_scaled" in P.all:
            # GE PW = NEX-sum × 32 and PD is saturation recovery: undo both for the consensus model.
            nex = P.get("nex")
            if nex is None:
                raise MissingParameterError(["nex"], "GE PW scaling")
            dm = dm / (float(nex) * float(P.get("ge_scale", "ge_scale")))
            st = float(P.get("ge_saturation_time", "ge_saturation_time"))
            # Saturation-recovery PD: M0 = PD / (1 − e^(−ST/T1 tissue)).
            m0_eff = m0_eff / (1.0 - np.exp(-st / np.asarray(t1_tissue.m0("GE saturation-recovery PD"))))
        elif "m0_tr" in P.all:
            tr = float(P.get("m0_tr"))
            _check_seconds("m0_tr", [tr], 100.0)
            # Short-TR M0 has not fully recovered: scale up by 1/(1 − e^(−TR/T1t)).
            m0_eff = m0_eff / (1.0 - np.exp(-tr / np.asarray(t1_tissue.m0("short-TR M0"))))
        if model == "consensus":
            if n_delays > 1:
                warnings.append("consensus formula applied to the longest delay only")
            k = int(np.argmax(times))
            tz = times[k] + slice_offsets[:, None, None]
            tau_k = float(np.atleast_1d(bolus)[k if np.size(bolus) > 1 else 0])
            if labeling == "pasl":
                cbf = kinetics.consensus_pasl(dm[k], m0_eff, tz, tau_k, t1b, alpha, lam)
            else:
                cbf = kinetics.consensus_pcasl(dm[k], m0_eff, tz, tau_k, t1b, alpha, lam)
        elif model in ("kinetic", "weighted_delay"):
            idx = np.nonzero(mask_arr)
            y = dm[:, idx[0], idx[1], idx[2]].T / np.where(m0_eff[idx] > 0, m0_eff[idx], np.inf)[:, None]
            tvox = np.asarray(times)[None, :] + slice_offsets[idx[0]][:, None]
            t1k = t1_tissue.kinetic()
            t1v = np.asarray(t1k)[idx] if np.ndim(t1k) else float(t1k)
            bounds = tuple(P.get("att_bounds", "att_bounds"))
            cbf = np.zeros(shape)
            att_map = np.zeros(shape)
            if n_delays == 1:
                # One delay cannot separate CBF from ATT: take ATT as given and solve for CBF.
                att_given = P.get("att")
                if att_given is None:
                    raise MissingParameterError(["att"], "single-delay kinetic model (assumed transit time)")
                att_v = (
                    np.asarray(att_given, dtype=np.float64)[idx]
                    if np.ndim(att_given)
                    else np.full(idx[0].size, float(att_given))
                )
                f = np.full(idx[0].size, 60.0)
                for _ in range(4):  # f enters T1' weakly; a few fixed-point steps converge
                    f_ref = np.maximum(f, 1.0)  # T1' needs some flow; the scale is linear
                    b = kinetics.signal(labeling, f_ref, att_v, tvox[:, 0], bolus, t1b, t1v, alpha, lam) / f_ref
                    f = np.where(b > 0, y[:, 0] / np.where(b > 0, b, 1.0), 0.0)
                # Where the model predicts almost no signal the ratio explodes: keep it finite.
                cbf[idx] = np.clip(f, -1000.0, 1000.0)
                att_map[idx] = att_v
            elif model == "kinetic":
                fit = kinetics.fit_kinetic(
                    y,
                    tvox,
                    bolus=bolus,
                    t1b=t1b,
                    t1t=t1v,
                    alpha=alpha,
                    lam=lam,
                    labeling=labeling,
                    att_bounds=bounds,
                )
                cbf[idx], att_map[idx] = fit.cbf, fit.att
            else:
                if labeling == "pasl":
                    raise InputError("the weighted-delay method applies to pCASL only")
                fit = kinetics.weighted_delay(
                    y, tvox, bolus=bolus, t1b=t1b, t1t=t1v, alpha=alpha, lam=lam, att_bounds=bounds
                )
                cbf[idx], att_map[idx] = fit.cbf, fit.att
        else:
            raise InputError(f"model {model!r} is not available here")
    P.derived("alpha", alpha, "", f"labeling efficiency {alpha0} × background suppression {bs_eff}")
    P.used["pld" if labeling != "pasl" else "ti"] = merged["pld" if labeling != "pasl" else "ti"]
    if readout == "2D" and np.any(slice_offsets):
        P.derived("slice_offsets", slice_offsets.tolist(), "s", "per-slice delay added for the 2D readout")
    cbf = np.where(mask_arr, cbf, 0.0)
    t_model = time.perf_counter()
    stats = regional_statistics(cbf, mask_arr, acq.geometry, att_map)
    report = qc.assess(stats, mask_arr, dm, m0, collector)
    stats["qc"] = report.as_dict()
    # A failed QC must never pass unnoticed: it is also said in the warnings.
    warnings += [f"QC fail: {f.message}" for f in report.flags if f.severity == "fail"]
    timings = {
        "load_s": t_loaded - t_start,
        "model_s": t_model - t_loaded,
    }
    analysis = None
    if regions is not None:
        from quant.regions.analysis import REFERENCES, analyse_regions

        t_regions = time.perf_counter()
        reference = str(P.get("region_reference") or "cerebellum") if "region_reference" in P.all else "cerebellum"
        if reference not in REFERENCES:
            raise InputError(f"region_reference = {reference!r}; choose one of {', '.join(REFERENCES)}")
        if anatomy is None and acq.anatomy is not None:
            try:
                anatomy = acq.anatomy()
            except InputError as exc:
                warnings.append(f"the T1 anatomy was not used ({exc}); registered through the M0 image")
        try:
            analysis = analyse_regions(
                cbf, mask_arr, acq.geometry, m0, regions, att=att_map if n_delays > 1 else None,
                anatomy=anatomy, reference=reference,
            )
        except InputError as exc:
            # The maps stand without the regions: report, do not fail.
            warnings.append(f"regional analysis failed: {exc}")
        else:
            warnings += analysis.warnings
        timings["regions_s"] = time.perf_counter() - t_regions
    timings["total_s"] = time.perf_counter() - t_start
    return QuantResult(
        cbf=cbf,
        mask=mask_arr,
        m0=m0,
        delta_m=dm,
        model=model,
        parameters=P.used,
        statistics=stats,
        timings=timings,
        att=att_map,
        warnings=warnings,
        qc=report,
        regions=analysis,
    )
