"""Quality control of every quantification: flags with numbers, never a silent "normal" result.

Measured on each run (``QuantResult.qc``, also ``statistics["qc"]``)::

    {"status": "pass" | "warning" | "fail",
     "flags": [{"code": "cbf_implausible_high", "severity": "fail",
                "message": "whole-brain CBF 671.2 ml/100g/min is physiologically implausible (> 150)",
                "values": {"whole_brain_cbf": 671.2, "limit": 150.0}}, ...],
     "measures": {"whole_brain_cbf": ..., "grey_matter_like_cbf": ...,
                  "delta_m_negative_fraction": ..., "delta_m_percent_of_m0": ...,
                  "n_volumes": ..., "n_pairs": ..., "motion_max_mm": ..., "motion_mean_fd_mm": ...,
                  "tsnr_global": ..., "tsnr_voxel_median": ...}}

``status`` is the worst severity among the flags (``info`` flags do not change it). A ``fail``
means the numbers must not be read as a normal result (negative or absent perfusion, values
no living brain has, control and label swapped); the maps are still produced so that a person
can see why. Flag codes are stable identifiers for the UI (translate by code); ``message`` is
an English sentence with the numbers.

Thresholds (whole-brain mean CBF, ml/100g/min): < 0 negative (fail), 0–5 absent (fail), 5–15 low
(warning), 100–150 high (warning), > 150 implausible (fail). Adult whole-brain CBF is typically
35–60 (children up to ~80); grey matter alone may reach 100.

Motion is estimated from the images alone: the intensity-weighted centre of mass of each
control/label volume (within that volume's own intensity mask), in mm. It sees translations
(and the translation part of a rotation about an off-centre point), not pure rotations about
the centre; > 2 mm peak displacement or > 0.5 mm mean frame-to-frame displacement is flagged.

Temporal SNR: for each delay with ≥ 3 control/label pairs, the pairwise differences ΔM_i;
``tsnr_global`` = mean/sd over pairs of the brain-mean ΔM_i (flagged below 2), and
``tsnr_voxel_median`` = the median over brain voxels of mean/sd of ΔM_i (reported, not flagged:
single-voxel ASL tSNR is low by nature).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from quant.acquisition import Geometry

__all__ = ["QcCollector", "QcFlag", "QcReport", "assess", "qc_comment"]

Array = NDArray[np.float64]
Severity = Literal["info", "warning", "fail"]
Status = Literal["pass", "warning", "fail"]

CBF_NEGATIVE = 0.0
CBF_ABSENT = 5.0
CBF_LOW = 15.0
CBF_HIGH = 100.0
CBF_IMPLAUSIBLE = 150.0
SWAP_FRACTION = 0.6
MOTION_MAX_MM = 2.0
MOTION_FD_MM = 0.5
TSNR_LOW = 2.0
MIN_PAIRS = 3


@dataclass(frozen=True)
class QcFlag:
    code: str
    severity: Severity
    message: str
    values: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message, "values": dict(self.values)}


@dataclass
class QcReport:
    status: Status
    flags: list[QcFlag]
    measures: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "flags": [f.as_dict() for f in self.flags],
            "measures": dict(self.measures),
        }


def intensity_mask(volume: Array) -> NDArray[np.bool_]:
    """Voxels above half the intensity-weighted mean (the rule of the engine's brain mask)."""
    pos = np.clip(volume, 0, None)
    total = float(pos.sum())
    if total <= 0:
        return np.zeros(volume.shape, dtype=bool)
    out: NDArray[np.bool_] = pos > 0.5 * float((pos**2).sum() / total)
    return out


class QcCollector:
    """Collects per-volume and per-pair measures while the engine loads the images once."""

    def __init__(self, geometry: Geometry) -> None:
        self.geometry = geometry
        self.centres: list[NDArray[np.float64]] = []
        self.mask: NDArray[np.bool_] | None = None
        # Per delay: sum and sum of squares of the pairwise ΔM, count, brain-mean ΔM per pair.
        self._sum: dict[int, Array] = {}
        self._sq: dict[int, Array] = {}
        self._n: dict[int, int] = {}
        self._global: dict[int, list[float]] = {}

    def volume(self, values: Array) -> None:
        """One control or label volume (in acquisition order)."""
        if self.mask is None:
            self.mask = intensity_mask(values)
        weights = np.clip(values, 0, None) * intensity_mask(values)
        total = float(weights.sum())
        if total <= 0:
            return
        centre = []
        for axis in range(values.ndim):  # marginal profile along each axis: no index volumes
            other = tuple(a for a in range(values.ndim) if a != axis)
            profile = weights.sum(axis=other)
            centre.append(float(np.dot(np.arange(profile.size), profile)) / total)
        self.centres.append(np.array(centre))

    def pair(self, delay: int, delta_m: Array) -> None:
        """The difference control − label of one pair."""
        if delay not in self._sum:
            self._sum[delay] = np.zeros(delta_m.shape)
            self._sq[delay] = np.zeros(delta_m.shape)
            self._n[delay] = 0
            self._global[delay] = []
        self._sum[delay] += delta_m
        self._sq[delay] += delta_m * delta_m
        self._n[delay] += 1
        if self.mask is not None and self.mask.any():
            self._global[delay].append(float(np.mean(delta_m[self.mask])))

    @property
    def n_pairs(self) -> int:
        return sum(self._n.values())

    def motion_mm(self) -> tuple[float, float] | None:
        """(peak displacement from the median position, mean frame-to-frame displacement) in mm."""
        if len(self.centres) < 3:
            return None
        g = self.geometry
        scale = np.array([g.spacing_between_slices or g.slice_thickness, g.pixel_spacing[0], g.pixel_spacing[1]])
        c = np.stack(self.centres) * scale
        peak = float(np.max(np.linalg.norm(c - np.median(c, axis=0), axis=1)))
        fd = float(np.mean(np.linalg.norm(np.diff(c, axis=0), axis=1)))
        return peak, fd

    def tsnr(self, mask: NDArray[np.bool_]) -> tuple[float, float] | None:
        """(global tSNR, median voxel tSNR) over delays with enough pairs; None if none has."""
        glob, voxel = [], []
        for d, n in self._n.items():
            if n < MIN_PAIRS:
                continue
            series = np.asarray(self._global[d])
            sd = float(np.std(series, ddof=1)) if series.size >= 2 else 0.0
            glob.append(abs(float(np.mean(series))) / sd if sd > 0 else float("inf"))
            mean = self._sum[d] / n
            var = np.clip((self._sq[d] - n * mean * mean) / (n - 1), 0, None)
            sdv = np.sqrt(var[mask])
            ok = sdv > 0
            if ok.any():
                voxel.append(float(np.median(np.abs(mean[mask][ok]) / sdv[ok])))
        if not glob:
            return None
        return float(np.median(glob)), float(np.median(voxel)) if voxel else float("nan")


def _cbf_flags(whole: float | None) -> list[QcFlag]:
    if whole is None or not np.isfinite(whole):
        return [QcFlag("cbf_missing", "fail", "no whole-brain CBF could be computed (empty brain mask)", {})]
    v = round(whole, 1)
    if whole < CBF_NEGATIVE:
        return [QcFlag("cbf_negative", "fail", f"whole-brain CBF {v} ml/100g/min is negative",
                       {"whole_brain_cbf": whole, "limit": CBF_NEGATIVE})]
    if whole < CBF_ABSENT:
        return [QcFlag("cbf_absent", "fail",
                       f"whole-brain CBF {v} ml/100g/min: no perfusion signal (phantom, failed labeling, or wrong "
                       f"parameters; < {CBF_ABSENT:g})", {"whole_brain_cbf": whole, "limit": CBF_ABSENT})]
    if whole < CBF_LOW:
        return [QcFlag("cbf_low", "warning", f"whole-brain CBF {v} ml/100g/min is very low (< {CBF_LOW:g})",
                       {"whole_brain_cbf": whole, "limit": CBF_LOW})]
    if whole > CBF_IMPLAUSIBLE:
        return [QcFlag("cbf_implausible_high", "fail",
                       f"whole-brain CBF {v} ml/100g/min is physiologically implausible (> {CBF_IMPLAUSIBLE:g}); "
                       "check M0 (background suppression, scaling) and the timing parameters",
                       {"whole_brain_cbf": whole, "limit": CBF_IMPLAUSIBLE})]
    if whole > CBF_HIGH:
        return [QcFlag("cbf_high", "warning", f"whole-brain CBF {v} ml/100g/min is very high (> {CBF_HIGH:g})",
                       {"whole_brain_cbf": whole, "limit": CBF_HIGH})]
    return []


def assess(
    statistics: dict[str, Any],
    mask: NDArray[np.bool_],
    delta_m: Array,
    m0: Array,
    collector: QcCollector | None,
) -> QcReport:
    """QC of one result: ``delta_m`` is (delays, z, y, x), ``m0`` the calibration image used."""
    whole = statistics.get("whole_brain", {}).get("mean")
    measures: dict[str, Any] = {
        "whole_brain_cbf": whole,
        "grey_matter_like_cbf": statistics.get("grey_matter_like", {}).get("mean"),
    }
    flags = _cbf_flags(whole)
    if mask.any():
        total = delta_m.sum(axis=0)[mask]
        negative = float(np.mean(total < 0))
        m0_mean = float(np.mean(m0[mask]))
        percent = 100.0 * float(np.mean(delta_m[:, mask])) / m0_mean if m0_mean > 0 else None
        measures["delta_m_negative_fraction"] = negative
        measures["delta_m_percent_of_m0"] = percent
        if negative > SWAP_FRACTION and float(np.mean(total)) < 0:
            flags.append(QcFlag(
                "control_label_swapped", "fail",
                f"ΔM is negative in {negative:.0%} of the brain: control and label look swapped",
                {"negative_fraction": negative, "delta_m_percent_of_m0": percent, "limit": SWAP_FRACTION},
            ))
    measures["n_volumes"] = len(collector.centres) if collector else 0
    measures["n_pairs"] = collector.n_pairs if collector else 0
    motion = collector.motion_mm() if collector else None
    if motion is None:
        measures["motion_max_mm"] = measures["motion_mean_fd_mm"] = None
        flags.append(QcFlag("motion_not_assessed", "info",
                            "motion not assessed: fewer than 3 control/label volumes (e.g. scanner ΔM images)", {}))
    else:
        peak, fd = motion
        measures["motion_max_mm"], measures["motion_mean_fd_mm"] = peak, fd
        if peak > MOTION_MAX_MM or fd > MOTION_FD_MM:
            flags.append(QcFlag(
                "motion", "warning",
                f"head motion between volumes: peak displacement {peak:.1f} mm, mean frame-to-frame {fd:.2f} mm "
                f"(limits {MOTION_MAX_MM:g} mm, {MOTION_FD_MM:g} mm)",
                {"max_mm": peak, "mean_fd_mm": fd, "limit_max_mm": MOTION_MAX_MM, "limit_fd_mm": MOTION_FD_MM},
            ))
    tsnr = collector.tsnr(mask) if collector and mask.any() else None
    if tsnr is None:
        measures["tsnr_global"] = measures["tsnr_voxel_median"] = None
        flags.append(QcFlag("tsnr_not_assessed", "info",
                            f"temporal SNR not assessed: fewer than {MIN_PAIRS} control/label pairs per delay", {}))
    else:
        glob, voxel = tsnr
        measures["tsnr_global"] = glob if np.isfinite(glob) else None
        measures["tsnr_voxel_median"] = voxel if np.isfinite(voxel) else None
        if glob < TSNR_LOW:
            flags.append(QcFlag(
                "tsnr_low", "warning",
                f"low temporal SNR of ΔM: {glob:.2f} (brain mean over {measures['n_pairs']} pairs; limit {TSNR_LOW:g})",
                {"tsnr_global": glob, "limit": TSNR_LOW},
            ))
    order = {"info": 0, "warning": 1, "fail": 2}
    worst = max((order[f.severity] for f in flags), default=0)
    status: Status = "fail" if worst == 2 else ("warning" if worst == 1 else "pass")
    return QcReport(status, flags, measures)


def qc_comment(result: Any) -> str:
    """One line for the derived images' ImageComments ("" when QC passed or was not run)."""
    report: QcReport | None = getattr(result, "qc", None)
    if report is None or report.status == "pass":
        return ""
    serious = [f.message for f in report.flags if f.severity != "info"]
    return f"QC {report.status}: " + "; ".join(serious)
