"""The viewer's measurements as a TID 1500 Measurement Report (Comprehensive 3D SR), without I/O.

Each measurement is one TID 1410 group (Planar ROI Measurements and Qualitative Evaluations): a
tracking identifier naming the cornerstone tool (``Cornerstone3DTools@^0.1.0:Length``, as OHIF's
adapters name theirs, so OHIF recognises the tool), a tracking UID, the image region as an SCOORD
in the referenced image's pixel coordinates (PS3.3 C.18.6: column\\row, the top-left corner of the
top-left pixel is 0\\0) and the numbers as TID 300 NUM items with UCUM units.

Graphic types per tool: length POLYLINE (2 points), angle POLYLINE (3 points: end, vertex, end),
ellipse ELLIPSE (4 points: the two axis end points pairs), rectangle and freehand POLYGON (closed
POLYLINE, first point repeated last), probe POINT.
"""

from __future__ import annotations

import copy
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from server.app_errors import InvalidInput
from server.reading.documents import TYPE2_PATIENT_STUDY

TRACKING_PREFIX = "Cornerstone3DTools@^0.1.0:"
CIRRUS_SCHEME = "99CIRRUS"
CLEARED = "Cirrus: no measurements"
SERIES_NUMBER = 990
SERIES_DESCRIPTION = "Measurements"
MAX_MEASUREMENTS = 500
MAX_POINTS = 2000
UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass(frozen=True)
class Tool:
    """One viewer tool: its cornerstone name, the graphic type it is stored as, its point counts."""

    key: str
    cornerstone: str
    graphic: str
    points: tuple[int, int]  # least and most points the viewer sends
    values: tuple[str, ...]  # the numbers it may carry


TOOLS = {t.key: t for t in (
    Tool("length", "Length", "POLYLINE", (2, 2), ("length",)),
    Tool("angle", "Angle", "POLYLINE", (3, 3), ("angle",)),
    Tool("ellipse", "EllipticalROI", "ELLIPSE", (4, 4), ("area", "mean", "sd", "min", "max")),
    Tool("rectangle", "RectangleROI", "POLYGON", (4, 4), ("area", "mean", "sd", "min", "max")),
    Tool("freehand", "PlanarFreehandROI", "POLYGON", (3, MAX_POINTS), ("area", "mean", "sd", "min", "max")),
    Tool("probe", "Probe", "POINT", (1, 1), ("value",)),
)}
BY_TRACKING = {TRACKING_PREFIX + t.cornerstone: t for t in TOOLS.values()}

# Concept names (SNOMED CT, as OHIF's and dcmjs's TID 1500 writers use them).
NAMES = {
    "length": hd.sr.CodedConcept("410668003", "SCT", "Length"),
    "angle": hd.sr.CodedConcept("1483009", "SCT", "Angle"),
    "area": hd.sr.CodedConcept("42798000", "SCT", "Area"),
    "mean": hd.sr.CodedConcept("373098007", "SCT", "Mean"),
    "sd": hd.sr.CodedConcept("386136009", "SCT", "Standard Deviation"),
    "min": hd.sr.CodedConcept("255605001", "SCT", "Minimum"),
    "max": hd.sr.CodedConcept("56851009", "SCT", "Maximum"),
    "value": hd.sr.CodedConcept("probe-value", CIRRUS_SCHEME, "Value at point"),
}
# Units the viewer names → UCUM (code, meaning). Pixel values without a known unit are "{no units}".
UNITS = {
    "mm": ("mm", "millimeter"),
    "mm2": ("mm2", "square millimeter"),
    "deg": ("deg", "degree"),
    "HU": ("[hnsf'U]", "Hounsfield unit"),
    "ml/100g/min": ("ml/100g/min", "milliliter per 100 gram per minute"),
    "s": ("s", "second"),
    "px": ("{pixel}", "pixel"),
    "px2": ("{pixel}2", "square pixel"),
    "": ("1", "no units"),
}
GEOMETRIC_UNIT = {"length": "mm", "area": "mm2", "angle": "deg"}


