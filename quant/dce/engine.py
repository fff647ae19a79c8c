"""``quantify``: from a :class:`DceAcquisition` to Ktrans / ve / kep / vp and curve-parameter maps.

Steps (each value used is recorded with its provenance in ``DceResult.parameters``):

1. phase times, flip angle, TR (tags or entered); the injection phase (ContrastBolusStartTime, or
   the first phase where the most-enhancing voxels rise) and the baseline phases before it;
2. T10: a VFA fit when a VFA series is present, else a fixed value; S0 = mean baseline signal;
3. the mask: voxels above the noise (S0 > 10 % of its 99th percentile) that enhance by at least
   ``enhancement_threshold``, or the mask given;
4. signal → concentration (SPGR), the AIF (population, measured from an ROI, or detected);
5. the model fit and the semi-quantitative parameters, voxel chunk by voxel chunk;
6. statistics within the mask and the ROIs, mean curves (signal, concentration) and the AIF.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quant.dce.acquisition import DceAcquisition
from quant.dce.aif import Aif, arterial_scores, select_arterial
from quant.dce.models import MODELS, ModelFitter
from quant.dce.params import default_param, merge_overrides, relaxivity_param
from quant.dce.semiquant import SEMIQUANT_UNITS, curve_parameters
from quant.dce.signal import concentration, vfa_t1
from quant.dce.stats import map_statistics, rows_for_csv
from quant.errors import GeometryMismatchError, InputError, MissingParameterError, UnitsError
from quant.params import Param

__all__ = ["MAP_UNITS", "MODEL_MAPS", "DceResult", "quantify", "statistics_csv"]

Array = NDArray[np.float64]
Mask = NDArray[np.bool_]
CHUNK = 65536
ARRIVAL_SAMPLE = 2000
ARRIVAL_ITERATIONS = 10
MODEL_MAPS: dict[str, tuple[str, ...]] = {
    "tofts": ("ktrans", "ve", "kep"),
    "extended_tofts": ("ktrans", "ve", "kep", "vp"),
    "patlak": ("ktrans", "vp"),
}
MAP_UNITS: dict[str, str] = {
    "ktrans": "/min",
    "kep": "/min",
    "ve": "{ratio}",
    "vp": "{ratio}",
    "r2": "{ratio}",
    "rmse": "mmol/L",
    "t10": "s",
    **SEMIQUANT_UNITS,
}


@dataclass
class DceResult:
    """Maps (slice, row, column), the mask, the AIF and curves, statistics and parameters used."""

    model: str
    maps: dict[str, Array]
    mask: Mask
    phase_times: Array  # s
    aif: Array  # plasma concentration (mM) at the phase times
    aif_kind: str
    parameters: dict[str, Param]
    statistics: dict[str, Any]
    curves: dict[str, dict[str, list[float]]]
    timings: dict[str, float]
    aif_mask: Mask | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def model_maps(self) -> tuple[str, ...]:
        return MODEL_MAPS[self.model]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays except the short curves)."""
        return {
            "method": "DCE",
            "model": self.model,
            "maps": sorted(self.maps),
            "units": {k: MAP_UNITS.get(k, "") for k in self.maps},
            "phase_times_s": [float(v) for v in self.phase_times],
            "aif": {"kind": self.aif_kind, "plasma_mM": [float(v) for v in self.aif]},
            "curves": self.curves,
            "parameters": {k: p.as_dict() for k, p in self.parameters.items()},
            "statistics": self.statistics,
            "timings_s": self.timings,
            "warnings": list(self.warnings),
            "shape": list(self.mask.shape),
        }


def statistics_csv(result: DceResult) -> str:
    """Regional values as CSV text (region, map, n, mean, median, sd, unit)."""
    return rows_for_csv(result.statistics, MAP_UNITS)


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

    def put(self, p: Param) -> Any:
        self.used[p.name] = p
        return p.value


