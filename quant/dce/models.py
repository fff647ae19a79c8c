"""Tracer-kinetic models (Tofts, extended Tofts, Patlak) and their vectorised voxel-wise fit.

Times are in **minutes**, Ktrans and kep in 1/min, concentrations in mM, volumes as fractions::

    Tofts           C(t) = Ktrans ∫ Cp(s) e^(−kep (t − s)) ds                   kep = Ktrans / ve
    extended Tofts  C(t) = Ktrans ∫ Cp(s) e^(−kep (t − s)) ds + vp Cp(t)
    Patlak          C(t) = Ktrans ∫ Cp(s) ds + vp Cp(t)

(Tofts PS et al., JMRI 1999;10:223; Patlak CS et al., J Cereb Blood Flow Metab 1983;3:1.)

The convolution is exact for an input that is linear between the samples of a fine grid (every
phase interval split into steps of at most ``MAX_STEP``), so the population AIF's first pass is
resolved even with a slow temporal resolution.

Fit: for fixed kep both models are linear in (Ktrans, vp), so the fit is a variable-projection
search. Every voxel is solved in closed form on a log-spaced grid of kep values under the box
bounds 0 ≤ Ktrans ≤ min(ktrans_max, ve_max · kep), 0 ≤ vp ≤ vp_max (the optimum of a convex
quadratic in a box lies inside or on an edge, so the edges are solved too); the best grid kep is
then refined by a golden-section search between its neighbours in log kep, on the basis
interpolated between grid points (the refinement costs O(voxels), not O(voxels × phases)). The
cost is a few matrix products per chunk of voxels: no per-voxel iterative optimiser. Goodness
of fit: R² and RMSE per voxel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from quant.dce.aif import Aif

__all__ = ["MODELS", "FitResult", "ModelFitter", "exp_convolution", "fit_model", "forward", "time_grid"]

Array = NDArray[np.float64]
MODELS = ("extended_tofts", "tofts", "patlak")
MAX_STEP = 0.2 / 60.0  # minutes between fine-grid samples of the AIF
GRID_SIZE = 96
CHUNK = 65536  # voxels refined together
GRID_BLOCK = 2048  # voxels per block of the grid stage
GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0
GOLDEN_ITERATIONS = 15  # the bracket (two grid steps) shrinks to 0.07 % of itself


@dataclass(frozen=True)
class FitResult:
    """Per-voxel fitted parameters (1-D over the fitted voxels); ``ve``/``kep`` are zero for Patlak."""

    model: str
    ktrans: Array
    ve: Array
    kep: Array
    vp: Array
    r2: Array
    rmse: Array


def time_grid(t_min: Array, max_step: float = MAX_STEP) -> tuple[Array, NDArray[np.intp]]:
    """A fine grid containing every phase time, and the index of each phase time in it."""
    t = np.asarray(t_min, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("phase times must increase strictly")
    pieces = [t[:1]]
    idx = [0]
    for a, b in zip(t[:-1], t[1:], strict=True):
        n = max(1, int(np.ceil((b - a) / max_step - 1e-9)))
        pieces.append(np.linspace(a, b, n + 1)[1:])
        idx.append(idx[-1] + n)
    return np.concatenate(pieces), np.asarray(idx, dtype=np.intp)


def exp_convolution(cp: Array, tf: Array, kep: Array) -> Array:
    """∫₀ᵗ cp(s) e^(−kep (t − s)) ds on the grid ``tf`` for every kep: shape (len(kep), len(tf)).

    Exact for ``cp`` linear between grid points (recursive update over each step h, x = kep·h)::

        E(t+h) = e^(−x) E(t) + cp(t) (1 − e^(−x))/kep + Δcp (1 − (1 − e^(−x))/x)/kep
    """
    k = np.asarray(kep, dtype=np.float64).reshape(-1)
    out = np.zeros((k.size, tf.size))
    e = np.zeros(k.size)
    for i in range(tf.size - 1):
        h = tf[i + 1] - tf[i]
        x = k * h
        decay = np.exp(-x)
        one_minus = -np.expm1(-x)  # 1 − e^(−x)
        # (1 − (1 − e^(−x))/x)/k = h · (1 − (1 − e^(−x))/x)/x; series for small x.
        small = x < 1e-4
        xs = np.where(small, 1.0, x)
        w_lin = np.where(small, h * (0.5 - x / 6.0), h * (1.0 - one_minus / xs) / xs)
        w_const = np.where(small, h * (1.0 - x / 2.0), h * one_minus / xs)
        e = decay * e + cp[i] * w_const + (cp[i + 1] - cp[i]) * w_lin
        out[:, i + 1] = e
    return out


def _bases(aif: Aif, t_min: Array, kep: Array) -> tuple[Array, Array, Array]:
    """Sampled exp-convolutions (len(kep), T), Cp (T,) and ∫Cp (T,) at the phase times."""
    tf, idx = time_grid(t_min)
    extra = [b for b in aif.breakpoints if tf[0] < b < tf[-1]]
    if extra:  # nodes at the AIF's onset keep its step or kink sharp
        times = np.asarray(t_min, dtype=np.float64)
        tf = np.union1d(tf, extra)
        idx = np.searchsorted(tf, times).astype(np.intp)
    cp_f = aif.plasma(tf)
    conv = exp_convolution(cp_f, tf, kep)[:, idx]
    integral = np.concatenate([[0.0], np.cumsum(0.5 * (cp_f[1:] + cp_f[:-1]) * np.diff(tf))])[idx]
    return conv, cp_f[idx], integral


def forward(
    model: str,
    t_min: Array,
    aif: Aif,
    ktrans: Array,
    ve: Array | None = None,
    vp: Array | None = None,
) -> Array:
    """Model concentrations (T, N) for parameter arrays of N voxels."""
    kt = np.atleast_1d(np.asarray(ktrans, dtype=np.float64))
    vpa = np.zeros_like(kt) if vp is None else np.broadcast_to(np.asarray(vp, dtype=np.float64), kt.shape)
    if model == "patlak":
        _, cp, integral = _bases(aif, t_min, np.zeros(1))
        out: Array = integral[:, None] * kt[None, :] + cp[:, None] * vpa[None, :]
        return out
    if model not in ("tofts", "extended_tofts") or ve is None:
        raise ValueError(f"model {model!r} needs ve (and is one of {MODELS})")
    vea = np.broadcast_to(np.asarray(ve, dtype=np.float64), kt.shape)
    kep = kt / vea
    conv, cp, _ = _bases(aif, t_min, kep)
    out = (conv * kt[:, None]).T
    if model == "extended_tofts":
        out = out + cp[:, None] * vpa[None, :]
    return out


def _box_lsq(
    b1: Array, b2: Array, g11: Array, g12: Array, g22: float | Array, kmax: Array, vmax: float, with_vp: bool
) -> tuple[Array, Array, Array]:
    """Minimise p·Gp − 2p·b over 0 ≤ p1 ≤ kmax, 0 ≤ p2 ≤ vmax (broadcast); returns (p1, p2, q)."""
    g11s = np.where(g11 > 0, g11, 1e-300)
    if not with_vp:
        p1 = np.clip(b1 / g11s, 0.0, kmax)
        q = p1 * p1 * g11 - 2 * p1 * b1
        return p1, np.zeros_like(p1), q
    g22s = g22 if np.all(np.asarray(g22) > 0) else np.where(np.asarray(g22) > 0, g22, 1e-300)

    def quad(p1: Array, p2: Array) -> Array:
        out: Array = p1 * p1 * g11 + 2 * p1 * p2 * g12 + p2 * p2 * g22 - 2 * (p1 * b1 + p2 * b2)
        return out

    det = g11 * g22 - g12 * g12
    dets = np.where(np.abs(det) > 1e-300, det, 1e-300)
    p1 = (g22 * b1 - g12 * b2) / dets
    p2 = (g11 * b2 - g12 * b1) / dets
    inside = (p1 >= 0) & (p1 <= kmax) & (p2 >= 0) & (p2 <= vmax) & (np.abs(det) > 1e-300)
    best_q = np.where(inside, quad(p1, p2), np.inf)
    best_1 = np.where(inside, p1, 0.0)
    best_2 = np.where(inside, p2, 0.0)
    for fix2 in (0.0, vmax):  # edges p2 = const
        c1 = np.clip((b1 - fix2 * g12) / g11s, 0.0, kmax)
        c2 = np.full_like(c1, fix2)
        q = quad(c1, c2)
        better = q < best_q
        best_q, best_1, best_2 = np.where(better, q, best_q), np.where(better, c1, best_1), np.where(better, c2, best_2)
    for fix1 in (np.zeros_like(best_1), np.broadcast_to(kmax, best_1.shape)):  # edges p1 = const
        c2 = np.clip((b2 - fix1 * g12) / g22s, 0.0, vmax)
        q = quad(fix1, c2)
        better = q < best_q
        best_q, best_1, best_2 = (
            np.where(better, q, best_q),
            np.where(better, fix1, best_1),
            np.where(better, c2, best_2),
        )
    return best_1, best_2, best_q


class ModelFitter:
    """The bases of one model, AIF and time axis, built once; :meth:`fit` then runs on any number
    of chunks of voxels (the engine feeds it chunk by chunk to bound memory)."""

    def __init__(
        self,
        t_min: Array,
        aif: Aif,
        model: str = "extended_tofts",
        *,
        ktrans_max: float = 5.0,
        kep_bounds: tuple[float, float] = (0.005, 20.0),
        vp_max: float = 1.0,
        ve_max: float = 1.0,
        grid_size: int = GRID_SIZE,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
        self.model = model
        self.bounds = (float(ktrans_max), float(ve_max), float(vp_max))
        if model == "patlak":
            _, cp, integral = _bases(aif, t_min, np.zeros(1))
            self.basis = integral[None, :]
            self.kep_grid = np.zeros(1)
            kmax: Array | float = ktrans_max
        else:
            lo, hi = kep_bounds
            if not 0 < lo < hi:
                raise ValueError("kep_bounds must be 0 < min < max")
            if grid_size < 5:
                raise ValueError("grid_size must be at least 5")
            self.kep_grid = np.exp(np.linspace(np.log(lo), np.log(hi), grid_size))
            self.basis, cp, _ = _bases(aif, t_min, self.kep_grid)
            kmax = np.minimum(ktrans_max, ve_max * self.kep_grid)
        self.cp = cp
        self.with_vp = model != "tofts"
        self.g11 = (self.basis * self.basis).sum(axis=1)  # (K,)
        self.g12 = self.basis @ cp
        self.g22 = float(cp @ cp)
        self.kmax = np.broadcast_to(np.asarray(kmax, dtype=np.float64), self.kep_grid.shape)
        det = self.g11 * self.g22 - self.g12**2
        det = np.where(np.abs(det) > 1e-300, det, np.inf)  # a singular grid point is never "inside"
        self.a11, self.a12, self.a22 = self.g11 / det, self.g12 / det, self.g22 / det
        self.inv_g11 = 1.0 / np.where(self.g11 > 0, self.g11, np.inf)
        # Gram matrices of every five neighbouring basis vectors, for ‖F‖² of an interpolated F.
        k_n = self.kep_grid.size
        self.gram5 = np.zeros((k_n, 5, 5))
        for c in range(2, k_n - 2):
            near = self.basis[c - 2 : c + 3]
            self.gram5[c] = near @ near.T

    def fit(self, conc: Array) -> FitResult:
        """Fit the curves ``conc`` (T, N)."""
        y_all = np.asarray(conc, dtype=np.float64)
        n_t, n = y_all.shape
        model = self.model
        out = {k: np.zeros(n) for k in ("ktrans", "ve", "kep", "vp", "r2", "rmse")}
        k_n = self.kep_grid.size
        offsets = np.arange(-2, 3)
        for start in range(0, n, CHUNK):
            sl = slice(start, min(n, start + CHUNK))
            y = y_all[:, sl]
            m = y.shape[1]
            yy = np.einsum("tn,tn->n", y, y)
            b2 = self.cp @ y  # (m,)
            # The grid stage in small blocks (its (block, K) temporaries stay in cache); only the
            # best grid index and y·F at it and at its four neighbours are kept.
            j = np.empty(m, dtype=np.intp)
            b1_j = np.empty(m)
            b1_n = np.empty((m, 5))
            for g0 in range(0, m, GRID_BLOCK):
                gs = slice(g0, min(m, g0 + GRID_BLOCK))
                b1 = y[:, gs].T @ self.basis.T  # (block, K)
                jb = np.argmin(self._grid_cost(b1, b2[gs]), axis=1)
                rows = np.arange(jb.size)
                j[gs] = jb
                b1_j[gs] = b1[rows, jb]
                if k_n >= 5:
                    b1_n[gs] = b1[rows[:, None], np.clip(jb, 2, k_n - 3)[:, None] + offsets[None, :]]
            kt_b, vp_b, q_b = _box_lsq(
                b1_j, b2, self.g11[j], self.g12[j], self.g22, self.kmax[j], self.bounds[2], self.with_vp
            )
            kep_b = self.kep_grid[j]
            if model != "patlak":
                kt_b, vp_b, kep_b, q_b = self._refine(b1_n, b2, j, kt_b, vp_b, kep_b, q_b)
            ss = np.maximum(yy + q_b, 0.0)
            sst = yy - y.sum(axis=0) ** 2 / n_t
            out["ktrans"][sl] = kt_b
            out["vp"][sl] = vp_b if self.with_vp else 0.0
            if model != "patlak":
                out["kep"][sl] = kep_b
                out["ve"][sl] = np.where(kep_b > 0, kt_b / kep_b, 0.0)
            out["r2"][sl] = np.where(sst > 0, 1.0 - ss / np.where(sst > 0, sst, 1.0), 0.0)
            out["rmse"][sl] = np.sqrt(ss / n_t)
        return FitResult(model, **out)

    def _grid_cost(self, b1: Array, b2: Array) -> Array:
        """Cost (n, K) of the best feasible (Ktrans, vp) at every grid kep, for choosing the grid
        point only: interior optimum, or an edge at Ktrans = 0 or vp = 0 (the upper bounds enter
        by clipping); the refinement then solves the full box problem."""
        kmax, vmax = self.kmax, self.bounds[2]
        c1 = b1 * self.inv_g11
        np.clip(c1, 0.0, kmax, out=c1)
        q: Array = c1 * self.g11
        q -= 2.0 * b1
        q *= c1  # vp = 0 edge: c1² g11 − 2 c1 b1
        if not self.with_vp:
            return q
        b2c = b2[:, None]
        p1 = b1 * self.a22
        p1 -= b2c * self.a12
        p2 = b2c * self.a11
        p2 -= b1 * self.a12
        inside = (p1 >= 0) & (p1 <= kmax) & (p2 >= 0) & (p2 <= vmax)
        p1 *= b1
        p2 *= b2c
        p1 += p2
        np.negative(p1, out=p1)  # interior optimum: −(p1 b1 + p2 b2)
        np.minimum(q, np.where(inside, p1, np.inf), out=q)
        c2 = np.clip(b2 / self.g22, 0.0, vmax) if self.g22 > 0 else np.zeros_like(b2)
        np.minimum(q, (c2 * (c2 * self.g22 - 2.0 * b2))[:, None], out=q)  # Ktrans = 0 edge
        return q
        b2c = b2[:, None]
        p1 = b1 * self.a22 - b2c * self.a12
        p2 = b2c * self.a11 - b1 * self.a12
        inside = (p1 >= 0) & (p1 <= kmax) & (p2 >= 0) & (p2 <= vmax)
        np.minimum(q, np.where(inside, -(p1 * b1 + p2 * b2c), np.inf), out=q)
        c2 = np.clip(b2 / self.g22, 0.0, vmax) if self.g22 > 0 else np.zeros_like(b2)
        np.minimum(q, (c2 * (c2 * self.g22 - 2.0 * b2))[:, None], out=q)  # Ktrans = 0
        return q

    def _refine(
        self, b1_n: Array, b2: Array, j: NDArray[np.intp], kt_b: Array, vp_b: Array, kep_b: Array, q_b: Array
    ) -> tuple[Array, Array, Array, Array]:
        """Sub-grid kep: golden-section search between the best grid point's neighbours.

        Between grid points, F(kep) is the quartic (in log kep) through the five nearest grid
        bases; y·F and F·Cp are then the same combination of their grid values and ‖F‖² the
        quadratic form of the bases' Gram matrix, so the cost is that of a true basis vector
        (never negative) and each step costs a few operations per voxel, independent of the
        number of phases. A golden section, not a parabola, because the cost has a kink where a
        bound becomes active.
        """
        k_n = self.kep_grid.size
        u0 = float(np.log(self.kep_grid[0]))
        du = float(np.log(self.kep_grid[1] / self.kep_grid[0]))
        centre = np.clip(j, 2, k_n - 3)
        cols = centre[:, None] + np.arange(-2, 3)[None, :]  # (n, 5) grid indices of b1_n
        gram = self.gram5[centre]  # (n, 5, 5)
        g12_n = self.g12[cols]
        ktrans_max, ve_max, vp_max = self.bounds

        def solve(s: Array) -> tuple[Array, Array, Array, Array]:
            w = _lagrange5(s - centre)
            kep = np.exp(u0 + s * du)
            kmax = np.minimum(ktrans_max, ve_max * kep)
            kt, vp, q = _box_lsq(
                (w * b1_n).sum(axis=1),
                b2,
                np.einsum("nj,nj->n", np.einsum("ni,nij->nj", w, gram), w),
                (w * g12_n).sum(axis=1),
                self.g22,
                kmax,
                vp_max,
                self.with_vp,
            )
            return kt, vp, q, kep

        a = np.maximum(j - 1.0, 0.0)
        b = np.minimum(j + 1.0, k_n - 1.0)
        c = b - GOLDEN * (b - a)
        d = a + GOLDEN * (b - a)
        qc = solve(c)[2]
        qd = solve(d)[2]
        for _ in range(GOLDEN_ITERATIONS):
            left = qc < qd  # the minimum lies in [a, d]
            b = np.where(left, d, b)
            a = np.where(left, a, c)
            keep_s = np.where(left, c, d)  # the interior point that stays
            keep_q = np.where(left, qc, qd)
            new_s = np.where(left, b - GOLDEN * (b - a), a + GOLDEN * (b - a))
            new_q = solve(new_s)[2]
            c = np.where(left, new_s, keep_s)
            qc = np.where(left, new_q, keep_q)
            d = np.where(left, keep_s, new_s)
            qd = np.where(left, keep_q, new_q)
        kt, vp, q, kep = solve(np.where(qc < qd, c, d))
        better = q <= q_b
        return (
            np.where(better, kt, kt_b),
            np.where(better, vp, vp_b),
            np.where(better, kep, kep_b),
            np.where(better, q, q_b),
        )


def fit_model(
    conc: Array,
    t_min: Array,
    aif: Aif,
    model: str = "extended_tofts",
    *,
    ktrans_max: float = 5.0,
    kep_bounds: tuple[float, float] = (0.005, 20.0),
    vp_max: float = 1.0,
    ve_max: float = 1.0,
    grid_size: int = GRID_SIZE,
) -> FitResult:
    """Fit ``model`` to concentration curves ``conc`` (T, N) sampled at ``t_min``."""
    fitter = ModelFitter(
        t_min,
        aif,
        model,
        ktrans_max=ktrans_max,
        kep_bounds=kep_bounds,
        vp_max=vp_max,
        ve_max=ve_max,
        grid_size=grid_size,
    )
    return fitter.fit(conc)


def _lagrange5(s: Array) -> Array:
    """Weights (n, 5) of the quartic Lagrange interpolation through nodes −2…2 at offsets ``s``."""
    x = np.asarray(s, dtype=np.float64)
    d = [x + 2.0, x + 1.0, x, x - 1.0, x - 2.0]
    w = np.empty((x.size, 5))
    denominators = (24.0, -6.0, 4.0, -6.0, 24.0)  # Π (m − k) over k ≠ m, for m = −2 … 2
    for m in range(5):
        prod = np.ones_like(x)
        for k in range(5):
            if k != m:
                prod = prod * d[k]
        w[:, m] = prod / denominators[m]
    return w
