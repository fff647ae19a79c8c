"""Derived DICOM of a DCE analysis: every pharmacokinetic map (Ktrans, ve, kep, vp) as an MR series
(int16 with a Real World Value Mapping in UCUM units) and as a float Parametric Map (highdicom),
plus a colour Secondary Capture series of Ktrans; the curve-parameter maps optionally as MR series.

Derived series share the source's Study and Frame of Reference and geometry, get new Series and
SOP Instance UIDs and reference their source images. Patient and study attributes are copied
value by value through the VR rules (PS3.5 6.2): an invalid value is shortened (too-long text)
or left empty, so that a faulty source header never stops the results from being stored.
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Sequence

import highdicom as hd
import numpy as np
import pydicom
from matplotlib import colormaps
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from pydicom import config
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pydicom.valuerep import MAX_VALUE_LEN, validate_value

from quant.colour_plane import copy_plane, display_scale
from quant.dce.acquisition import DceAcquisition
from quant.dce.engine import MAP_UNITS, DceResult
from quant.dce.semiquant import SEMIQUANT_UNITS

__all__ = ["MAP_LABELS", "build_derived_datasets", "safe_copy"]

MANUFACTURER = "Cirrus"
SOFTWARE = "cirrus-quant 0.1 dce"
KTRANS_DISPLAY_MAX = 0.5  # 1/min at the top of the colour scale

# map → (LUT label ≤ 16 chars, explanation, unit meaning, window centre, window width)
MAP_LABELS: dict[str, tuple[str, str, str, float, float]] = {
    "ktrans": ("Ktrans", "volume transfer constant", "/min", 0.25, 0.5),
    "ve": ("ve", "extravascular extracellular volume fraction", "ratio", 0.5, 1.0),
    "kep": ("kep", "rate constant EES to plasma", "/min", 1.0, 2.0),
    "vp": ("vp", "plasma volume fraction", "ratio", 0.05, 0.1),
    "ttp": ("TTP", "time to peak", "s", 60.0, 120.0),
    "max_enhancement": ("MaxEnh", "maximum relative enhancement", "%", 100.0, 200.0),
    "initial_slope": ("InitSlope", "initial slope of enhancement", "%/min", 100.0, 200.0),
    "max_slope": ("MaxSlope", "maximum slope of enhancement", "%/min", 500.0, 1000.0),
    "washout": ("Washout", "signal change from peak to last phase", "%", 0.0, 100.0),
    "auc": ("AUC", "area under the concentration curve", "mmol/L.s", 10.0, 20.0),
}
PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)
REQUIRED_EMPTY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)
MR_KEYWORDS = (
    "MagneticFieldStrength",
    "EchoTime",
    "RepetitionTime",
    "FlipAngle",
    "BodyPartExamined",
    "PatientPosition",
)


def safe_copy(source: Dataset | None, target: Dataset, keyword: str) -> bool:
    """Copy ``keyword`` if its value is valid for its VR; shorten over-long text; else skip.

    Returns True when a value was copied.
    """
    if source is None or keyword not in source:
        return False
    try:
        value = source[keyword].value
    except Exception:  # a value pydicom cannot even convert
        return False
    vr = dictionary_VR(keyword)
    if keyword == "PatientSex" and str(value or "").upper() not in ("M", "F", "O", ""):
        return False
    try:
        validate_value(vr, value, config.RAISE)
    except (ValueError, TypeError):
        limit = MAX_VALUE_LEN.get(vr)
        if not (isinstance(value, str) and limit and len(value) > limit):
            return False
        value = value[:limit].rstrip()
        try:
            validate_value(vr, value, config.RAISE)
        except (ValueError, TypeError):
            return False
    setattr(target, keyword, value)
    return True


def _base(acq: DceAcquisition, study_uid: str) -> Dataset:
    ds = Dataset()
    for kw in PATIENT_STUDY_KEYWORDS:
        safe_copy(acq.reference, ds, kw)
    ds.StudyInstanceUID = study_uid
    for kw in REQUIRED_EMPTY:
        if kw not in ds:
            setattr(ds, kw, "ANONYMOUS^" if kw == "PatientName" else ("UNKNOWN" if kw == "PatientID" else ""))
    return ds


def _unit(name: str) -> hd.sr.CodedConcept:
    code = MAP_UNITS.get(name, "1")
    meaning = MAP_LABELS[name][2] if name in MAP_LABELS else code
    return hd.sr.CodedConcept(code, "UCUM", meaning)


def _source_refs(acq: DceAcquisition) -> list[list[tuple[str, str]]]:
    """Per slice: (SOP Class, SOP Instance) of the source images covering it (all phases)."""
    classes = dict((inst, cls) for cls, inst in acq.source_images)
    nz = acq.geometry.shape[0]
    per_slice: list[list[tuple[str, str]]] = [[] for _ in range(nz)]
    for phase in acq.phases:
        uids = phase.sop_instance_uids
        for k in range(nz):
            uid = uids[k] if len(uids) == nz else (uids[0] if uids else None)
            if uid and uid in classes and (classes[uid], uid) not in per_slice[k]:
                per_slice[k].append((classes[uid], uid))
    return per_slice


def _mr_series(
    values: NDArray[np.float64],
    name: str,
    acq: DceAcquisition,
    study_uid: str,
    for_uid: str,
    number: int,
    description: str,
) -> list[Dataset]:
    g = acq.geometry
    label, explanation, _, centre, width = MAP_LABELS[name]
    series_uid = generate_uid()
    vmax = float(np.max(np.abs(values))) or 1.0
    slope = float(f"{vmax / 32000.0:.10g}"[:16])
    stored = np.clip(np.round(values / slope), -32768, 32767).astype(np.int16)
    refs = _source_refs(acq)
    now = datetime.datetime.now()
    out = []
    for k in range(g.shape[0]):
        ds = _base(acq, study_uid)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "MR"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = number
        ds.SeriesDescription = description[:64]
        ds.InstanceNumber = k + 1
        ds.ImageType = ["DERIVED", "SECONDARY", label.upper()[:16]]
        ds.Manufacturer = MANUFACTURER
        ds.SoftwareVersions = SOFTWARE
        ds.ContentDate = now.strftime("%Y%m%d")
        ds.ContentTime = now.strftime("%H%M%S")
        ds.SeriesDate, ds.SeriesTime = ds.ContentDate, ds.ContentTime
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        for kw in MR_KEYWORDS:
            safe_copy(acq.reference, ds, kw)
        ds.ScanningSequence, ds.SequenceVariant = "GR", "SP"
        ds.ScanOptions, ds.MRAcquisitionType = "", ""
        for kw in ("EchoTime", "RepetitionTime"):
            if kw not in ds:
                setattr(ds, kw, "")
        ds.EchoTrainLength = ""
        ds.ImagePositionPatient = [float(v) for v in g.positions[k]]
        ds.ImageOrientationPatient = [float(v) for v in g.orientation]
        ds.PixelSpacing = [float(v) for v in g.pixel_spacing]
        ds.SliceThickness = float(g.slice_thickness)
        ds.SpacingBetweenSlices = float(g.spacing_between_slices)
        ds.SliceLocation = float(np.dot(g.normal, g.positions[k]))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = g.shape[1], g.shape[2]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope = f"{slope:.10g}"[:16]
        ds.RescaleIntercept = "0"
        ds.RescaleType = "US"
        ds.WindowCenter, ds.WindowWidth = centre, width
        item = Dataset()
        item.LUTLabel = label
        item.LUTExplanation = explanation[:64]
        item.MeasurementUnitsCodeSequence = [_unit(name)]
        item.add_new("RealWorldValueFirstValueMapped", "SS", -32768)
        item.add_new("RealWorldValueLastValueMapped", "SS", 32767)
        item.RealWorldValueSlope = slope
        item.RealWorldValueIntercept = 0.0
        ds.RealWorldValueMappingSequence = [item]
        ds.DerivationDescription = f"{label} ({explanation}) computed by {SOFTWARE}"[:1024]
        if refs[k]:
            seq = []
            for cls, inst in refs[k]:
                r = Dataset()
                r.ReferencedSOPClassUID = cls
                r.ReferencedSOPInstanceUID = inst
                seq.append(r)
            ds.SourceImageSequence = seq
        ds.PixelData = stored[k].tobytes()
        out.append(ds)
    return out


def _parametric_map(values: NDArray[np.float64], name: str, sources: Sequence[Dataset], number: int) -> Dataset:
    label, explanation, unit_meaning, centre, width = MAP_LABELS[name]
    lo, hi = float(np.min(values)), float(np.max(values))
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=label,
        lut_explanation=explanation[:64],
        unit=_unit(name),
        value_range=(lo, hi if hi > lo else lo + 1.0),
        slope=1.0,
        intercept=0.0,
    )
    pm = hd.pm.ParametricMap(
        source_images=list(sources),
        pixel_array=values.astype(np.float32),
        series_instance_uid=generate_uid(),
        series_number=number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="cirrus-quant",
        software_versions=SOFTWARE,
        device_serial_number="0",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=centre, window_width=width)],
        content_label=label.upper().replace(" ", "_")[:16],
        content_description=f"DCE {label} ({unit_meaning})"[:64],
    )
    pm.SeriesDescription = f"{label} parametric map (float)"
    return pm


def _direction_letter(vec: Sequence[float]) -> str:
    """Dominant patient direction of an image axis (PS3.3 C.7.6.1.1.1, LPS letters)."""
    axis = int(np.argmax(np.abs(vec)))
    positive, negative = (("L", "R"), ("P", "A"), ("H", "F"))[axis]
    return positive if vec[axis] > 0 else negative


def _colour_slice(values: NDArray[np.float64], vmax: float, unit: str) -> NDArray[np.uint8]:
    """One map slice in a perceptual colour map with a labelled scale bar on the right."""
    cmap = colormaps["inferno"]
    rgb = (cmap(np.clip(values / vmax, 0, 1))[..., :3] * 255).astype(np.uint8)
    rows, cols = values.shape
    scale = display_scale(rows, cols)
    img = Image.fromarray(rgb).resize((cols * scale, rows * scale), Image.Resampling.NEAREST)
    bar_w = 80
    canvas = Image.new("RGB", (img.width + bar_w, img.height), (0, 0, 0))
    canvas.paste(img, (0, 0))
    h = img.height - 20
    grad = (cmap(np.linspace(1, 0, h))[:, :3] * 255).astype(np.uint8)
    canvas.paste(Image.fromarray(np.repeat(grad[:, None, :], 12, axis=1)), (img.width + 6, 10))
    draw = ImageDraw.Draw(canvas)
    for frac in (0.0, 0.5, 1.0):
        y = int(10 + (1 - frac) * (h - 1))
        draw.text((img.width + 22, max(0, y - 5)), f"{vmax * frac:.2g}", fill=(255, 255, 255))
    draw.text((img.width + 4, img.height - 10), unit, fill=(255, 255, 255))
    return np.asarray(canvas, dtype=np.uint8)


def _colour_series(values: NDArray[np.float64], refs: Sequence[Dataset], number: int) -> list[Dataset]:
    series_uid = generate_uid()
    o = [float(v) for v in refs[0].ImageOrientationPatient]
    orientation = (_direction_letter(o[:3]), _direction_letter(o[3:]))
    out: list[Dataset] = []
    for k, ref in enumerate(refs):
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=ref,
            pixel_array=_colour_slice(values[k], KTRANS_DISPLAY_MAX, "Ktrans /min"),
            photometric_interpretation="RGB",
            bits_allocated=8,
            coordinate_system="PATIENT",
            series_instance_uid=series_uid,
            series_number=number,
            sop_instance_uid=generate_uid(),
            instance_number=k + 1,
            manufacturer=MANUFACTURER,
            transfer_syntax_uid=ExplicitVRLittleEndian,
            patient_orientation=orientation,
        )
        sc.SeriesDescription = f"Ktrans colour (0-{KTRANS_DISPLAY_MAX:g} /min)"
        # The quantity in ImageType, as on the greyscale maps: what names the series' role (quant.roles).
        sc.ImageType = ["DERIVED", "SECONDARY", "KTRANS"]
        # The map's plane, so a viewer scrolls (and places) the colour series with the map.
        copy_plane(sc, ref, display_scale(*values[k].shape))
        out.append(sc)
    return out


def build_derived_datasets(
    result: DceResult, acq: DceAcquisition, *, semiquantitative: bool = False, parametric_maps: bool = True
) -> list[pydicom.Dataset]:
    """MR series per model map, a Parametric Map per model map, the Ktrans colour series, and
    (``semiquantitative=True``) MR series of the curve parameters."""
    ref = acq.reference
    study_uid = str(ref.StudyInstanceUID) if ref is not None and ref.get("StudyInstanceUID") else generate_uid()
    for_uid = acq.geometry.frame_of_reference_uid or (
        str(ref.FrameOfReferenceUID) if ref is not None and ref.get("FrameOfReferenceUID") else generate_uid()
    )
    try:
        source_number = int(ref.get("SeriesNumber", 0) or 0) if ref is not None else 0
    except (TypeError, ValueError):
        source_number = 0
    base = 2000 + (source_number % 1000) * 20
    names = list(result.model_maps) + (list(SEMIQUANT_UNITS) if semiquantitative else [])
    out: list[Dataset] = []
    mr: dict[str, list[Dataset]] = {}
    for i, name in enumerate(names):
        values = np.nan_to_num(result.maps[name])
        label = MAP_LABELS[name][0]
        unit = MAP_LABELS[name][2]
        mr[name] = _mr_series(
            values, name, acq, study_uid, for_uid, base + 1 + i, f"DCE {label} ({result.model}) {unit}"
        )
        out += mr[name]
    with warnings.catch_warnings():
        # highdicom flags single-component patient names; the source's name is copied unchanged.
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        if parametric_maps:
            for i, name in enumerate(result.model_maps):
                out.append(_parametric_map(np.nan_to_num(result.maps[name]), name, mr[name], base + 11 + i))
        out += _colour_series(np.nan_to_num(result.maps["ktrans"]), mr["ktrans"], base + 19)
    return out
