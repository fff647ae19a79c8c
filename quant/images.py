"""Pixel values and slice geometry from single-frame DICOM images (and Siemens mosaics)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pydicom
from numpy.typing import NDArray

from quant.acquisition import Geometry
from quant.errors import GeometryMismatchError, InputError

Array = NDArray[np.float64]


def rescaled(ds: pydicom.Dataset) -> Array:
    """Stored values through the Modality LUT (RescaleSlope/Intercept)."""
    try:
        arr = ds.pixel_array.astype(np.float64)
    except Exception as exc:  # pydicom raises several types for undecodable pixel data
        raise InputError(f"image {ds.get('SOPInstanceUID', '?')}: cannot decode pixel data ({exc})") from exc
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    out: Array = arr * slope + intercept
    return out


def _normal(ds: pydicom.Dataset) -> NDArray[np.float64]:
    o = np.asarray([float(v) for v in ds.ImageOrientationPatient], dtype=np.float64)
    return np.cross(o[:3], o[3:])


def slice_location(ds: pydicom.Dataset) -> float:
    """Position of a slice along its normal (mm)."""
    return float(np.dot(_normal(ds), [float(v) for v in ds.ImagePositionPatient]))


def sort_slices(datasets: Sequence[pydicom.Dataset]) -> list[pydicom.Dataset]:
    for ds in datasets:
        if "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
            raise InputError(f"image {ds.get('SOPInstanceUID', '?')} has no ImagePositionPatient/Orientation")
    return sorted(datasets, key=slice_location)


def _xyz(values: Sequence[float]) -> tuple[float, float, float]:
    return (float(values[0]), float(values[1]), float(values[2]))


def geometry_of(slices: Sequence[pydicom.Dataset]) -> Geometry:
    """Geometry of slices already sorted by :func:`sort_slices` (one volume)."""
    first = slices[0]
    shapes = {(int(s.Rows), int(s.Columns)) for s in slices}
    if len(shapes) != 1:
        raise GeometryMismatchError(f"slices of one volume have different sizes: {sorted(shapes)}")
    orientations = [tuple(float(v) for v in s.ImageOrientationPatient) for s in slices]
    if not all(np.allclose(o, orientations[0], atol=1e-3) for o in orientations):
        raise GeometryMismatchError("slices of one volume have different orientations")
    locs = [slice_location(s) for s in slices]
    if len(set(np.round(locs, 3))) != len(locs):
        raise GeometryMismatchError("two images of one volume share a slice position")
    spacing = [float(v) for v in first.get("PixelSpacing", [1.0, 1.0])]
    return Geometry(
        shape=(len(slices), int(first.Rows), int(first.Columns)),
        pixel_spacing=(spacing[0], spacing[1]),
        slice_thickness=float(first.get("SliceThickness", 0) or 0)
        or (abs(locs[1] - locs[0]) if len(locs) > 1 else 1.0),
        orientation=tuple(orientations[0]),  # type: ignore[arg-type]
        positions=tuple(_xyz(s.ImagePositionPatient) for s in slices),
        frame_of_reference_uid=first.get("FrameOfReferenceUID"),
    )


def stack_loader(
    slices: Sequence[pydicom.Dataset], values: Callable[[pydicom.Dataset], Array] = rescaled
) -> Callable[[], Array]:
    """A loader returning the slices' values as one (slice, row, column) array."""
    frozen = list(slices)

    def load() -> Array:
        return np.stack([values(s) for s in frozen])

    return load


# --- Siemens mosaics -----------------------------------------------------------------------


def mosaic_tiles(ds: pydicom.Dataset, n_images: int) -> tuple[int, int, int]:
    """(tiles per row, tile rows, tile columns) of a mosaic holding ``n_images`` slices."""
    per_row = math.ceil(math.sqrt(n_images))
    if int(ds.Rows) % per_row or int(ds.Columns) % per_row:
        raise InputError(
            f"mosaic of {ds.Rows}×{ds.Columns} cannot hold {n_images} tiles in a {per_row}-wide grid"
        )
    return per_row, int(ds.Rows) // per_row, int(ds.Columns) // per_row


def unpack_mosaic(ds: pydicom.Dataset, n_images: int) -> Array:
    """Mosaic image → (slice, row, column) array in stored slice order."""
    per_row, r, c = mosaic_tiles(ds, n_images)
    img = rescaled(ds)
    tiles = img.reshape(per_row, r, per_row, c).transpose(0, 2, 1, 3).reshape(per_row * per_row, r, c)
    out: Array = tiles[:n_images]
    return out


def mosaic_geometry(ds: pydicom.Dataset, n_images: int, normal: Sequence[float]) -> Geometry:
    """Geometry of the slices in a mosaic.

    The mosaic's ImagePositionPatient is the corner of the whole mosaic seen as one image; the
    first tile's corner lies half the size difference further along rows and columns.
    """
    _, r, c = mosaic_tiles(ds, n_images)
    o = np.asarray([float(v) for v in ds.ImageOrientationPatient], dtype=np.float64)
    row_sp, col_sp = (float(v) for v in ds.PixelSpacing)
    ipp = np.asarray([float(v) for v in ds.ImagePositionPatient], dtype=np.float64)
    first = ipp + o[:3] * col_sp * (int(ds.Columns) - c) / 2.0 + o[3:] * row_sp * (int(ds.Rows) - r) / 2.0
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    step = float(ds.get("SpacingBetweenSlices", 0) or 0) or float(ds.SliceThickness)
    positions = tuple(tuple(float(v) for v in first + k * step * n) for k in range(n_images))
    # The slice order follows the CSA normal; the in-plane axes stay those of the mosaic.
    return Geometry(
        shape=(n_images, r, c),
        pixel_spacing=(row_sp, col_sp),
        slice_thickness=float(ds.SliceThickness),
        orientation=tuple(float(v) for v in o),  # type: ignore[arg-type]
        positions=positions,  # type: ignore[arg-type]
        frame_of_reference_uid=ds.get("FrameOfReferenceUID"),
    )
