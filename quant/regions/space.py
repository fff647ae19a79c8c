"""Image volumes in patient space (LPS, mm) and their SimpleITK form.

A :class:`Volume` is an array indexed (slice, row, column) — the engine's convention — with a
4×4 affine from voxel index (column i, row j, slice k) to DICOM patient coordinates (LPS).
NIfTI files (RAS world) are converted once, at the I/O boundary, by :meth:`Volume.from_ras`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from quant.acquisition import Geometry
from quant.errors import GeometryMismatchError

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = ["Volume", "affine_of", "to_sitk", "from_sitk", "grid_like"]

Array = NDArray[np.float64]
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def affine_of(geometry: Geometry) -> Array:
    """Voxel (i, j, k) → LPS mm for the engine's :class:`Geometry`."""
    o = np.asarray(geometry.orientation, dtype=np.float64)
    p = np.asarray(geometry.positions, dtype=np.float64)
    row_sp, col_sp = geometry.pixel_spacing
    if len(p) > 1:
        step = p[1] - p[0]
    else:
        normal = np.cross(o[:3], o[3:])
        step = normal * (geometry.slice_thickness or 1.0)
    a = np.eye(4)
    a[:3, 0] = o[:3] * col_sp
    a[:3, 1] = o[3:] * row_sp
    a[:3, 2] = step
    a[:3, 3] = p[0]
    return a


@dataclass(frozen=True)
class Volume:
    """A 3-D image: ``array`` (slice, row, column) and ``affine`` (i, j, k, 1) → LPS mm."""

    array: Array
    affine: Array

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise GeometryMismatchError(f"a volume needs 3 dimensions, got shape {self.array.shape}")
        if self.affine.shape != (4, 4) or abs(np.linalg.det(self.affine[:3, :3])) < 1e-9:
            raise GeometryMismatchError("a volume needs a non-singular 4×4 affine")

    @property
    def shape(self) -> tuple[int, int, int]:
        z, y, x = self.array.shape
        return (int(z), int(y), int(x))

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along i (columns), j (rows), k (slices), mm."""
        s = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(s[0]), float(s[1]), float(s[2]))

    @classmethod
    def from_geometry(cls, array: Array, geometry: Geometry) -> Volume:
        a = np.asarray(array, dtype=np.float64)
        if a.shape != geometry.shape:
            raise GeometryMismatchError(f"array shape {a.shape} differs from the geometry {geometry.shape}")
        return cls(a, affine_of(geometry))

    @classmethod
    def from_ras(cls, array_xyz: NDArray[np.generic], affine_ras: NDArray[np.float64]) -> Volume:
        """From a NIfTI-style array (x, y, z) and its RAS affine."""
        arr = np.asarray(array_xyz, dtype=np.float64)
        if arr.ndim != 3:
            raise GeometryMismatchError(f"a volume needs 3 dimensions, got shape {arr.shape}")
        return cls(np.ascontiguousarray(arr.transpose(2, 1, 0)), RAS_TO_LPS @ np.asarray(affine_ras, np.float64))


def to_sitk(volume: Volume, dtype: int | None = None) -> sitk.Image:
    """The volume as a SimpleITK image (same physical space; float32 unless ``dtype``)."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(volume.array)
    img = sitk.Cast(img, sitk.sitkFloat32 if dtype is None else dtype)
    spacing = np.asarray(volume.spacing)
    direction = volume.affine[:3, :3] / spacing[None, :]
    img.SetSpacing([float(v) for v in spacing])
    img.SetDirection([float(v) for v in direction.ravel()])
    img.SetOrigin([float(v) for v in volume.affine[:3, 3]])
    return img


def from_sitk(img: sitk.Image) -> Volume:
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(img).astype(np.float64)
    a = np.eye(4)
    direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(3, 3)
    a[:3, :3] = direction * np.asarray(img.GetSpacing(), dtype=np.float64)[None, :]
    a[:3, 3] = img.GetOrigin()
    return Volume(arr, a)


def grid_like(volume: Volume, factors: tuple[int, int, int]) -> sitk.Image:
    """An empty SimpleITK grid covering ``volume`` with each voxel split ``factors`` (i, j, k) times."""
    import SimpleITK as sitk

    fi, fj, fk = factors
    nz, ny, nx = volume.shape
    spacing = np.asarray(volume.spacing)
    direction = volume.affine[:3, :3] / spacing[None, :]
    sub = spacing / np.asarray([fi, fj, fk], dtype=np.float64)
    # The first sub-voxel centre sits half a sub-voxel inside the first voxel's corner.
    origin = volume.affine[:3, 3] + direction @ ((sub - spacing) / 2.0)
    img = sitk.Image([nx * fi, ny * fj, nz * fk], sitk.sitkUInt8)
    img.SetSpacing([float(v) for v in sub])
    img.SetDirection([float(v) for v in direction.ravel()])
    img.SetOrigin([float(v) for v in origin])
    return img
