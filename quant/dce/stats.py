"""Statistics of the DCE maps within the mask and per ROI, and their CSV form."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["map_statistics", "rows_for_csv"]

Array = NDArray[np.float64]


def _summary(values: Array) -> dict[str, float | int | None]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return {"n": 0, "mean": None, "median": None, "sd": None, "p25": None, "p75": None}
    p25, median, p75 = (float(x) for x in np.percentile(v, [25, 50, 75]))
    return {"n": int(v.size), "mean": float(v.mean()), "median": median, "sd": float(v.std()), "p25": p25, "p75": p75}


def map_statistics(
    maps: Mapping[str, Array], mask: NDArray[np.bool_], rois: Mapping[str, NDArray[np.bool_]] | None = None
) -> dict[str, Any]:
    """Per map: n, mean, median, sd, quartiles within the mask, and within each ROI ∩ mask.

    ``{"mask": {"n_voxels": n, "maps": {map: summary}}, "rois": {name: {"n_voxels": n_roi,
    "n_fitted": n, "maps": {...}}}}``; ``n_voxels`` of an ROI counts all its voxels, ``n_fitted``
    those inside the fitted mask (the values come from these).
    """
    out: dict[str, Any] = {
        "mask": {"n_voxels": int(mask.sum()), "maps": {k: _summary(v[mask]) for k, v in sorted(maps.items())}},
        "rois": {},
    }
    for name, roi in (rois or {}).items():
        inside = roi & mask
        out["rois"][name] = {
            "n_voxels": int(roi.sum()),
            "n_fitted": int(inside.sum()),
            "maps": {k: _summary(v[inside]) for k, v in sorted(maps.items())},
        }
    return out


def rows_for_csv(stats: Mapping[str, Any], units: Mapping[str, str]) -> str:
    """CSV text: one row per region and map (region, map, n, mean, median, sd, p25, p75, unit)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["region", "map", "n", "mean", "median", "sd", "p25", "p75", "unit"])

    def fmt(v: Any) -> str:
        return "" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))

    regions = [("mask", stats.get("mask", {}))] + sorted((stats.get("rois") or {}).items())
    for region, entry in regions:
        for name, s in (entry.get("maps") or {}).items():
            writer.writerow(
                [region, name]
                + [fmt(s.get(k)) for k in ("n", "mean", "median", "sd", "p25", "p75")]
                + [units.get(name, "")]
            )
    return buf.getvalue()