@dataclass(frozen=True)
class Measurement:
    """One drawn measurement on one frame of one image, in DICOM pixel coordinates."""

    tool: Tool
    tracking_uid: str
    label: str
    series_uid: str
    sop_uid: str
    frame: int
    points: tuple[tuple[float, float], ...]
    values: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # value name → viewer unit (a UNITS key)


def tracking_uid_of(raw: object) -> str:
    """A DICOM UID for the viewer's annotation id: a UID as is, a UUID as 2.25.<its integer>."""
    if not isinstance(raw, str) or not raw:
        return str(hd.UID())
    if UID_RE.match(raw) and len(raw) <= 64:
        return raw
    try:
        return f"2.25.{uuid.UUID(raw).int}"
    except ValueError:
        raise InvalidInput(f"measurement uid {raw[:70]!r} is neither a DICOM UID nor a UUID") from None


def require_uid(value: object, what: str, where: str) -> str:
    if not isinstance(value, str) or not UID_RE.match(value) or len(value) > 64:
        raise InvalidInput(f"{where}: {what} must be a DICOM UID, got {str(value)[:70]!r}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{where} must be a finite number, got {str(value)[:40]!r}")
    return float(value)


def parse_measurement(item: object, n: int) -> Measurement:
    where = f"measurements[{n}]"
    if not isinstance(item, dict):
        raise InvalidInput(f"{where} must be an object")
    tool = TOOLS.get(str(item.get("tool")))
    if tool is None:
        raise InvalidInput(f"{where}.tool must be one of {', '.join(TOOLS)}, got {str(item.get('tool'))[:40]!r}")
    points = item.get("points")
    if not isinstance(points, list) or not tool.points[0] <= len(points) <= tool.points[1]:
        low, high = tool.points
        count = f"{low}" if low == high else f"{low} to {high}"
        raise InvalidInput(f"{where}.points: a {tool.key} has {count} points [column, row]")
    pts: list[tuple[float, float]] = []
    for k, p in enumerate(points):
        if not isinstance(p, list) or len(p) != 2:
            raise InvalidInput(f"{where}.points[{k}] must be [column, row]")
        pts.append((_number(p[0], f"{where}.points[{k}][0]"), _number(p[1], f"{where}.points[{k}][1]")))
    frame = item.get("frame", 1)
    if isinstance(frame, bool) or not isinstance(frame, int) or frame < 1:
        raise InvalidInput(f"{where}.frame must be a frame number (1 or more)")
    raw_values = item.get("values") or {}
    raw_units = item.get("units") or {}
    if not isinstance(raw_values, dict) or not isinstance(raw_units, dict):
        raise InvalidInput(f"{where}.values and .units must be objects")
    values: dict[str, float] = {}
    units: dict[str, str] = {}
    for name, v in raw_values.items():
        if name not in tool.values:
            raise InvalidInput(f"{where}.values: a {tool.key} carries {', '.join(tool.values)}, not {name[:40]!r}")
        if v is None:
            continue
        values[name] = _number(v, f"{where}.values.{name}")
        unit = str(raw_units.get(name, GEOMETRIC_UNIT.get(name, "")))
        if unit not in UNITS:
            known = ", ".join(u for u in UNITS if u)
            raise InvalidInput(f"{where}.units.{name}: unknown unit {unit[:40]!r} (known: {known})")
        units[name] = unit
    label = item.get("label") or ""
    if not isinstance(label, str):
        raise InvalidInput(f"{where}.label must be a text")
    return Measurement(tool=tool, tracking_uid=tracking_uid_of(item.get("uid")), label=label[:64],
                       series_uid=require_uid(item.get("series_instance_uid"), "series_instance_uid", where),
                       sop_uid=require_uid(item.get("sop_instance_uid"), "sop_instance_uid", where),
                       frame=frame, points=tuple(pts), values=values, units=units)


def parse_measurements(body: dict[str, Any]) -> list[Measurement]:
    items = body.get("measurements")
    if not isinstance(items, list):
        raise InvalidInput('request body must be {"measurements": [...]}')
    if len(items) > MAX_MEASUREMENTS:
        raise InvalidInput(f"at most {MAX_MEASUREMENTS} measurements per report")
    out = [parse_measurement(item, n) for n, item in enumerate(items)]
    seen: set[str] = set()
    for n, m in enumerate(out):
        if m.tracking_uid in seen:
            raise InvalidInput(f"measurements[{n}]: uid {m.tracking_uid} is used twice")
        seen.add(m.tracking_uid)
    return out


