"""Perfusion models: consensus formulas, GE's product formula, the general kinetic model.

All times in seconds, CBF in ml/100g/min, ΔM and M0 in the same (arbitrary) units.
Every function is vectorised over voxels; none loops in Python per voxel.

The general kinetic model (Buxton et al., MRM 1998) is written the way the OSIPI ASL DRO
(asldro) writes it: label arrives after the arterial transit time (ATT), decays with blood T1
before arrival and with the apparent tissue T1' = 1/(1/T1t + f/λ) after it. When T1t = T1b and
ATT ≤ PLD, the pCASL branch reduces to the consensus formula (apart from the small f/λ term).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "KineticFit",
    "consensus_pasl",
    "consensus_pcasl",
    "fit_kinetic",
    "ge_cbf",
    "gkm_pasl",
    "gkm_pcasl",
    "weighted_delay",
]

Array = NDArray[np.float64]
Num = Array | float | np.float64
ML_PER_100G_MIN = 6000.0  # ml/g/s -> ml/100g/min


def consensus_pcasl(
    dm: Array, m0: Array, pld: Array | float, tau: float, t1b: float, alpha: float, lam: float
) -> Array:
    """Alsop 2015 eq. 1 (pCASL / CASL). ``pld`` may be a per-slice array broadcastable to ``dm``."""
    pld_a = np.asarray(pld, dtype=np.float64)
    num = ML_PER_100G_MIN * lam * dm * np.exp(pld_a / t1b)
    den = 2.0 * alpha * t1b * m0 * (1.0 - np.exp(-tau / t1b))
    return _safe_divide(num, den)


def consensus_pasl(dm: Array, m0: Array, ti: Array | float, ti1: float, t1b: float, alpha: float, lam: float) -> Array:
    """Alsop 2015 eq. 2 (PASL with QUIPSS II / Q2TIPS bolus cut-off at TI1)."""
    ti_a = np.asarray(ti, dtype=np.float64)
    num = ML_PER_100G_MIN * lam * dm * np.exp(ti_a / t1b)
    den = 2.0 * alpha * ti1 * m0
    return _safe_divide(num, den)


def ge_cbf(
    pw: Array,
    pd: Array,
    pld: Array | float,
    ld: float,
    nex: float,
    *,
    st: float,
    t1t: float,
    t1b: float,
    eff: float,
    sf: float,
    lam: float,
) -> Array:
    """GE's product formula for 3D spiral pCASL (PW is the NEX-sum scaled by ``sf``; PD is a
    saturation-recovery image with saturation time ``st``)."""
    pld_a = np.asarray(pld, dtype=np.float64)
    factor = (
        ML_PER_100G_MIN
        * lam
        * (1.0 - np.exp(-st / t1t))
        * np.exp(pld_a / t1b)
        / (2.0 * t1b * (1.0 - np.exp(-ld / t1b)) * eff * nex)
    )
    return _safe_divide(factor * pw, sf * pd)


def _apparent_t1(f: Array, t1t: Array, lam: float) -> Array:
    return 1.0 / (1.0 / t1t + (f / ML_PER_100G_MIN) / lam)


def gkm_pcasl(f: Num, att: Num, pld: Num, tau: Num, t1b: float, t1t: Num, alpha: float, lam: float) -> Array:
    """ΔM/M0 predicted for pCASL/CASL; arguments broadcast together."""
    fs = np.asarray(f, dtype=np.float64) / ML_PER_100G_MIN
    t1p = _apparent_t1(np.asarray(f, dtype=np.float64), np.asarray(t1t, dtype=np.float64), lam)
    t = np.asarray(pld, dtype=np.float64) + tau
    base = 2.0 * alpha * fs / lam * t1p * np.exp(-att / t1b)
    during = base * (1.0 - np.exp(-np.maximum(t - att, 0.0) / t1p))
    after = base * np.exp(-(t - tau - att) / t1p) * (1.0 - np.exp(-tau / t1p))
    out: Array = np.where(t < att, 0.0, np.where(t < att + tau, during, after))
    return out


def gkm_pasl(f: Num, att: Num, ti: Num, ti1: float, t1b: float, t1t: Num, alpha: float, lam: float) -> Array:
    """ΔM/M0 predicted for PASL with a QUIPSS II cut-off at ``ti1``; arguments broadcast."""
    fs = np.asarray(f, dtype=np.float64) / ML_PER_100G_MIN
    t1p = _apparent_t1(np.asarray(f, dtype=np.float64), np.asarray(t1t, dtype=np.float64), lam)
    t = np.asarray(ti, dtype=np.float64)
    k = 1.0 / t1b - 1.0 / t1p
    small = np.abs(k) < 1e-9
    k_safe = np.where(small, 1.0, k)
    dur = np.maximum(t - att, 1e-12)
    q_during = np.where(small, 1.0, np.exp(k_safe * t) * (np.exp(-k_safe * att) - np.exp(-k_safe * t)) / (k_safe * dur))
    q_after = np.where(
        small,
        1.0,
        np.exp(k_safe * t) * (np.exp(-k_safe * att) - np.exp(-k_safe * (att + ti1))) / (k_safe * ti1),
    )
    during = 2.0 * alpha * fs / lam * (t - att) * np.exp(-t / t1b) * q_during
    after = 2.0 * alpha * fs / lam * ti1 * np.exp(-t / t1b) * q_after
    out: Array = np.where(t < att, 0.0, np.where(t < att + ti1, during, after))
    return out


@dataclass(frozen=True)
class KineticFit:
    """Voxel-wise fit output (flattened like the input)."""

    cbf: Array
    att: Array
    rss: Array


def _model(
    labeling: str,
    f: Num,
    att: Num,
    times: Num,
    bolus: Num,
    t1b: float,
    t1t: Num,
    alpha: float,
    lam: float,
) -> Array:
    if labeling == "pasl":
        # PASL has one bolus duration (QUIPSS II TI1) for all inversion times.
        return gkm_pasl(f, att, times, float(np.atleast_1d(bolus)[0]), t1b, t1t, alpha, lam)
    return gkm_pcasl(f, att, times, bolus, t1b, t1t, alpha, lam)


signal = _model  # ΔM/M0 of either labeling type (the engine's single-delay kinetic path)


def _linear_cbf(y: Array, basis: Array) -> tuple[Array, Array]:
    """Best non-negative CBF scale per row of ``basis`` (last axis = delays) and its RSS."""
    sby = np.einsum("...p,...p->...", basis, y)
    sbb = np.einsum("...p,...p->...", basis, basis)
    scale = np.where(sbb > 0, np.maximum(sby, 0.0) / np.where(sbb > 0, sbb, 1.0), 0.0)
    rss = np.einsum("...p,...p->...", y, y) - 2 * scale * sby + scale**2 * sbb
    return scale, rss


def fit_kinetic(
    y: Array,
    times: Array,
    *,
    bolus: Num,
    t1b: float,
    t1t: Array | float,
    alpha: float,
    lam: float,
    labeling: str = "pcasl",
    att_bounds: tuple[float, float] = (0.1, 3.0),
    cbf_bounds: tuple[float, float] = (0.0, 1000.0),
    chunk: int = 8192,
    iterations: int = 8,
) -> KineticFit:
    """Bounded least-squares fit of CBF and ATT to ΔM/M0 at several delays.

    ``y``: (N, P) ΔM/M0; ``times``: (P,) or (N, P) PLDs (pCASL) or TIs (PASL); ``t1t`` scalar or (N,).
    A grid search over ATT with the closed-form CBF for each candidate gives a global start, then
    a few Levenberg–Marquardt steps on (CBF, ATT) with the exact model, clipped to the bounds.
    """
    y = np.asarray(y, dtype=np.float64)
    n, p = y.shape
    times_a = np.broadcast_to(np.asarray(times, dtype=np.float64), (n, p))
    t1t_a = np.broadcast_to(np.asarray(t1t, dtype=np.float64), (n,))
    grid = np.arange(att_bounds[0], att_bounds[1] + 1e-9, 0.02)
    f_ref = 60.0
    cbf = np.empty(n)
    att = np.empty(n)
    shared = bool(np.all(times_a == times_a[0])) and bool(np.all(t1t_a == t1t_a[0]))
    if shared:
        # Same delays and T1 everywhere: one (ATT × delay) basis serves all voxels.
        basis1 = (
            _model(
                labeling,
                np.float64(f_ref),
                grid[:, None],
                times_a[0][None, :],
                bolus,
                t1b,
                np.float64(t1t_a[0]),
                alpha,
                lam,
            )
            / f_ref
        )
        sbb = np.einsum("ap,ap->a", basis1, basis1)
        for start in range(0, n, chunk):
            sl = slice(start, start + chunk)
            sby = y[sl] @ basis1.T
            scale = np.where(sbb > 0, np.maximum(sby, 0.0) / np.where(sbb > 0, sbb, 1.0), 0.0)
            rss = -2 * scale * sby + scale**2 * sbb  # Σy² is the same for every candidate
            best = np.argmin(rss, axis=1)
            cbf[sl] = scale[np.arange(best.size), best]
            att[sl] = grid[best]
    for start in range(0, 0 if shared else n, chunk):
        sl = slice(start, start + chunk)
        basis = (
            _model(
                labeling,
                np.float64(f_ref),
                grid[None, :, None],
                times_a[sl, None, :],
                bolus,
                t1b,
                t1t_a[sl, None, None],
                alpha,
                lam,
            )
            / f_ref
        )
        scale, rss = _linear_cbf(y[sl, None, :], basis)
        best = np.argmin(rss, axis=1)
        rows = np.arange(best.size)
        cbf[sl] = scale[rows, best]
        att[sl] = grid[best]
    cbf = np.clip(cbf, *cbf_bounds)

    def residual(f: Array, a: Array) -> Array:
        r: Array = y - _model(labeling, f[:, None], a[:, None], times_a, bolus, t1b, t1t_a[:, None], alpha, lam)
        return r

    r = residual(cbf, att)
    rss = np.einsum("np,np->n", r, r)
    mu = np.full(n, 1e-3)
    for _ in range(iterations):
        hf = np.maximum(1e-3 * np.abs(cbf), 1e-3)
        ha = 1e-4
        # r is the residual at the current point (kept in step with cbf and att below).
        jf = (r - residual(cbf + hf, att)) / hf[:, None]
        ja = (r - residual(cbf, att + ha)) / ha
        a11 = np.einsum("np,np->n", jf, jf)
        a22 = np.einsum("np,np->n", ja, ja)
        a12 = np.einsum("np,np->n", jf, ja)
        g1 = np.einsum("np,np->n", jf, r)
        g2 = np.einsum("np,np->n", ja, r)
        d11 = a11 * (1 + mu) + 1e-30
        d22 = a22 * (1 + mu) + 1e-30
        det = d11 * d22 - a12 * a12
        det = np.where(np.abs(det) < 1e-300, 1e-300, det)
        df = (d22 * g1 - a12 * g2) / det
        da = (d11 * g2 - a12 * g1) / det
        new_f = np.clip(cbf + df, *cbf_bounds)
        new_a = np.clip(att + da, *att_bounds)
        new_r = residual(new_f, new_a)
        new_rss = np.einsum("np,np->n", new_r, new_r)
        better = new_rss < rss
        cbf = np.where(better, new_f, cbf)
        att = np.where(better, new_a, att)
        r = np.where(better[:, None], new_r, r)
        rss = np.where(better, new_rss, rss)
        mu = np.where(better, mu * 0.3, mu * 10.0)
    return KineticFit(cbf=cbf, att=att, rss=rss)


def weighted_delay(
    y: Array,
    times: Array,
    *,
    bolus: Num,
    t1b: float,
    t1t: Array | float,
    alpha: float,
    lam: float,
    att_bounds: tuple[float, float] = (0.1, 3.0),
    chunk: int = 8192,
) -> KineticFit:
    """Dai et al. 2012: WD = Σ PLD·ΔM / Σ ΔM, inverted through the model's WD(ATT) curve; then
    the transit-corrected CBF is the closed-form least-squares scale at that ATT (pCASL only)."""
    y = np.asarray(y, dtype=np.float64)
    n, p = y.shape
    times_a = np.broadcast_to(np.asarray(times, dtype=np.float64), (n, p))
    t1t_a = np.broadcast_to(np.asarray(t1t, dtype=np.float64), (n,))
    grid = np.arange(att_bounds[0], att_bounds[1] + 1e-9, 0.005)
    f_ref = 60.0
    total = y.sum(axis=1)
    wd = np.where(total > 0, np.einsum("np,np->n", times_a, y) / np.where(total > 0, total, 1.0), 0.0)
    cbf = np.zeros(n)
    att = np.full(n, att_bounds[0])
    rss = np.zeros(n)
    if np.ndim(t1t) == 0 and bool(np.all(times_a == times_a[0])):
        # One curve serves every voxel: invert WD(ATT) by interpolation on its rising part.
        basis1 = (
            gkm_pcasl(np.float64(f_ref), grid[:, None], times_a[0][None, :], bolus, t1b, np.float64(t1t), alpha, lam)
            / f_ref
        )
        bsum1 = basis1.sum(axis=1)
        curve1 = basis1 @ times_a[0] / np.where(bsum1 > 0, bsum1, np.inf)
        top = int(np.argmax(curve1)) + 1
        att = np.interp(wd, curve1[:top], grid[:top])
        basis = gkm_pcasl(np.float64(f_ref), att[:, None], times_a, bolus, t1b, np.float64(t1t), alpha, lam) / f_ref
        cbf, rss = _linear_cbf(y, basis)
        return KineticFit(cbf=cbf, att=att, rss=rss)
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        basis = (
            gkm_pcasl(
                np.float64(f_ref),
                grid[None, :, None],
                times_a[sl, None, :],
                bolus,
                t1b,
                t1t_a[sl, None, None],
                alpha,
                lam,
            )
            / f_ref
        )
        bsum = basis.sum(axis=2)
        curve = np.einsum("np,nap->na", times_a[sl], basis) / np.where(bsum > 0, bsum, np.inf)
        best = np.argmin(np.abs(curve - wd[sl, None]), axis=1)
        rows = np.arange(best.size)
        att[sl] = grid[best]
        scale, r = _linear_cbf(y[sl], basis[rows, best])
        cbf[sl] = scale
        rss[sl] = r
    return KineticFit(cbf=cbf, att=att, rss=rss)


def _safe_divide(num: Array, den: Array) -> Array:
    num_a = np.asarray(num, dtype=np.float64)
    den_a = np.broadcast_to(np.asarray(den, dtype=np.float64), np.broadcast_shapes(num_a.shape, np.shape(den)))
    out: Array = np.divide(num_a, den_a, out=np.zeros(np.broadcast_shapes(num_a.shape, den_a.shape)), where=den_a > 0)
    return out
