"""Image frames of classic (one frame per instance) and enhanced multi-frame MR, with the
attributes the DCE classifier reads (position, timing, sequence), and their pixel values.

Enhanced MR Image Storage (PS3.3 A.36.2) moves per-frame values into the functional groups:
position (PlanePositionSequence), orientation (PlaneOrientationSequence), spacing
(PixelMeasuresSequence), rescale (PixelValueTransformationSequence), the temporal position
(FrameContentSequence.TemporalPositionIndex, FrameAcquisitionDateTime) and the timing
(MRTimingAndRelatedParametersSequence: RepetitionTime, FlipAngle), each either in the Shared or
the Per-frame Functional Groups Sequence. Values are the stored values through the per-frame
PixelValueTransformationSequence; Philips' private per-frame scale slope of enhanced exports is
not applied (classic Philips images get their floating-point values, as for ASL).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray

from quant.acquisition import Geometry
from quant.errors import GeometryMismatchError, InputError
from quant.vendors import philips

__all__ = ["Frame", "frames_of", "geometry_of_frames", "parse_dt", "parse_tm", "volume_loader"]

Array = NDArray[np.float64]
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"


def parse_tm(value: Any) -> float | None:
    """DICOM TM (HHMMSS.ffffff, colons tolerated) → seconds since midnight."""
    text = str(value or "").strip().replace(":", "")
    if len(text) < 2 or not text[:2].isdigit():
        return None
    try:
        hh = int(text[0:2])
        mm = int(text[2:4]) if len(text) >= 4 else 0
        ss = float(text[4:]) if len(text) > 4 else 0.0
    except ValueError:
        return None
    return hh * 3600.0 + mm * 60.0 + ss


def parse_dt(value: Any) -> float | None:
    """DICOM DT (YYYYMMDDHHMMSS.ffffff[&ZZXX]) → POSIX-like seconds (offset ignored)."""
    text = str(value or "").strip()
    for sep in ("+", "-"):
        if sep in text[8:]:
            text = text[: 8 + text[8:].index(sep)]
    if len(text) < 8 or not text[:8].isdigit():
        return None
    try:
        day = datetime.datetime.strptime(text[:8], "%Y%m%d").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    tm = parse_tm(text[8:]) if len(text) > 8 else 0.0
    return day.timestamp() + (tm or 0.0)


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _first(ds: pydicom.Dataset, keyword: str) -> Any:
    seq = ds.get(keyword)
    return seq[0] if seq else None


@dataclass(frozen=True)
class Frame:
    """One 2-D image of a series (an instance, or one frame of a multi-frame instance)."""

    ds: pydicom.Dataset = field(repr=False)
    frame: int | None  # 0-based frame of a multi-frame instance
    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float, float, float]
    pixel_spacing: tuple[float, float]
    slice_thickness: float
    rows: int
    columns: int
    temporal_index: int | None
    trigger_time: float | None  # ms
    acquisition_time: float | None  # s (date included when the headers give it)
    content_time: float | None  # s
    flip_angle: float | None  # degrees
    repetition_time: float | None  # ms
    echo_time: float | None  # ms
    acquisition_number: int | None
    instance_number: int | None

    @property
    def sop_instance_uid(self) -> str:
        return str(self.ds.SOPInstanceUID)

    @property
    def location(self) -> float:
        o = np.asarray(self.orientation, dtype=np.float64)
        return float(np.dot(np.cross(o[:3], o[3:]), self.position))


def _acq_seconds(ds: pydicom.Dataset) -> float | None:
    if ds.get("AcquisitionDateTime"):
        return parse_dt(ds.AcquisitionDateTime)
    tm = parse_tm(ds.get("AcquisitionTime"))
    if tm is None:
        return None
    day = parse_dt(ds.get("AcquisitionDate") or ds.get("SeriesDate") or ds.get("StudyDate") or "")
    return tm + (day or 0.0)


def _content_seconds(ds: pydicom.Dataset) -> float | None:
    tm = parse_tm(ds.get("ContentTime"))
    if tm is None:
        return None
    day = parse_dt(ds.get("ContentDate") or ds.get("SeriesDate") or ds.get("StudyDate") or "")
    return tm + (day or 0.0)


def _int(value: Any) -> int | None:
    f = _float(value)
    return int(f) if f is not None else None


def _classic(ds: pydicom.Dataset) -> Frame:
    if "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
        raise InputError(f"image {ds.get('SOPInstanceUID', '?')} has no ImagePositionPatient/Orientation")
    spacing = [float(v) for v in ds.get("PixelSpacing", [1.0, 1.0])]
    return Frame(
        ds=ds,
        frame=None,
        position=tuple(float(v) for v in ds.ImagePositionPatient),  # type: ignore[arg-type]
        orientation=tuple(float(v) for v in ds.ImageOrientationPatient),  # type: ignore[arg-type]
        pixel_spacing=(spacing[0], spacing[1]),
        slice_thickness=_float(ds.get("SliceThickness")) or 0.0,
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        temporal_index=_int(ds.get("TemporalPositionIdentifier")),
        trigger_time=_float(ds.get("TriggerTime")),
        acquisition_time=_acq_seconds(ds),
        content_time=_content_seconds(ds),
        flip_angle=_float(ds.get("FlipAngle")),
        repetition_time=_float(ds.get("RepetitionTime")),
        echo_time=_float(ds.get("EchoTime")),
        acquisition_number=_int(ds.get("AcquisitionNumber")),
        instance_number=_int(ds.get("InstanceNumber")),
    )


def _group_item(shared: Any, per_frame: Any, keyword: str) -> Any:
    for holder in (per_frame, shared):
        if holder is not None and keyword in holder and holder.get(keyword):
            return holder.get(keyword)[0]
    return None


def _enhanced(ds: pydicom.Dataset) -> list[Frame]:
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    n = int(ds.get("NumberOfFrames", len(per_frame)) or len(per_frame))
    out = []
    for k in range(n):
        pf = per_frame[k] if k < len(per_frame) else None
        pos = _group_item(shared, pf, "PlanePositionSequence")
        ori = _group_item(shared, pf, "PlaneOrientationSequence")
        meas = _group_item(shared, pf, "PixelMeasuresSequence")
        content = _group_item(shared, pf, "FrameContentSequence")
        timing = _group_item(shared, pf, "MRTimingAndRelatedParametersSequence")
        echo = _group_item(shared, pf, "MREchoSequence")
        if pos is None or ori is None:
            raise InputError(f"frame {k + 1} of {ds.get('SOPInstanceUID', '?')} has no plane position/orientation")
        spacing = [float(v) for v in (meas.get("PixelSpacing") if meas is not None else None) or [1.0, 1.0]]
        acq = parse_dt(content.get("FrameAcquisitionDateTime")) if content is not None else None
        out.append(
            Frame(
                ds=ds,
                frame=k,
                position=tuple(float(v) for v in pos.ImagePositionPatient),  # type: ignore[arg-type]
                orientation=tuple(float(v) for v in ori.ImageOrientationPatient),  # type: ignore[arg-type]
                pixel_spacing=(spacing[0], spacing[1]),
                slice_thickness=(_float(meas.get("SliceThickness")) if meas is not None else None) or 0.0,
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                temporal_index=_int(content.get("TemporalPositionIndex")) if content is not None else None,
                trigger_time=None,
                acquisition_time=acq,
                content_time=None,
                flip_angle=_float(timing.get("FlipAngle")) if timing is not None else None,
                repetition_time=_float(timing.get("RepetitionTime")) if timing is not None else None,
                echo_time=_float(echo.get("EffectiveEchoTime")) if echo is not None else None,
                acquisition_number=_int(ds.get("AcquisitionNumber")),
                instance_number=_int(ds.get("InstanceNumber")),
            )
        )
    return out


def frames_of(ds: pydicom.Dataset) -> list[Frame]:
    """The frames of one instance (classic or enhanced)."""
    if str(ds.get("SOPClassUID", "")) == ENHANCED_MR or "PerFrameFunctionalGroupsSequence" in ds:
        return _enhanced(ds)
    return [_classic(ds)]


def geometry_of_frames(frames: Sequence[Frame]) -> Geometry:
    """Geometry of one volume's frames, already sorted by location."""
    first = frames[0]
    if len({(f.rows, f.columns) for f in frames}) != 1:
        raise GeometryMismatchError("slices of one volume have different sizes")
    if not all(np.allclose(f.orientation, first.orientation, atol=1e-3) for f in frames):
        raise GeometryMismatchError("slices of one volume have different orientations")
    locs = [f.location for f in frames]
    if len(set(np.round(locs, 3))) != len(locs):
        raise GeometryMismatchError("two images of one volume share a slice position")
    thickness = first.slice_thickness or (abs(locs[1] - locs[0]) if len(locs) > 1 else 1.0)
    return Geometry(
        shape=(len(frames), first.rows, first.columns),
        pixel_spacing=first.pixel_spacing,
        slice_thickness=thickness,
        orientation=first.orientation,
        positions=tuple(f.position for f in frames),
        frame_of_reference_uid=first.ds.get("FrameOfReferenceUID"),
    )


