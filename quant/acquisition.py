"""What the engine knows about one ASL acquisition: series roles, volumes, geometry, parameters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pydicom
from numpy.typing import NDArray

from quant.errors import GeometryMismatchError
from quant.params import Param

__all__ = [
    "AslAcquisition",
    "AslVolume",
    "Geometry",
    "ProtocolKey",
    "SeriesInfo",
    "VolumeKind",
]

Array = NDArray[np.float64]
VolumeKind = Literal["control", "label", "delta_m", "m0"]
SeriesRole = Literal["asl", "m0", "anatomy", "scanner_map", "other"]


@dataclass(frozen=True)
class Geometry:
    """Voxel grid of the maps: arrays are indexed (slice, row, column)."""

    shape: tuple[int, int, int]
    pixel_spacing: tuple[float, float]  # DICOM PixelSpacing: between rows, between columns (mm)
    slice_thickness: float
    orientation: tuple[float, float, float, float, float, float]  # ImageOrientationPatient
    positions: tuple[tuple[float, float, float], ...]  # ImagePositionPatient per slice
    frame_of_reference_uid: str | None = None

    @property
    def normal(self) -> NDArray[np.float64]:
        o = np.asarray(self.orientation, dtype=np.float64)
        return np.cross(o[:3], o[3:])

    @property
    def spacing_between_slices(self) -> float:
        if len(self.positions) < 2:
            return self.slice_thickness
        p = np.asarray(self.positions, dtype=np.float64)
        return float(np.linalg.norm(p[1] - p[0]))

    def voxel_x_lps(self) -> NDArray[np.float64]:
        """Patient x (LPS: + is the patient's left) of every voxel centre, shape ``shape``."""
        o = np.asarray(self.orientation, dtype=np.float64)
        p = np.asarray(self.positions, dtype=np.float64)
        nz, ny, nx = self.shape
        rows = np.arange(ny)[:, None] * self.pixel_spacing[0] * o[3]
        cols = np.arange(nx)[None, :] * self.pixel_spacing[1] * o[0]
        out: NDArray[np.float64] = p[:, 0][:, None, None] + (rows + cols)[None, :, :]
        return out

    def check_same_grid(self, other: Geometry, what: str) -> None:
        if self.shape != other.shape:
            raise GeometryMismatchError(
                f"{what}: image grid {other.shape} differs from the ASL grid {self.shape}"
            )
        if not np.allclose(self.orientation, other.orientation, atol=1e-3):
            raise GeometryMismatchError(f"{what}: slice orientation differs from the ASL images")
        if not np.allclose(self.positions, other.positions, atol=0.5):
            raise GeometryMismatchError(f"{what}: slice positions differ from the ASL images (> 0.5 mm)")


@dataclass(frozen=True)
class SeriesInfo:
    """One series of the study and the role the classifier gave it."""

    series_instance_uid: str
    series_number: int | None
    description: str
    vendor: str
    role: SeriesRole
    n_instances: int
    reason: str = ""  # why this role (for the report)


@dataclass(frozen=True)
class ProtocolKey:
    """What identifies "the same protocol" for presets: manufacturer, protocol and sequence name,
    station. ``key`` is the normalised form to store and look up (case and spacing ignored)."""

    manufacturer: str
    protocol: str
    sequence: str
    station: str

    @property
    def key(self) -> str:
        parts = (self.manufacturer, self.protocol, self.sequence, self.station)
        return "|".join(" ".join(p.split()).casefold() for p in parts)

    @property
    def label(self) -> str:
        return " · ".join(p for p in (self.manufacturer, self.protocol, self.sequence, self.station) if p)

    def as_dict(self) -> dict[str, str]:
        return {
            "manufacturer": self.manufacturer,
            "protocol": self.protocol,
            "sequence": self.sequence,
            "station": self.station,
            "key": self.key,
            "label": self.label,
        }


@dataclass(frozen=True)
class AslVolume:
    """One 3-D volume (all slices) of the acquisition.

    ``delay_index`` points into the acquisition's PLD (or TI) list; ``loader`` returns the
    values as float64 (slice, row, column), already in "floating point" units for Philips.
    """

    kind: VolumeKind
    delay_index: int
    series_instance_uid: str
    sop_instance_uids: tuple[str, ...]
    loader: Callable[[], Array] = field(repr=False, compare=False)
    repetition: int = 0


@dataclass
class AslAcquisition:
    """An ASL acquisition ready to quantify (the result of :func:`quant.classify_study`).

    ``parameters`` holds what was read, with provenance; ``missing`` lists names a person must
    enter (pass them as overrides to :func:`quant.quantify`). ``scanner_maps`` are scanner-derived
    series (Siemens PWI, Philips ΔM, GE transit maps) that were recognised and not used as input.
    """

    vendor: str
    labeling_type: str | None
    readout: str | None
    series: list[SeriesInfo]
    volumes: list[AslVolume]
    geometry: Geometry
    parameters: dict[str, Param]
    missing: list[str]
    scanner_maps: list[SeriesInfo] = field(default_factory=list)
    anatomy_series_uid: str | None = None
    # The T1 anatomy as a quant.regions.Volume, loaded on demand (regional analysis).
    anatomy: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    reference: pydicom.Dataset | None = field(default=None, repr=False)
    source_images: list[tuple[str, str]] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)
    protocol: ProtocolKey | None = None  # set by classify_study (see quant.presets)
    # Pixel access to the scanner maps (series UID → grid and loader), for quant.compare.
    scanner_map_images: dict[str, tuple[Geometry, Callable[[], Array]]] = field(default_factory=dict, repr=False)

    @property
    def plds(self) -> list[float]:
        p = self.parameters.get("pld")
        return [] if p is None else [float(v) for v in np.atleast_1d(p.value)]

    @property
    def multi_delay(self) -> bool:
        return len({i.delay_index for i in self.volumes if i.kind != "m0"}) > 1

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for v in self.volumes:
            counts[v.kind] = counts.get(v.kind, 0) + 1
        return counts

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (for results.json and the workflow's UI)."""
        return {
            "vendor": self.vendor,
            "labeling_type": self.labeling_type,
            "readout": self.readout,
            "multi_delay": self.multi_delay,
            "volumes": self.kinds(),
            "series": [vars(s) for s in self.series],
            "scanner_maps": [vars(s) for s in self.scanner_maps],
            "anatomy_series_uid": self.anatomy_series_uid,
            "parameters": {k: p.as_dict() for k, p in self.parameters.items()},
            "missing": list(self.missing),
            "notes": list(self.notes),
            "shape": list(self.geometry.shape),
            "protocol": self.protocol.as_dict() if self.protocol is not None else None,
        }

    @classmethod
    def from_arrays(
        cls,
        volumes: Sequence[tuple[VolumeKind, int, Array]],
        parameters: dict[str, Param],
        geometry: Geometry,
        *,
        vendor: str = "generic",
        labeling_type: str | None = None,
        readout: str | None = None,
        description: str = "arrays",
        missing: Sequence[str] = (),
    ) -> AslAcquisition:
        """Build an acquisition from in-memory volumes ``(kind, delay_index, array[z, y, x])``
        (e.g. a BIDS ASL NIfTI read by the I/O layer)."""
        uid = pydicom.uid.generate_uid()
        vols = []
        for i, (kind, delay, arr) in enumerate(volumes):
            a = np.asarray(arr, dtype=np.float64)
            if a.shape != geometry.shape:
                raise GeometryMismatchError(
                    f"volume {i} ({kind}) has shape {a.shape}, expected {geometry.shape}"
                )
            vols.append(AslVolume(kind, delay, uid, (), loader=_constant(a), repetition=i))
        series = [SeriesInfo(uid, None, description, vendor, "asl", len(vols), "given as arrays")]
        return cls(
            vendor=vendor,
            labeling_type=labeling_type,
            readout=readout,
            series=series,
            volumes=vols,
            geometry=geometry,
            parameters=dict(parameters),
            missing=list(missing),
        )


def _constant(a: Array) -> Callable[[], Array]:
    return lambda: a


def geometry_from_affine(
    affine: NDArray[np.float64], shape_xyz: tuple[int, int, int], frame_of_reference_uid: str | None = None
) -> Geometry:
    """Geometry of a NIfTI-style grid (RAS affine, array indexed x, y, z) as DICOM slices.

    Arrays are transposed to (z, y, x); DICOM rows run along NIfTI j and columns along i.
    """
    lps = np.diag([-1.0, -1.0, 1.0]) @ np.asarray(affine, dtype=np.float64)[:3, :]
    col_vec, row_vec, slice_vec = lps[:, 0], lps[:, 1], lps[:, 2]
    dx, dy, dz = (float(np.linalg.norm(v)) for v in (col_vec, row_vec, slice_vec))
    orientation = tuple(float(v) for v in np.concatenate([col_vec / dx, row_vec / dy]))
    origin = lps[:, 3]
    nx, ny, nz = shape_xyz
    positions = tuple(tuple(float(c) for c in origin + k * slice_vec) for k in range(nz))
    return Geometry(
        shape=(nz, ny, nx),
        pixel_spacing=(dy, dx),
        slice_thickness=dz,
        orientation=orientation,  # type: ignore[arg-type]
        positions=positions,  # type: ignore[arg-type]
        frame_of_reference_uid=frame_of_reference_uid,
    )
