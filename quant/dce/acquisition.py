"""What the DCE engine knows about one acquisition: phases, VFA volumes, geometry, parameters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pydicom
from numpy.typing import NDArray

from quant.acquisition import Geometry
from quant.errors import GeometryMismatchError, InputError
from quant.params import Param

__all__ = ["DceAcquisition", "DcePhase", "DceSeriesInfo", "VfaVolume"]

Array = NDArray[np.float64]
DceRole = Literal["dce", "vfa", "other"]


@dataclass(frozen=True)
class DceSeriesInfo:
    """One series of the study and the role the DCE classifier gave it (with the reason)."""

    series_instance_uid: str
    series_number: int | None
    description: str
    vendor: str
    role: DceRole
    n_instances: int
    reason: str = ""


@dataclass(frozen=True)
class DcePhase:
    """One time point of the dynamic series: all slices, values as float (slice, row, column)."""

    index: int
    time: float | None  # s from the first phase; None when the headers do not tell
    sop_instance_uids: tuple[str, ...]
    loader: Callable[[], Array] = field(repr=False, compare=False)


@dataclass(frozen=True)
class VfaVolume:
    """One pre-contrast volume of the variable-flip-angle T1 mapping."""

    flip_angle: float  # degrees
    tr: float | None  # s
    series_instance_uid: str
    sop_instance_uids: tuple[str, ...]
    loader: Callable[[], Array] = field(repr=False, compare=False)


@dataclass
class DceAcquisition:
    """A DCE acquisition ready to quantify (the result of :func:`quant.dce.classify_study`).

    ``parameters`` holds what was read, with provenance; ``missing`` lists the names a person must
    enter (as overrides to :func:`quant.dce.quantify`). ``vfa`` is empty when no usable
    variable-flip-angle series shares the dynamic series' grid (T10 then is a fixed value).
    """

    vendor: str
    series: list[DceSeriesInfo]
    phases: list[DcePhase]
    geometry: Geometry
    parameters: dict[str, Param]
    missing: list[str]
    vfa: list[VfaVolume] = field(default_factory=list)
    reference: pydicom.Dataset | None = field(default=None, repr=False)
    source_images: list[tuple[str, str]] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def n_phases(self) -> int:
        return len(self.phases)

    @property
    def series_uids(self) -> list[str]:
        return [s.series_instance_uid for s in self.series]

    @property
    def dynamic_series_uids(self) -> list[str]:
        return [s.series_instance_uid for s in self.series if s.role == "dce"]

    @property
    def label(self) -> str:
        """One line for a worklist: vendor, phases, T1 mapping, series description."""
        dyn = next((s for s in self.series if s.role == "dce"), None)
        name = (dyn.description if dyn else "") or "dynamic series"
        t1 = f", VFA {'/'.join(f'{v.flip_angle:g}' for v in self.vfa)}°" if self.vfa else ", fixed T10"
        return f"{self.vendor} DCE {self.n_phases} phases{t1}: {name}"[:256]

    def signal(self) -> NDArray[np.float32]:
        """All phases as one (phase, slice, row, column) float32 array."""
        shape = self.geometry.shape
        out = np.empty((len(self.phases), *shape), dtype=np.float32)
        for k, phase in enumerate(self.phases):
            a = phase.loader()
            if a.shape != shape:
                raise GeometryMismatchError(f"phase {k} has shape {a.shape}, the acquisition {shape}")
            out[k] = a
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (for the workflow's UI and results.json)."""
        times = [p.time for p in self.phases]
        return {
            "method": "DCE",
            "label": self.label,
            "vendor": self.vendor,
            "n_phases": self.n_phases,
            "phase_times_s": times if all(t is not None for t in times) else None,
            "vfa_flip_angles": [v.flip_angle for v in self.vfa],
            "series": [vars(s) for s in self.series],
            "parameters": {k: p.as_dict() for k, p in self.parameters.items()},
            "missing": list(self.missing),
            "notes": list(self.notes),
            "shape": list(self.geometry.shape),
        }

    @classmethod
    def from_arrays(
        cls,
        signal: NDArray[np.floating[Any]],
        geometry: Geometry,
        parameters: dict[str, Param],
        *,
        phase_times: Sequence[float] | None = None,
        vfa: Sequence[tuple[float, NDArray[np.floating[Any]]]] = (),
        vfa_tr: float | None = None,
        vendor: str = "generic",
        description: str = "arrays",
        missing: Sequence[str] = (),
    ) -> DceAcquisition:
        """An acquisition from in-memory data: ``signal`` (phase, slice, row, column), phase times
        in s, VFA volumes as ``(flip angle in degrees, array)``."""
        sig = np.asarray(signal)
        if sig.ndim != 4 or sig.shape[1:] != geometry.shape:
            raise GeometryMismatchError(f"signal has shape {sig.shape}, expected (phases, *{geometry.shape})")
        if phase_times is not None and len(phase_times) != sig.shape[0]:
            raise InputError(f"{len(phase_times)} phase times for {sig.shape[0]} phases")
        uid = pydicom.uid.generate_uid()
        phases = [
            DcePhase(k, None if phase_times is None else float(phase_times[k]), (), _constant(sig, k))
            for k in range(sig.shape[0])
        ]
        vfa_uid = pydicom.uid.generate_uid()
        volumes = []
        for angle, arr in vfa:
            a = np.asarray(arr)
            if a.shape != geometry.shape:
                raise GeometryMismatchError(f"VFA volume has shape {a.shape}, expected {geometry.shape}")
            volumes.append(VfaVolume(float(angle), vfa_tr, vfa_uid, (), _constant(a[None], 0)))
        params = dict(parameters)
        if phase_times is not None and "phase_times" not in params:
            params["phase_times"] = Param("phase_times", [float(t) for t in phase_times], "s", "user", "given")
        series = [DceSeriesInfo(uid, None, description, vendor, "dce", sig.shape[0], "given as arrays")]
        if volumes:
            series.append(DceSeriesInfo(vfa_uid, None, "VFA arrays", vendor, "vfa", len(volumes), "given as arrays"))
        return cls(vendor, series, phases, geometry, params, list(missing), volumes)


def _constant(a: NDArray[Any], k: int) -> Callable[[], Array]:
    def load() -> Array:
        out: Array = np.asarray(a[k], dtype=np.float64)
        return out

    return load
