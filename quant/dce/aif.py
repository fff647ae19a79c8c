"""Arterial input functions: population (Parker 2006, Weinmann) and measured, plus a simple
automatic arterial-voxel detector.

Every AIF is a plasma concentration Cp(t) in mM with t in **minutes** from the first phase.
Blood curves (Parker, measured) become plasma through Cp = Cb / (1 − Hct).

- Parker GJM et al. "Experimentally-derived functional form for a population-averaged
  high-temporal-resolution arterial input function for dynamic contrast-enhanced MRI."
  MRM 2006;56:993-1000 (Table 1: two Gaussians plus a sigmoid-modulated exponential, blood).
- Weinmann HJ et al., Physiol Chem Phys Med NMR 1984;16:167, in the bi-exponential form of
  Tofts PS, Kermode AG, MRM 1991;17:357 (plasma, dose 0.1 mmol/kg).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Aif", "arterial_scores", "detect_arterial_voxels", "select_arterial", "parker_blood", "weinmann_plasma"]

Array = NDArray[np.float64]

# Parker 2006, Table 1 (times in minutes, concentrations in mM, blood).
PARKER = {
    "A1": 0.809,
    "A2": 0.330,
    "T1": 0.17046,
    "T2": 0.365,
    "sigma1": 0.0563,
    "sigma2": 0.132,
    "alpha": 1.050,
    "beta": 0.1685,
    "s": 38.078,
    "tau": 0.483,
}
# Tofts & Kermode 1991 (Weinmann 1984): D in mmol/kg, a in kg/l, m in 1/min (plasma).
WEINMANN = {"D": 0.1, "a1": 3.99, "a2": 4.78, "m1": 0.144, "m2": 0.0111}
POPULATION = ("parker", "weinmann")
STEP_WIDTH = 1e-5  # min: width of the onset step on the model's time grid


def parker_blood(t_min: Array) -> Array:
    """Parker's population blood concentration (mM) at ``t_min`` minutes after its own origin."""
    p = PARKER
    t = np.asarray(t_min, dtype=np.float64)
    g1 = p["A1"] / (p["sigma1"] * np.sqrt(2 * np.pi)) * np.exp(-((t - p["T1"]) ** 2) / (2 * p["sigma1"] ** 2))
    g2 = p["A2"] / (p["sigma2"] * np.sqrt(2 * np.pi)) * np.exp(-((t - p["T2"]) ** 2) / (2 * p["sigma2"] ** 2))
    # exp(-s(t-tau)) overflows for very negative t: the sigmoid is 0 there anyway.
    z = np.clip(-p["s"] * (t - p["tau"]), -700.0, 700.0)
    sig = p["alpha"] * np.exp(-p["beta"] * t) / (1.0 + np.exp(z))
    out: Array = g1 + g2 + sig
    return out


def weinmann_plasma(t_min: Array) -> Array:
    """Weinmann's bi-exponential plasma concentration (mM), zero up to the injection (a step there)."""
    w = WEINMANN
    t = np.asarray(t_min, dtype=np.float64)
    out: Array = np.where(t > 0, w["D"] * (w["a1"] * np.exp(-w["m1"] * t) + w["a2"] * np.exp(-w["m2"] * t)), 0.0)
    return out


@dataclass(frozen=True)
class Aif:
    """A plasma input function.

    ``kind`` ``parker`` / ``weinmann``: analytic, zero up to ``onset`` (min); ``measured``: the
    samples ``cp`` at ``times`` (min), linear in between (zero before the first sample).
    """

    kind: str
    onset: float = 0.0
    hematocrit: float = 0.42
    times: Array | None = None
    cp: Array | None = None

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """Times (min) where the curve has a kink or a step: the model grid places nodes there."""
        if self.kind in POPULATION:
            return (self.onset, self.onset + STEP_WIDTH)
        return ()

    def plasma(self, t_min: Array) -> Array:
        t = np.asarray(t_min, dtype=np.float64)
        if self.kind == "parker":
            # Zero up to the onset (Parker's curve is 0.08 mM at its origin): the phases before
            # the bolus arrival must be free of contrast, as the baseline assumes.
            out: Array = np.where(t > self.onset, parker_blood(t - self.onset), 0.0) / (1.0 - self.hematocrit)
            return out
        if self.kind == "weinmann":
            return weinmann_plasma(t - self.onset)
        if self.kind == "measured" and self.times is not None and self.cp is not None:
            out = np.interp(t, self.times, self.cp, left=0.0, right=float(self.cp[-1]))
            return out
        raise ValueError(f"AIF kind {self.kind!r} is not usable")

    @classmethod
    def measured(cls, times_min: Array, blood: Array, hematocrit: float) -> Aif:
        """A measured AIF from blood concentrations (mM) at the phase times (min)."""
        cb = np.asarray(blood, dtype=np.float64)
        return cls("measured", 0.0, hematocrit, np.asarray(times_min, dtype=np.float64), cb / (1.0 - hematocrit))


def arterial_scores(conc: Array, times_min: Array) -> tuple[Array, Array, Array]:
    """Per voxel of ``conc`` (phases, voxels): peak concentration, time to peak, mean of the last third."""
    c = np.asarray(conc, dtype=np.float64)
    peak = c.max(axis=0)
    ttp = np.asarray(times_min, dtype=np.float64)[np.argmax(c, axis=0)]
    late = c[-max(1, c.shape[0] // 3) :].mean(axis=0)
    return peak, ttp, late


def select_arterial(
    peak: Array, ttp: Array, late: Array, n_voxels: int = 20, peak_quantile: float = 0.95
) -> NDArray[np.intp]:
    """Likely arterial voxels from :func:`arterial_scores`.

    An artery enhances most, earliest and washes out: of the voxels whose peak concentration is in
    the top ``1 − peak_quantile``, keep those whose time to peak is in the earliest quarter, then
    the ``n_voxels`` with the highest peak-to-late ratio (first pass over the mean of the last
    third of the phases). Returns an empty array when nothing qualifies.
    """
    finite = np.isfinite(peak) & (peak > 0)
    if not finite.any():
        return np.zeros(0, dtype=np.intp)
    threshold = np.quantile(peak[finite], peak_quantile)
    candidates = np.nonzero(finite & (peak >= threshold))[0]
    early = candidates[ttp[candidates] <= np.quantile(ttp[candidates], 0.25)]
    if early.size == 0:
        early = candidates
    ratio = peak[early] / np.maximum(late[early], 1e-6 * peak[early])
    order = np.argsort(-ratio)
    out: NDArray[np.intp] = np.sort(early[order[:n_voxels]]).astype(np.intp)
    return out


def detect_arterial_voxels(
    conc: Array, times_min: Array, n_voxels: int = 20, peak_quantile: float = 0.95
) -> NDArray[np.intp]:
    """Indices (into the voxel axis of ``conc`` (phases, voxels)) of likely arterial voxels."""
    c = np.asarray(conc, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] == 0:
        return np.zeros(0, dtype=np.intp)
    return select_arterial(*arterial_scores(c, times_min), n_voxels=n_voxels, peak_quantile=peak_quantile)
