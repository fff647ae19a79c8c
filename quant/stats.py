"""Regional CBF statistics and their CSV form."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quant.acquisition import Geometry

__all__ = ["regional_statistics", "rows_for_csv"]


def _summary(values: NDArray[np.float64]) -> dict[str, float | int | None]:
    if values.size == 0:
        return {"n": 0, "mean": None, "median": None, "sd": None}
    return {
        "n": int(values.size),
        "mean": float(np.mean(values)),
        "median": float(np.median(values)),
        "sd": float(np.std(values)),
    }


def regional_statistics(
    cbf: NDArray[np.float64],
    mask: NDArray[np.bool_],
    geometry: Geometry,
    att: NDArray[np.float64] | None = None,
) -> dict[str, Any]:
    """Whole brain, grey-matter-like, hemispheres with asymmetry index, and per slice.

    "Grey-matter-like" is the brain voxels at or above the whole-brain median CBF (a high-CBF
    mask standing in for segmentation). Hemispheres split at the brain's centre of mass along
    patient x (LPS: larger x is the patient's left). Asymmetry index = 200·(L−R)/(L+R) %.
    """
    brain = cbf[mask]
    out: dict[str, Any] = {"whole_brain": _summary(brain)}
    if brain.size:
        gm = mask & (cbf >= np.median(brain))
        out["grey_matter_like"] = _summary(cbf[gm])
        x = geometry.voxel_x_lps()
        centre = float(np.mean(x[mask]))
        left = cbf[mask & (x > centre)]
        right = cbf[mask & (x <= centre)]
        lm, rm = (float(np.mean(v)) if v.size else None for v in (left, right))
        out["left_hemisphere"] = {"n": int(left.size), "mean": lm}
        out["right_hemisphere"] = {"n": int(right.size), "mean": rm}
        out["asymmetry_index_percent"] = (
            200.0 * (lm - rm) / (lm + rm) if lm is not None and rm is not None and (lm + rm) != 0 else None
        )
    else:
        out["grey_matter_like"] = _summary(brain)
    out["per_slice"] = [dict(slice=k, **_summary(cbf[k][mask[k]])) for k in range(cbf.shape[0])]
    if att is not None:
        out["att_whole_brain"] = _summary(att[mask])
    return out


def rows_for_csv(stats: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["region", "n", "mean", "median", "sd", "unit"])

    def fmt(v: Any) -> str:
        return "" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    for key in ("whole_brain", "grey_matter_like", "left_hemisphere", "right_hemisphere"):
        s = stats.get(key, {})
        writer.writerow(
            [key, fmt(s.get("n")), fmt(s.get("mean")), fmt(s.get("median")), fmt(s.get("sd")), "ml/100g/min"]
        )
    writer.writerow(["asymmetry_index", "", fmt(stats.get("asymmetry_index_percent")), "", "", "%"])
    if "att_whole_brain" in stats:
        s = stats["att_whole_brain"]
        writer.writerow(["att_whole_brain", fmt(s["n"]), fmt(s["mean"]), fmt(s["median"]), fmt(s["sd"]), "s"])
    for s in stats.get("per_slice", []):
        writer.writerow(
            [
                f"slice_{s['slice']}",
                fmt(s["n"]),
                fmt(s["mean"]),
                fmt(s["median"]),
                fmt(s["sd"]),
                "ml/100g/min",
            ]
        )
    return buf.getvalue()