def _times(P: _Params, acq: DceAcquisition) -> Array:
    n = acq.n_phases
    if "phase_times" in P.all:
        t = np.asarray(P.get("phase_times"), dtype=np.float64)
    elif "temporal_resolution" in P.all:
        dt = float(P.get("temporal_resolution"))
        t = np.arange(n, dtype=np.float64) * dt
        P.put(Param("phase_times", t.tolist(), "s", "derived", f"phase index × temporal_resolution {dt:g} s"))
    else:
        raise MissingParameterError(["phase_times"], "the dynamic series (or temporal_resolution)")
    if t.size != n:
        raise InputError(f"{t.size} phase times for {n} phases")
    if np.any(np.diff(t) <= 0):
        raise UnitsError("phase times must increase from phase to phase")
    if t[-1] - t[0] > 4 * 3600:
        raise UnitsError(f"the phases span {t[-1] - t[0]:g} s; were the times given in milliseconds?")
    out: Array = t - t[0]
    return out


def _acquisition_constants(P: _Params) -> tuple[float, float]:
    missing = [n for n in ("flip_angle", "tr") if n not in P.all]
    if missing:
        raise MissingParameterError(missing, "the dynamic series")
    flip = float(P.get("flip_angle"))
    tr = float(P.get("tr"))
    if not 0 < flip <= 90:
        raise UnitsError(f"flip angle {flip:g}° is implausible for a spoiled gradient echo")
    if not 0 < tr < 1.0:
        raise UnitsError(f"TR {tr:g} s is implausible; was it given in milliseconds? (expected seconds)")
    return flip, tr


