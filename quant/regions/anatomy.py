"""The T1 anatomy series as a :class:`~quant.regions.space.Volume` (single-frame or enhanced MR)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pydicom

from quant.errors import InputError
from quant.images import geometry_of, rescaled, sort_slices
from quant.regions.space import Volume

__all__ = ["anatomy_loader", "anatomy_volume"]


def anatomy_volume(datasets: Sequence[pydicom.Dataset]) -> Volume:
    """One 3-D volume from the images of a series (the largest set sharing one orientation)."""
    if not datasets:
        raise InputError("the anatomy series has no images")
    if len(datasets) == 1 and int(datasets[0].get("NumberOfFrames", 1) or 1) > 1:
        raise InputError("the anatomy series is a multi-frame image, which regional analysis cannot read yet")
    by_orientation: dict[tuple[float, ...], list[pydicom.Dataset]] = {}
    for ds in datasets:
        if "ImageOrientationPatient" not in ds or "ImagePositionPatient" not in ds:
            continue
        key = tuple(round(float(v), 3) for v in ds.ImageOrientationPatient)
        by_orientation.setdefault(key, []).append(ds)
    if not by_orientation:
        raise InputError("the anatomy series has no image position/orientation")
    slices = sort_slices(max(by_orientation.values(), key=len))
    geometry = geometry_of(slices)
    array = np.stack([rescaled(s) for s in slices])
    return Volume.from_geometry(array, geometry)


def anatomy_loader(datasets: Sequence[pydicom.Dataset]) -> Callable[[], Volume]:
    frozen = list(datasets)
    return lambda: anatomy_volume(frozen)
