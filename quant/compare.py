"""Our maps against the scanner's own maps of the same study (GE eASL transit-corrected flow and
transit delay, Siemens/Philips CBF maps on the same grid).

``compare_with_scanner_maps(result, acq)`` returns one :class:`MapComparison` per scanner map
that shows CBF or transit time on the acquisition's grid, computed over the brain mask where the
scanner map is finite (and positive, for the ratio)::

    {"series_uid": ..., "description": "eASL: Transit-corrected Flow", "quantity": "cbf",
     "n_voxels": 5120, "ours_mean": 48.2, "scanner_mean": 47.9, "median_ratio": 1.01,
     "pearson_r": 0.97, "mean_abs_difference": 3.1, "scanner_unit": "ml/100g/min", "note": ""}

``median_ratio`` is the median over voxels of ours / scanner. Units of the scanner's maps are
not declared in the headers we have seen: a transit-time map whose brain median exceeds 20 is
read as milliseconds (and said so in ``scanner_unit``), otherwise as seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from quant.acquisition import AslAcquisition
from quant.engine import QuantResult
from quant.errors import GeometryMismatchError, QuantError

__all__ = ["MapComparison", "compare_maps", "compare_with_scanner_maps", "map_quantity"]

Quantity = Literal["cbf", "att"]
ATT_WORDS = ("transit", "delay", "att", "arrival", "bat")
CBF_WORDS = ("flow", "cbf")


@dataclass(frozen=True)
class MapComparison:
    series_uid: str
    description: str
    quantity: Quantity
    n_voxels: int
    ours_mean: float | None
    scanner_mean: float | None
    median_ratio: float | None
    pearson_r: float | None
    mean_abs_difference: float | None
    scanner_unit: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def map_quantity(description: str) -> Quantity | None:
    """What a scanner map shows, from its Series Description (None: neither CBF nor ATT)."""
    low = description.lower()
    if any(w in low for w in CBF_WORDS):  # "Transit-corrected Flow" is a flow map
        return "cbf"
    if any(w in low for w in ATT_WORDS):
        return "att"
    return None


def compare_maps(
    ours: np.ndarray, scanner: np.ndarray, mask: np.ndarray, quantity: Quantity
) -> tuple[dict[str, Any], str]:
    """The comparison numbers over ``mask`` and the unit the scanner map was read in."""
    unit = "ml/100g/min" if quantity == "cbf" else "s"
    scanner = np.asarray(scanner, dtype=np.float64)
    keep = mask & np.isfinite(scanner) & np.isfinite(ours)
    if quantity == "att" and keep.any() and float(np.median(scanner[keep])) > 20.0:
        scanner = scanner / 1000.0
        unit = "s (map read as ms)"
    a, b = ours[keep], scanner[keep]
    out: dict[str, Any] = {"n_voxels": int(keep.sum())}
    if a.size < 2:
        out.update(ours_mean=None, scanner_mean=None, median_ratio=None, pearson_r=None, mean_abs_difference=None)
        return out, unit
    positive = b > 0
    out["ours_mean"] = float(np.mean(a))
    out["scanner_mean"] = float(np.mean(b))
    out["median_ratio"] = float(np.median(a[positive] / b[positive])) if positive.any() else None
    out["pearson_r"] = float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0 else None
    out["mean_abs_difference"] = float(np.mean(np.abs(a - b)))
    return out, unit


def compare_with_scanner_maps(result: QuantResult, acq: AslAcquisition) -> list[MapComparison]:
    """Compare ``result`` with every scanner CBF/ATT map of ``acq`` (see the module docstring)."""
    out: list[MapComparison] = []
    for info in acq.scanner_maps:
        quantity = map_quantity(info.description)
        if quantity is None:
            continue
        image = acq.scanner_map_images.get(info.series_instance_uid)
        base = {"series_uid": info.series_instance_uid, "description": info.description, "quantity": quantity}
        empty = dict(n_voxels=0, ours_mean=None, scanner_mean=None, median_ratio=None, pearson_r=None,
                     mean_abs_difference=None)
        ours = result.cbf if quantity == "cbf" else result.att
        if image is None or ours is None:
            why = "no ATT map in our result (single delay)" if ours is None else "map not readable as slices"
            out.append(MapComparison(**base, **empty, scanner_unit="", note=why))  # type: ignore[arg-type]
            continue
        geometry, loader = image
        try:
            acq.geometry.check_same_grid(geometry, f"scanner map {info.description!r}")
        except GeometryMismatchError as exc:
            out.append(MapComparison(**base, **empty, scanner_unit="", note=str(exc)))  # type: ignore[arg-type]
            continue
        try:
            values = loader()
        except QuantError as exc:  # e.g. the map's pixel data were not loaded
            out.append(MapComparison(**base, **empty, scanner_unit="", note=str(exc)))  # type: ignore[arg-type]
            continue
        numbers, unit = compare_maps(ours, values, result.mask, quantity)
        out.append(MapComparison(**base, **numbers, scanner_unit=unit))  # type: ignore[arg-type]
    return out
