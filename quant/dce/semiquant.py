"""Semi-quantitative (model-free) curve parameters, vectorised over voxels.

Computed from the relative signal enhancement RE(t) = (S(t) − S0)/S0 and the concentration C(t),
with times measured from the bolus arrival t0:

=====================  =========  ==========================================================
``ttp``                s          time from t0 to the peak of C
``max_enhancement``    %          100 · max RE
``initial_slope``      %/min      100 · RE(t0 + w) / w, w = ``initial_slope_window``
``max_slope``          %/min      100 · the steepest rise of RE between successive phases
``washout``            %          100 · (S_last − S_peak) / S_peak (negative: wash-out)
``auc``                mM·s       ∫ C dt from t0 to t0 + ``auc_window`` (IAUGC)
=====================  =========  ==========================================================
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["SEMIQUANT_UNITS", "curve_parameters"]

Array = NDArray[np.float64]

SEMIQUANT_UNITS: dict[str, str] = {
    "ttp": "s",
    "max_enhancement": "%",
    "initial_slope": "%/min",
    "max_slope": "%/min",
    "washout": "%",
    "auc": "mmol/L.s",
}


def _value_at(t: Array, y: Array, tau: float) -> Array:
    """y (T, N) linearly interpolated at the time ``tau`` (held at the ends)."""
    if tau <= t[0]:
        out: Array = y[0].copy()
        return out
    if tau >= t[-1]:
        out = y[-1].copy()
        return out
    k = int(np.searchsorted(t, tau)) - 1
    w = (tau - t[k]) / (t[k + 1] - t[k])
    out = y[k] * (1 - w) + y[k + 1] * w
    return out


def _integral(t: Array, y: Array, a: float, b: float) -> Array:
    """∫ₐᵇ y dt for y linear between the samples (T, N)."""
    a, b = max(a, float(t[0])), min(b, float(t[-1]))
    if b <= a:
        return np.zeros(y.shape[1])
    inner = (t > a) & (t < b)
    tt = np.concatenate([[a], t[inner], [b]])
    yy = np.concatenate([_value_at(t, y, a)[None], y[inner], _value_at(t, y, b)[None]])
    out: Array = (0.5 * (yy[1:] + yy[:-1]) * np.diff(tt)[:, None]).sum(axis=0)
    return out


def curve_parameters(
    conc: Array,
    enhancement: Array,
    signal_ratio_times_s: Array,
    onset_s: float,
    *,
    auc_window: float = 60.0,
    initial_slope_window: float = 60.0,
) -> dict[str, Array]:
    """Curve parameters per voxel from C (T, N) and RE (T, N) at the phase times (s)."""
    t = np.asarray(signal_ratio_times_s, dtype=np.float64)
    c = np.asarray(conc, dtype=np.float64)
    re = np.asarray(enhancement, dtype=np.float64)
    after = t >= onset_s - 1e-9
    if not after.any():
        after[-1] = True
    first = int(np.argmax(after))
    c_after = c[first:]
    ttp = t[first:][np.argmax(c_after, axis=0)] - onset_s
    re_peak = re[first:].max(axis=0)
    dre = (
        np.diff(re[first:], axis=0) / (np.diff(t[first:])[:, None] / 60.0)
        if t.size - first > 1
        else np.zeros((1, c.shape[1]))
    )
    return {
        "ttp": np.maximum(ttp, 0.0),
        "max_enhancement": 100.0 * re_peak,
        "initial_slope": 100.0 * _value_at(t, re, onset_s + initial_slope_window) / (initial_slope_window / 60.0),
        "max_slope": 100.0 * np.maximum(dre.max(axis=0), 0.0),
        "washout": 100.0 * (re[-1] - re_peak) / np.maximum(1.0 + re_peak, 1e-6),
        "auc": _integral(t, c, onset_s, onset_s + auc_window),
    }