def _values(frame: Frame, cache: dict[int, Array]) -> Array:
    ds = frame.ds
    if frame.frame is None:
        if philips.matches(ds):
            return philips.floating_point(ds)
        from quant.images import rescaled

        return rescaled(ds)
    key = id(ds)
    if key not in cache:
        try:
            cache.clear()  # keep one decoded multi-frame instance at a time
            cache[key] = np.asarray(ds.pixel_array, dtype=np.float64).reshape(-1, int(ds.Rows), int(ds.Columns))
        except Exception as exc:  # pydicom raises several types for undecodable pixel data
            raise InputError(f"image {ds.get('SOPInstanceUID', '?')}: cannot decode pixel data ({exc})") from exc
    arr = cache[key][frame.frame]
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    pf = per_frame[frame.frame] if frame.frame < len(per_frame) else None
    pvt = _group_item(shared, pf, "PixelValueTransformationSequence")
    slope = _float(pvt.get("RescaleSlope")) if pvt is not None else None
    intercept = _float(pvt.get("RescaleIntercept")) if pvt is not None else None
    out: Array = arr * (slope or 1.0) + (intercept or 0.0)
    return out


def volume_loader(frames: Sequence[Frame], cache: dict[int, Array] | None = None) -> Callable[[], Array]:
    """A loader returning the frames' values (sorted by the caller) as (slice, row, column).

    Loaders of one multi-frame series should share ``cache`` (it holds the last decoded
    instance), so that loading phase after phase decodes the instance once.
    """
    frozen = list(frames)
    shared: dict[int, Array] = {} if cache is None else cache

    def load() -> Array:
        return np.stack([_values(f, shared) for f in frozen])

    return load