def check_inside(m: Measurement, rows: int, columns: int, n: int) -> None:
    """Refuse points outside the image (a little margin: handles may sit on the border)."""
    for x, y in m.points:
        if not (-1 <= x <= columns + 1 and -1 <= y <= rows + 1):
            raise InvalidInput(f"measurements[{n}]: point ({x:g}, {y:g}) lies outside the {columns}×{rows} image")


def graphic_data(m: Measurement) -> list[list[float]]:
    pts = [list(p) for p in m.points]
    if m.tool.graphic == "POLYGON":
        pts.append(list(m.points[0]))  # closed: the last point repeats the first (PS3.3 C.18.6.1.2)
    return pts


def _group(m: Measurement, source: Dataset) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    graphic = "POLYLINE" if m.tool.graphic == "POLYGON" else m.tool.graphic
    frames = [m.frame] if int(getattr(source, "NumberOfFrames", 1) or 1) > 1 else None
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues(graphic),
        graphic_data=np.array(graphic_data(m), dtype=float),
        source_image=hd.sr.SourceImageForRegion(
            referenced_sop_class_uid=source.SOPClassUID, referenced_sop_instance_uid=m.sop_uid,
            referenced_frame_numbers=frames),
    )
    measurements = [
        hd.sr.Measurement(name=NAMES[name], value=value, unit=hd.sr.CodedConcept(*_ucum(m.units.get(name, ""))))
        for name, value in m.values.items()
    ]
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=m.tracking_uid,
                                                     identifier=TRACKING_PREFIX + m.tool.cornerstone),
        referenced_region=region,
        finding_type=hd.sr.CodedConcept("label", CIRRUS_SCHEME, m.label) if m.label else None,
        measurements=measurements or None,
    )


def build_report(measurements: list[Measurement], sources: dict[str, Dataset], *, series_uid: str, sop_uid: str,
                 instance_number: int, observer: str, institution: str, when: datetime,
                 previous: list[Dataset] | None = None, cleared_uid: str = "") -> Dataset:
    """The Comprehensive 3D SR holding the measurements; ``sources`` are the images' headers by SOP UID."""
    groups: list[Any] = [_group(m, sources[m.sop_uid]) for m in measurements]
    if not groups:
        # TID 1500 needs one item under Imaging Measurements: a report the viewer cleared holds one
        # group without a region or numbers, which readers show as no measurement.
        groups = [hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=cleared_uid or str(hd.UID()), identifier=CLEARED))]
    observer_context = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=_person(observer)),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer_context),
        procedure_reported=hd.sr.CodedConcept("363679005", "SCT", "Imaging procedure"),
        imaging_measurements=groups,
        title=codes.DCM.ImagingMeasurementReport,
    )
    evidence = [copy.deepcopy(h) for h in sources.values()]
    for kw in TYPE2_PATIENT_STUDY:  # highdicom copies these from the first evidence item
        if evidence and kw not in evidence[0]:
            setattr(evidence[0], kw, "")
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=series_uid,
        series_number=SERIES_NUMBER,
        sop_instance_uid=sop_uid,
        instance_number=instance_number,
        manufacturer="Cirrus",
        institution_name=institution[:64] or None,
        is_complete=True,
        previous_versions=previous or None,
        series_description=SERIES_DESCRIPTION,
    )
    sr.SpecificCharacterSet = "ISO_IR 192"
    sr.ContentDate = when.strftime("%Y%m%d")
    sr.ContentTime = when.strftime("%H%M%S.%f")
    if when.utcoffset() is not None:
        sr.TimezoneOffsetFromUTC = when.strftime("%z")
    return sr


def _person(name: str) -> str:
    """A PN value: a name without components gets a trailing caret (one family-name component)."""
    name = (name or "Cirrus").replace("\\", " ")[:60]
    return name if "^" in name else name + "^"


def _ucum(unit: str) -> tuple[str, str, str]:
    code, meaning = UNITS[unit]
    return code, "UCUM", meaning
