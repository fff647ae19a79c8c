"""Spoiled gradient echo signal ↔ R1 ↔ contrast-agent concentration, and VFA T1 mapping.

Steady-state spoiled gradient echo (SPGR / FLASH / FFE / VIBE / LAVA)::

    S = M0 · sin α · (1 − E1) / (1 − cos α · E1),   E1 = exp(−TR · R1)

With the baseline signal S0 (mean of the pre-contrast phases) and the pre-contrast T10, M0 follows
from S0, and every later phase inverts to R1(t); the fast-exchange limit gives
C(t) = (R1(t) − R10) / r1. Variable flip angle (VFA) T1: S/sin α = E1 · S/tan α + M0 (1 − E1) is
linear in (S/tan α, S/sin α) (Fram 1987; Deoni 2003), fitted per voxel in closed form; an optional
Gauss–Newton refinement fits the signal equation itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["concentration", "spgr_signal", "vfa_t1"]

Array = NDArray[np.float64]

# R1 ceiling (1/s) where the inversion saturates (signal at or above the Ernst limit).
R1_MAX = 200.0


def spgr_signal(m0: Array | float, r1: Array | float, tr: float, flip_deg: float | Array) -> Array:
    """Steady-state SPGR signal for M0, R1 (1/s), TR (s) and flip angle (degrees)."""
    a = np.deg2rad(flip_deg)
    e1 = np.exp(-tr * np.asarray(r1, dtype=np.float64))
    out: Array = np.asarray(m0) * np.sin(a) * (1.0 - e1) / (1.0 - np.cos(a) * e1)
    return out


def concentration(
    signal: Array,
    baseline: Array,
    t10: Array | float,
    tr: float,
    flip_deg: float,
    relaxivity: float,
) -> tuple[Array, NDArray[np.bool_]]:
    """Concentration (mM) from signal (..., voxels) given S0 and T10 (s) per voxel.

    ``signal`` has time first (phases, voxels); ``baseline`` and ``t10`` broadcast over voxels.
    Returns (concentration, valid): ``valid`` is False where the signal exceeds what any R1 can
    give (the equation saturates) or S0/T10 are not positive; those values are clipped.
    """
    a = np.deg2rad(flip_deg)
    c = float(np.cos(a))
    s0 = np.asarray(baseline, dtype=np.float64)
    t10a = np.asarray(t10, dtype=np.float64)
    ok0 = (s0 > 0) & (t10a > 0)
    r10 = 1.0 / np.where(t10a > 0, t10a, 1.0)
    e10 = np.exp(-tr * r10)
    # Signal relative to the baseline: S/S0 = f(E1)/f(E10), f(E) = (1 − E)/(1 − cos α E).
    f10 = (1.0 - e10) / (1.0 - c * e10)
    f = np.asarray(signal, dtype=np.float64) * (f10 / np.where(s0 > 0, s0, 1.0))  # a new array
    # f = (1 − E)/(1 − c E)  ⇒  E = (1 − f)/(1 − c f); valid for 0 < f < 1 (in place: big arrays).
    f_max = (1.0 - np.exp(-tr * R1_MAX)) / (1.0 - c * np.exp(-tr * R1_MAX))
    valid = (f > 0) & (f <= f_max) & ok0
    np.clip(f, 1e-12, f_max, out=f)
    den = f * (-c)
    den += 1.0
    np.subtract(1.0, f, out=f)
    f /= den
    np.log(f, out=f)  # ln E1 = −TR · R1
    f *= -1.0 / (tr * relaxivity)
    f -= r10 / relaxivity
    conc: Array = f
    if not np.all(ok0):
        conc = np.where(ok0, conc, 0.0)
    return conc, np.asarray(valid, dtype=bool)


def vfa_t1(
    signals: Array,
    flip_deg: Sequence[float],
    tr: float,
    *,
    method: str = "linear",
    t1_bounds: tuple[float, float] = (0.05, 10.0),
    iterations: int = 8,
) -> tuple[Array, Array, NDArray[np.bool_]]:
    """T1 (s) and M0 per voxel from VFA signals (angles, voxels).

    ``method="linear"``: weighted closed-form regression of S/sin α on S/tan α (weights S², which
    undoes most of the noise amplification of the linearisation). ``"nonlinear"``: the linear
    result refined by damped Gauss–Newton on the signal equation. Returns (t1, m0, valid); invalid
    voxels (slope outside (0, 1), non-positive signal) get T1 clipped to ``t1_bounds``.
    """
    s = np.asarray(signals, dtype=np.float64)
    a = np.deg2rad(np.asarray(flip_deg, dtype=np.float64))[:, None]
    if s.shape[0] != a.shape[0] or s.shape[0] < 2:
        raise ValueError("need at least two flip angles, one row of signals each")
    y = s / np.sin(a)
    x = s / np.tan(a)
    w = np.maximum(s, 0.0) ** 2
    sw = w.sum(axis=0)
    sw_safe = np.where(sw > 0, sw, 1.0)
    mx = (w * x).sum(axis=0) / sw_safe
    my = (w * y).sum(axis=0) / sw_safe
    sxx = (w * (x - mx) ** 2).sum(axis=0)
    sxy = (w * (x - mx) * (y - my)).sum(axis=0)
    slope = sxy / np.where(sxx > 0, sxx, 1.0)
    e_lo, e_hi = np.exp(-tr / t1_bounds[0]), np.exp(-tr / t1_bounds[1])
    valid = (sw > 0) & (sxx > 0) & (slope > 0) & (slope < 1)
    e1 = np.clip(slope, e_lo, e_hi)
    m0 = (my - e1 * mx) / (1.0 - e1)
    if method == "nonlinear":
        e1, m0 = _gauss_newton(s, a, e1, m0, (e_lo, e_hi), iterations)
    elif method != "linear":
        raise ValueError(f"unknown VFA method {method!r}")
    t1: Array = -tr / np.log(e1)
    return t1, np.asarray(m0, dtype=np.float64), np.asarray(valid, dtype=bool)


def _gauss_newton(
    s: Array, a: Array, e1: Array, m0: Array, e_bounds: tuple[float, float], iterations: int
) -> tuple[Array, Array]:
    """Least squares in (M0, E1) of S = M0 sin α (1 − E1)/(1 − cos α E1), vectorised over voxels."""
    sa, ca = np.sin(a), np.cos(a)
    lam = np.full(e1.shape, 1e-3)

    def residual(m: Array, e: Array) -> Array:
        out: Array = s - m * sa * (1.0 - e) / (1.0 - ca * e)
        return out

    cost = (residual(m0, e1) ** 2).sum(axis=0)
    for _ in range(iterations):
        d = 1.0 - ca * e1
        g = sa * (1.0 - e1) / d  # ∂S/∂M0
        h = m0 * sa * (ca - 1.0) / d**2  # ∂S/∂E1
        r = residual(m0, e1)
        jtj00, jtj01, jtj11 = (g * g).sum(0), (g * h).sum(0), (h * h).sum(0)
        jr0, jr1 = (g * r).sum(0), (h * r).sum(0)
        a00, a11 = jtj00 * (1 + lam), jtj11 * (1 + lam)
        det = a00 * a11 - jtj01**2
        det = np.where(np.abs(det) > 1e-300, det, np.inf)
        dm = (a11 * jr0 - jtj01 * jr1) / det
        de = (a00 * jr1 - jtj01 * jr0) / det
        m_new = m0 + dm
        e_new = np.clip(e1 + de, *e_bounds)
        new_cost = (residual(m_new, e_new) ** 2).sum(axis=0)
        better = new_cost < cost
        m0 = np.where(better, m_new, m0)
        e1 = np.where(better, e_new, e1)
        cost = np.where(better, new_cost, cost)
        lam = np.where(better, lam * 0.3, lam * 10.0)
    return e1, m0