def _detect_injection(signal: NDArray[np.float32], warnings: list[str]) -> int:
    """First phase where the mean of the 1 % most-enhancing voxels rises above the baseline."""
    n = signal.shape[0]
    flat = signal.reshape(n, -1)
    step = max(1, flat.shape[1] // 200_000)  # a subsample is enough to find the bolus
    sub = flat[:, ::step].astype(np.float64)
    base = sub[0]
    ok = base > 0.1 * np.percentile(base, 99)
    if not ok.any():
        warnings.append("no voxel above the noise: injection phase assumed to be phase 1")
        return 1
    rel = sub[:, ok] / base[ok]
    top = rel.max(axis=0) >= np.quantile(rel.max(axis=0), 0.99)
    curve = rel[:, top].mean(axis=1)
    span = float(curve.max() - curve[0])
    noise = float(np.std(np.diff(curve[: max(3, min(5, n // 4))]))) if n > 3 else 0.0
    above = np.nonzero(curve - curve[0] > max(0.05 * span, 4 * noise, 1e-6))[0]
    if above.size == 0:
        warnings.append("no enhancement detected: injection phase assumed to be phase 1")
        return 1
    k = int(above[0])
    if k == 0:
        warnings.append("the first phase is already enhanced: no pre-contrast baseline")
        return 1
    return k


def _injection(
    P: _Params, acq: DceAcquisition, t: Array, signal: NDArray[np.float32], warnings: list[str]
) -> tuple[int, int, float]:
    """(injection phase, number of baseline phases, bolus arrival time in s)."""
    n = acq.n_phases
    if "injection_phase" in P.all:
        inj = int(P.get("injection_phase"))
    elif "bolus_arrival_time" in P.all:
        arrival = float(P.all["bolus_arrival_time"].value)
        inj = int(np.searchsorted(t, arrival, side="right"))
        P.put(Param("injection_phase", inj, "", "derived", f"first phase after the bolus arrival ({arrival:g} s)"))
    else:
        inj = _detect_injection(signal, warnings)
        P.put(Param("injection_phase", inj, "", "derived", "first phase where the most-enhancing voxels rise"))
    if not 1 <= inj < n:
        raise InputError(f"injection_phase {inj} must leave at least one baseline phase and one phase after it")
    if "baseline_phases" in P.all:
        nb = int(P.get("baseline_phases"))
        if not 1 <= nb <= inj:
            raise InputError(f"baseline_phases {nb} must be between 1 and the injection phase ({inj})")
    else:
        nb = int(P.put(Param("baseline_phases", inj, "", "derived", "all phases before the injection phase")))
    if "bolus_arrival_time" in P.all:
        arrival = float(P.get("bolus_arrival_time"))
    else:
        arrival = float(
            P.put(Param("bolus_arrival_time", float(t[inj - 1]), "s", "derived", "time of the last baseline phase"))
        )
    return inj, nb, arrival


def _t10(P: _Params, acq: DceAcquisition, shape: tuple[int, int, int], warnings: list[str]) -> Array | float:
    if "t10_map" in P.all:
        m = np.asarray(P.get("t10_map"), dtype=np.float64)
        if m.shape != shape:
            raise GeometryMismatchError(f"t10_map has shape {m.shape}, the maps {shape}")
        return m
    method = str(P.all["vfa"].value if "vfa" in P.all else "linear")
    if acq.vfa and method != "off" and "t10" not in P.all:
        P.get("vfa", "vfa")
        if "vfa_tr" not in P.all:
            raise MissingParameterError(["vfa_tr"], "the VFA series")
        tr = float(P.get("vfa_tr"))
        angles = [v.flip_angle for v in acq.vfa]
        P.put(
            Param(
                "vfa_flip_angles",
                angles,
                "deg",
                P.all["vfa_flip_angles"].source if "vfa_flip_angles" in P.all else "derived",
                "VFA series",
            )
        )
        vols = np.stack([v.loader() for v in acq.vfa])
        if vols.shape[1:] != shape:
            raise GeometryMismatchError(f"VFA volumes have shape {vols.shape[1:]}, the dynamic series {shape}")
        t1, _, valid = vfa_t1(vols.reshape(len(angles), -1), angles, tr, method=method)
        t1 = t1.reshape(shape)
        fixed = float(default_param("t10").value)
        t1 = np.where(valid.reshape(shape), t1, fixed)
        P.put(Param("t10", "map", "s", "derived", f"VFA {method} fit, flip angles {angles}°, TR {tr * 1000:g} ms"))
        return t1
    t10 = float(P.get("t10", "t10"))
    if not 0.05 < t10 < 10:
        raise UnitsError(f"T10 {t10:g} s is implausible (expected seconds)")
    if P.used["t10"].source == "default":
        warnings.append(f"no VFA series: a fixed T10 of {t10:g} s was assumed for every voxel")
    return t10


def _relaxivity(P: _Params) -> float:
    if "relaxivity" in P.all:
        r1 = float(P.get("relaxivity"))
    else:
        field_t = float(P.get("field_strength", "field_strength"))
        agent = str(P.get("agent", "agent"))
        r1 = float(P.put(relaxivity_param(agent, field_t)))
    if not 0.5 < r1 < 100:
        raise UnitsError(f"relaxivity {r1:g} 1/(mM·s) is implausible (expected 1/(mM·s), e.g. 4.5)")
    return r1


def _t1_blood(P: _Params) -> float:
    if "t1_blood" in P.all:
        return float(P.get("t1_blood"))
    field_t = float(P.all["field_strength"].value) if "field_strength" in P.all else 3.0
    return float(P.get("t1_blood", "t1_blood_1_5t" if field_t < 2.0 else "t1_blood_3t"))


def _mask_of(P: _Params, name: str, shape: tuple[int, int, int]) -> Mask | None:
    value = P.get(name)
    if value is None:
        return None
    m = np.asarray(value, dtype=bool)
    if m.shape != shape:
        raise GeometryMismatchError(f"{name} has shape {m.shape}, the maps {shape}")
    return m


def quantify(acq: DceAcquisition, overrides: Mapping[str, Any] | None = None, model: str | None = None) -> DceResult:
    """Fit ``model`` (default extended Tofts) voxel-wise; raises a :class:`QuantError` subclass."""
    t_start = time.perf_counter()
    merged = merge_overrides(acq.parameters, overrides)
    if model is not None and "model" not in merged:
        merged["model"] = Param("model", model, "", "user", "argument")
    P = _Params(merged)
    warnings: list[str] = []
    model_name = str(P.get("model", "model"))
    if model_name not in MODELS:
        raise InputError(f"unknown model {model_name!r}; choose one of {', '.join(MODELS)}")
    t = _times(P, acq)
    flip, tr = _acquisition_constants(P)
    shape = acq.geometry.shape
    signal = acq.signal()
    t_loaded = time.perf_counter()
    inj, nb, arrival = _injection(P, acq, t, signal, warnings)
    t10 = _t10(P, acq, shape, warnings)
    r1 = _relaxivity(P)
    hct = float(P.get("hematocrit", "hematocrit"))
    if not 0 <= hct < 0.8:
        raise UnitsError(f"hematocrit {hct:g} is implausible (expected a fraction, e.g. 0.42)")
    s0 = signal[:nb].mean(axis=0, dtype=np.float64)
    threshold = float(P.get("enhancement_threshold", "enhancement_threshold"))
    user_mask = _mask_of(P, "mask", shape)
    t10_arr = np.broadcast_to(np.asarray(t10, dtype=np.float64), shape)

    def conc_of(idx: NDArray[np.intp]) -> tuple[Array, Array, NDArray[np.bool_]]:
        sig = signal.reshape(signal.shape[0], -1)[:, idx].astype(np.float64)
        base = s0.reshape(-1)[idx]
        c, valid = concentration(sig, base, t10_arr.reshape(-1)[idx], tr, flip, r1)
        re = sig / np.where(base > 0, base, 1.0)[None, :] - 1.0
        return c, re, valid

    if user_mask is not None:
        mask = user_mask
    else:
        above_noise = s0 > 0.1 * float(np.percentile(s0, 99))
        peak = np.zeros(s0.size)
        flat_idx = np.nonzero(above_noise.reshape(-1))[0]
        sig2 = signal.reshape(signal.shape[0], -1)
        for start in range(0, flat_idx.size, CHUNK):
            idx = flat_idx[start : start + CHUNK]
            peak[idx] = sig2[nb:, idx].max(axis=0) / s0.reshape(-1)[idx] - 1.0
        mask = (above_noise.reshape(-1) & (peak >= threshold)).reshape(shape)
        P.put(
            Param(
                "mask", "enhancing", "", "derived", f"S0 above 10 % of its 99th percentile, enhancement ≥ {threshold:g}"
            )
        )
    voxels = np.nonzero(mask.reshape(-1))[0]
    if voxels.size == 0:
        raise InputError(
            "no voxel enhances above the threshold: nothing to fit (check the injection phase or the mask)"
        )
    t_min = t / 60.0
    aif_kind = str(P.get("aif", "aif")).lower()
    aif_mask = _mask_of(P, "aif_mask", shape)
    if aif_kind == "measured" and aif_mask is None:
        raise MissingParameterError(["aif_mask"], "a measured AIF (draw the arterial region, or choose aif = auto)")
    if aif_kind == "auto":
        peaks, ttps, lates = (np.zeros(voxels.size) for _ in range(3))
        for start in range(0, voxels.size, CHUNK):
            c, _, _ = conc_of(voxels[start : start + CHUNK])
            peaks[start : start + c.shape[1]], ttps[start : start + c.shape[1]], lates[start : start + c.shape[1]] = (
                arterial_scores(c, t_min)
            )
        chosen = select_arterial(peaks, ttps, lates)
        if chosen.size == 0:
            raise InputError("no arterial voxel found automatically; draw an arterial region (aif_mask)")
        aif_mask = np.zeros(s0.size, dtype=bool)
        aif_mask[voxels[chosen]] = True
        aif_mask = aif_mask.reshape(shape)
        P.put(
            Param(
                "aif", "auto", "", "derived", f"{chosen.size} arterial voxels detected (early, high, washing-out peak)"
            )
        )
        aif_kind = "measured"
    if aif_kind == "measured" and aif_mask is not None:
        if not aif_mask.any():
            raise InputError("the arterial region (aif_mask) is empty")
        t1b = _t1_blood(P)
        roi_sig = signal[:, aif_mask].mean(axis=1, dtype=np.float64)
        cb, valid = concentration(roi_sig[:, None], roi_sig[:nb].mean(), t1b, tr, flip, r1)
        if not valid[nb:].all():
            warnings.append(
                "the arterial signal saturates the SPGR equation in some phases (inflow or partial volume?)"
            )
        aif = Aif.measured(t_min, cb[:, 0], hct)
    elif aif_kind in ("parker", "weinmann"):
        fit_arrival = bool(P.get("fit_arrival", "fit_arrival"))
        if fit_arrival and P.used["bolus_arrival_time"].source == "derived":
            arrival = _fit_arrival(P, aif_kind, hct, t, arrival, model_name, voxels, conc_of)
        aif = Aif(aif_kind, onset=arrival / 60.0, hematocrit=hct)
    else:
        raise InputError(f"unknown AIF {aif_kind!r}; choose parker, weinmann, measured or auto")
    bounds = {k: P.get(k, k) for k in ("ktrans_max", "kep_bounds", "vp_max", "ve_max")}
    fitter = ModelFitter(
        t_min,
        aif,
        model_name,
        ktrans_max=float(bounds["ktrans_max"]),
        kep_bounds=(float(bounds["kep_bounds"][0]), float(bounds["kep_bounds"][1])),
        vp_max=float(bounds["vp_max"]),
        ve_max=float(bounds["ve_max"]),
    )
    auc_w = float(P.get("auc_window", "auc_window"))
    slope_w = float(P.get("initial_slope_window", "initial_slope_window"))
    names = MODEL_MAPS[model_name] + ("r2", "rmse") + tuple(SEMIQUANT_UNITS)
    flat_maps = {k: np.zeros(s0.size) for k in names}
    invalid = 0
    t_prep = time.perf_counter()
    for start in range(0, voxels.size, CHUNK):
        idx = voxels[start : start + CHUNK]
        c, re, valid = conc_of(idx)
        invalid += int((~valid[nb:]).any(axis=0).sum())
        fit = fitter.fit(c)
        for k in MODEL_MAPS[model_name] + ("r2", "rmse"):
            flat_maps[k][idx] = getattr(fit, k)
        for k, v in curve_parameters(c, re, t, arrival, auc_window=auc_w, initial_slope_window=slope_w).items():
            flat_maps[k][idx] = v
    if invalid:
        warnings.append(f"{invalid} voxel(s) had signals beyond the SPGR equation's range (clipped)")
    t_fit = time.perf_counter()
    maps = {k: v.reshape(shape) for k, v in flat_maps.items()}
    maps["t10"] = np.where(mask, t10_arr, 0.0)
    rois = _rois(P, shape)
    curves = _curves(rois, mask, aif_mask, signal, conc_of)
    stats = map_statistics(maps, mask, rois)
    timings = {
        "load_s": t_loaded - t_start,
        "prepare_s": t_prep - t_loaded,
        "fit_s": t_fit - t_prep,
        "total_s": time.perf_counter() - t_start,
        "voxels": float(voxels.size),
    }
    return DceResult(
        model=model_name,
        maps=maps,
        mask=mask,
        phase_times=t,
        aif=aif.plasma(t_min),
        aif_kind=aif.kind if aif.kind != "measured" else str(P.used["aif"].value),
        parameters=P.used,
        statistics=stats,
        curves=curves,
        timings=timings,
        aif_mask=aif_mask,
        warnings=warnings,
    )


def _fit_arrival(
    P: _Params,
    aif_kind: str,
    hct: float,
    t: Array,
    arrival: float,
    model_name: str,
    voxels: NDArray[np.intp],
    conc_of: Callable[[NDArray[np.intp]], tuple[Array, Array, NDArray[np.bool_]]],
) -> float:
    """Onset of the population AIF that fits a sample of the voxels best.

    The bolus reaches the tissue some time after the last baseline phase; searching onsets from
    one phase interval before to two after it, in quarter steps, then by golden section between
    the best one's neighbours, on up to ``ARRIVAL_SAMPLE`` voxels, removes most of the bias a
    misplaced population AIF would cause.
    """
    rng = np.random.default_rng(0)
    sample = voxels if voxels.size <= ARRIVAL_SAMPLE else np.sort(rng.choice(voxels, ARRIVAL_SAMPLE, replace=False))
    conc, _, _ = conc_of(sample)
    step = float(np.min(np.diff(t)))

    def cost(onset: float) -> float:
        fit = ModelFitter(t / 60.0, Aif(aif_kind, onset=onset / 60.0, hematocrit=hct), model_name, grid_size=48)
        return float(np.sum(fit.fit(conc).rmse ** 2))

    candidates = [float(a) for a in arrival + step * np.arange(-4, 9) / 4.0 if t[0] <= a < t[-1]]
    costs = [cost(a) for a in candidates]
    k = int(np.argmin(costs))
    # Golden-section search between the best candidate's neighbours.
    lo = candidates[max(k - 1, 0)]
    hi = candidates[min(k + 1, len(candidates) - 1)]
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    qc, qd = cost(c), cost(d)
    for _ in range(ARRIVAL_ITERATIONS):
        if qc < qd:
            hi, d, qd = d, c, qc
            c = hi - g * (hi - lo)
            qc = cost(c)
        else:
            lo, c, qc = c, d, qd
            d = lo + g * (hi - lo)
            qd = cost(d)
    best, best_cost = (float(c), qc) if qc < qd else (float(d), qd)
    if costs[k] <= best_cost:
        best = candidates[k]
    P.put(
        Param(
            "bolus_arrival_time",
            best,
            "s",
            "derived",
            f"fitted on {sample.size} voxels: {best - arrival:+.2f} s from the last baseline phase",
        )
    )
    return best


def _rois(P: _Params, shape: tuple[int, int, int]) -> dict[str, Mask]:
    value = P.all["rois"].value if "rois" in P.all else None
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError("rois must map region names to boolean arrays")
    out = {}
    for name, arr in value.items():
        m = np.asarray(arr, dtype=bool)
        if m.shape != shape:
            raise GeometryMismatchError(f"ROI {name!r} has shape {m.shape}, the maps {shape}")
        out[str(name)] = m
    given = P.all["rois"]
    P.put(Param("rois", sorted(out), "", given.source, given.detail or "regions given"))
    return out


def _curves(
    rois: dict[str, Mask],
    mask: Mask,
    aif_mask: Mask | None,
    signal: NDArray[np.float32],
    conc_of: Callable[[NDArray[np.intp]], tuple[Array, Array, NDArray[np.bool_]]],
) -> dict[str, dict[str, list[float]]]:
    """Mean signal and concentration curves of the mask, the AIF region and every ROI."""
    regions = {"mask": mask, **({"aif_region": aif_mask} if aif_mask is not None else {}), **rois}
    out: dict[str, dict[str, list[float]]] = {}
    rng = np.random.default_rng(0)
    for name, m in regions.items():
        idx = np.nonzero(m.reshape(-1))[0]
        if idx.size == 0:
            continue
        if idx.size > 20000:  # a mean curve does not need every voxel of a large region
            idx = np.sort(rng.choice(idx, 20000, replace=False))
        c, _, _ = conc_of(idx)
        sig = signal.reshape(signal.shape[0], -1)[:, idx]
        out[name] = {
            "signal": [float(v) for v in sig.mean(axis=1, dtype=np.float64)],
            "concentration_mM": [float(v) for v in c.mean(axis=1)],
        }
    return out
