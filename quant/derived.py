"""Derived DICOM: CBF/ATT as MR images (int16 + Real World Value Mapping), a float Parametric
Map (highdicom) and a colour Secondary Capture series any viewer can show.

All derived series share the source's Study, Frame of Reference and geometry, get new Series
and SOP Instance UIDs, and reference the images they came from (SourceImageSequence).
"""

from __future__ import annotations

import copy
import datetime
import warnings
from collections.abc import Sequence
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from matplotlib import colormaps
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from quant.acquisition import AslAcquisition, Geometry
from quant.attributes import clean_value, copy_attributes, valid_uid
from quant.colour_plane import copy_plane, display_scale
from quant.engine import QuantResult
from quant.qc import qc_comment
from quant.regions.dicom import build_region_datasets

__all__ = ["build_derived_datasets", "CBF_DISPLAY_MAX"]

MANUFACTURER = "Cirrus"
SOFTWARE = "cirrus-quant 0.1"
CBF_DISPLAY_MAX = 100.0  # ml/100g/min at the top of the colour scale
PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
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
    "IssuerOfPatientID",
)
MR_KEYWORDS = (
    "ScanningSequence",
    "SequenceVariant",
    "ScanOptions",
    "MRAcquisitionType",
    "EchoTime",
    "RepetitionTime",
    "EchoTrainLength",
    "MagneticFieldStrength",
    "BodyPartExamined",
    "PatientPosition",
)


def _unit(kind: str) -> Any:
    if kind == "CBF":
        return hd.sr.CodedConcept("ml/(100.g.min)", "UCUM", "ml/100g/min")
    return hd.sr.CodedConcept("s", "UCUM", "second")


def _base(ref: Dataset | None, study_uid: str, notes: list[str]) -> Dataset:
    """Patient and study attributes of the derived objects, copied from ``ref`` and cleaned."""
    ds = Dataset()
    copy_attributes(ref, ds, PATIENT_STUDY_KEYWORDS, notes)
    ds.StudyInstanceUID = study_uid
    for kw, default in (
        ("PatientName", "ANONYMOUS^"),
        ("PatientID", "UNKNOWN"),
        ("PatientBirthDate", ""),
        ("PatientSex", ""),
        ("StudyDate", ""),
        ("StudyTime", ""),
        ("StudyID", ""),
        ("AccessionNumber", ""),
        ("ReferringPhysicianName", ""),
    ):
        if kw not in ds:
            setattr(ds, kw, default)
    return ds


def _mr_attributes(ref: Dataset | None, notes: list[str]) -> Dataset:
    """Acquisition attributes of the MR Image module (C.8.3.1), cleaned; type 2 ones filled."""
    ds = Dataset()
    copy_attributes(ref, ds, MR_KEYWORDS, notes)
    for kw in ("ScanningSequence", "SequenceVariant"):
        if not ds.get(kw):
            setattr(ds, kw, "RM" if kw == "ScanningSequence" else "NONE")
    for kw in ("ScanOptions", "MRAcquisitionType", "EchoTime", "RepetitionTime", "EchoTrainLength"):
        if kw not in ds:
            setattr(ds, kw, "")
    return ds


def _study_uid(ref: Dataset | None, notes: list[str]) -> str:
    value = str(ref.get("StudyInstanceUID", "") or "") if ref is not None else ""
    if valid_uid(value):
        return value
    if not value:
        return str(generate_uid())
    # The same invalid UID always maps to the same new one, so all results of a study stay together.
    new = str(generate_uid(entropy_srcs=[value]))
    notes.append(f"StudyInstanceUID {value[:70]!r} is not a valid UID: the derived objects use {new}")
    return new


def _frame_of_reference(acq: AslAcquisition, ref: Dataset | None, notes: list[str]) -> str:
    value = acq.geometry.frame_of_reference_uid or (
        str(ref.get("FrameOfReferenceUID", "") or "") if ref is not None else ""
    )
    if valid_uid(value):
        return str(value)
    if not value:
        return str(generate_uid())
    new = str(generate_uid(entropy_srcs=[str(value)]))
    notes.append(f"FrameOfReferenceUID {str(value)[:70]!r} is not a valid UID: the derived objects use {new}")
    return new


def _series_base(ref: Dataset | None, notes: list[str]) -> int:
    """1000 + 10 × the source's SeriesNumber (kept within IS range); 1000 without one."""
    if ref is None or "SeriesNumber" not in ref:
        return 1000
    cleaned = clean_value("SeriesNumber", ref.get("SeriesNumber"))
    if cleaned.value in (None, ""):
        if cleaned.note:
            notes.append(cleaned.note.replace("left out", "derived series numbered from 1000"))
        return 1000
    return 1000 + (abs(int(cleaned.value)) % 100_000) * 10


def _source_refs(acq: AslAcquisition, notes: list[str]) -> list[list[tuple[str, str]]]:
    """Per slice: (SOP Class, SOP Instance) of the source images covering it (valid UIDs only)."""
    classes = {inst: cls for cls, inst in acq.source_images if valid_uid(inst) and valid_uid(cls)}
    dropped = len({inst for _, inst in acq.source_images}) - len(classes)
    if dropped:
        notes.append(f"{dropped} source image(s) with an invalid SOP Class or Instance UID are not referenced")
    nz = acq.geometry.shape[0]
    per_slice: list[list[tuple[str, str]]] = [[] for _ in range(nz)]
    for vol in acq.volumes:
        uids = vol.sop_instance_uids
        for k in range(nz):
            uid = uids[k] if len(uids) == nz else (uids[0] if uids else None)
            if uid and uid in classes and (classes[uid], uid) not in per_slice[k]:
                per_slice[k].append((classes[uid], uid))
    return per_slice


def _mr_series(
    values: NDArray[np.float64],
    kind: str,
    acq: AslAcquisition,
    common: Dataset,
    for_uid: str,
    series_number: int,
    description: str,
    refs: list[list[tuple[str, str]]],
    comments: str = "",
) -> list[Dataset]:
    g: Geometry = acq.geometry
    series_uid = generate_uid()
    vmax = float(np.max(np.abs(values))) or 1.0
    slope = vmax / 32000.0
    stored = np.round(values / slope).astype(np.int16)
    now = datetime.datetime.now()
    out = []
    for k in range(g.shape[0]):
        ds = copy.deepcopy(common)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "MR"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.InstanceNumber = k + 1
        ds.ImageType = ["DERIVED", "SECONDARY", kind]
        ds.Manufacturer = MANUFACTURER
        ds.SoftwareVersions = SOFTWARE
        ds.ContentDate = now.strftime("%Y%m%d")
        ds.ContentTime = now.strftime("%H%M%S")
        ds.SeriesDate = ds.ContentDate
        ds.SeriesTime = ds.ContentTime
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        if comments:
            ds.ImageComments = comments
            if not comments.isascii():  # "ΔM" in a QC message
                ds.SpecificCharacterSet = "ISO_IR 192"
        ds.ImagePositionPatient = [float(v) for v in g.positions[k]]
        ds.ImageOrientationPatient = [float(v) for v in g.orientation]
        ds.PixelSpacing = [float(v) for v in g.pixel_spacing]
        ds.SliceThickness = float(g.slice_thickness)
        ds.SpacingBetweenSlices = float(g.spacing_between_slices)
        ds.SliceLocation = float(np.dot(g.normal, g.positions[k]))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = g.shape[1], g.shape[2]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope = f"{slope:.10g}"[:16]
        ds.RescaleIntercept = "0"
        ds.RescaleType = "US"
        ds.WindowCenter = 50 if kind == "CBF" else 1.5
        ds.WindowWidth = 100 if kind == "CBF" else 3
        item = Dataset()
        item.LUTLabel = kind
        item.LUTExplanation = "cerebral blood flow" if kind == "CBF" else "arterial transit time"
        item.MeasurementUnitsCodeSequence = [_unit(kind)]
        item.add_new("RealWorldValueFirstValueMapped", "SS", -32768)
        item.add_new("RealWorldValueLastValueMapped", "SS", 32767)
        item.RealWorldValueSlope = float(f"{slope:.10g}"[:16])
        item.RealWorldValueIntercept = 0.0
        ds.RealWorldValueMappingSequence = [item]
        ds.DerivationDescription = f"{kind} computed by {SOFTWARE}"
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


def _parametric_map(cbf: NDArray[np.float64], sources: Sequence[Dataset], series_number: int) -> Dataset:
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="CBF",
        lut_explanation="cerebral blood flow",
        unit=_unit("CBF"),
        value_range=(
            float(np.min(cbf)),
            float(np.max(cbf)) if np.max(cbf) > np.min(cbf) else float(np.min(cbf)) + 1,
        ),
        slope=1.0,
        intercept=0.0,
    )
    pm = hd.pm.ParametricMap(
        source_images=list(sources),
        pixel_array=cbf.astype(np.float32),
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="cirrus-quant",
        software_versions=SOFTWARE,
        device_serial_number="0",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=50.0, window_width=100.0)],
        content_label="CBF",
        content_description="ASL CBF (ml/100g/min)",
    )
    pm.SeriesDescription = "CBF parametric map (float)"
    return pm


def _colour_slice(cbf: NDArray[np.float64], vmax: float) -> NDArray[np.uint8]:
    """CBF slice in a perceptual colour map with a labelled scale bar on the right."""
    # The viewer's perfusion palette (viewer-frontend/src/viewer/fusion.ts): matplotlib's jet with its
    # lowest entry black (background, no flow), so the colour series, the map in the viewer and the PDF agree.
    cmap = colormaps["jet"]
    level = np.clip(cbf / vmax, 0, 1)
    rgb = (cmap(level)[..., :3] * 255).astype(np.uint8)
    rgb[level < 1 / cmap.N] = 0
    rows, cols = cbf.shape
    scale = display_scale(rows, cols)
    img = Image.fromarray(rgb).resize((cols * scale, rows * scale), Image.Resampling.NEAREST)
    bar_w = 80
    canvas = Image.new("RGB", (img.width + bar_w, img.height), (0, 0, 0))
    canvas.paste(img, (0, 0))
    h = img.height - 20
    steps = np.linspace(1, 0, h)
    grad = (cmap(steps)[:, :3] * 255).astype(np.uint8)
    grad[steps < 1 / cmap.N] = 0
    bar = Image.fromarray(np.repeat(grad[:, None, :], 12, axis=1))
    canvas.paste(bar, (img.width + 6, 10))
    draw = ImageDraw.Draw(canvas)
    for frac in (0.0, 0.5, 1.0):
        y = int(10 + (1 - frac) * (h - 1))
        draw.text((img.width + 22, max(0, y - 5)), f"{vmax * frac:.0f}", fill=(255, 255, 255))
    draw.text((img.width + 4, img.height - 10), "ml/100g/min", fill=(255, 255, 255))
    return np.asarray(canvas, dtype=np.uint8)


def _direction_letter(vec: Sequence[float]) -> str:
    """Dominant patient direction of an image axis (PS3.3 C.7.6.1.1.1, LPS letters)."""
    axis = int(np.argmax(np.abs(vec)))
    positive, negative = (("L", "R"), ("P", "A"), ("H", "F"))[axis]
    return positive if vec[axis] > 0 else negative


def _secondary_capture(
    cbf: NDArray[np.float64], refs: Sequence[Dataset], series_number: int
) -> list[Dataset]:
    series_uid = generate_uid()
    o = [float(v) for v in refs[0].ImageOrientationPatient]
    orientation = (_direction_letter(o[:3]), _direction_letter(o[3:]))
    out: list[pydicom.Dataset] = []
    for k, ref in enumerate(refs):
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=ref,
            pixel_array=_colour_slice(cbf[k], CBF_DISPLAY_MAX),
            photometric_interpretation="RGB",
            bits_allocated=8,
            coordinate_system="PATIENT",
            series_instance_uid=series_uid,
            series_number=series_number,
            sop_instance_uid=generate_uid(),
            instance_number=k + 1,
            manufacturer=MANUFACTURER,
            transfer_syntax_uid=ExplicitVRLittleEndian,
            patient_orientation=orientation,
        )
        sc.ImageType = ["DERIVED", "SECONDARY", "CBF"]  # what it shows (``quant.roles``)
        # The map's plane, so a viewer scrolls (and places) the colour series with the map.
        copy_plane(sc, ref, display_scale(*cbf[k].shape))
        sc.SeriesDescription = "CBF colour (0-100 ml/100g/min)"
        out.append(sc)
    return out


def build_derived_datasets(result: QuantResult, acq: AslAcquisition) -> list[pydicom.Dataset]:
    """CBF MR series (+ ATT MR series when fitted), a float Parametric Map, a colour SC series;
    with regional results also a SEG of the atlas regions and a TID 1500 SR of their values.

    Attributes copied from the source are cleaned per VR first (:mod:`quant.attributes`): an
    invalid demographic or descriptive value never fails the build. What was corrected or left
    out is appended to ``result.warnings`` (prefixed "derived objects:").
    """
    ref = acq.reference
    notes: list[str] = []
    study_uid = _study_uid(ref, notes)
    for_uid = _frame_of_reference(acq, ref, notes)
    base_number = _series_base(ref, notes)
    common = _base(ref, study_uid, notes)
    common.update(_mr_attributes(ref, notes))
    refs = _source_refs(acq, notes)
    comments = qc_comment(result)
    cbf = np.nan_to_num(result.cbf)
    cbf_series = _mr_series(
        cbf, "CBF", acq, common, for_uid, base_number + 1, f"CBF ({result.model}) ml/100g/min", refs, comments
    )
    out: list[pydicom.Dataset] = list(cbf_series)
    if result.att is not None:
        out += _mr_series(
            np.nan_to_num(result.att), "ATT", acq, common, for_uid, base_number + 2, "ATT (s)", refs, comments
        )
    with warnings.catch_warnings():
        # highdicom flags single-component patient names; we copy the source's name unchanged.
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        out.append(_parametric_map(cbf, cbf_series, base_number + 3))
        out += _secondary_capture(cbf, cbf_series, base_number + 4)
    if result.regions is not None:
        out += build_region_datasets(result.regions, cbf_series, base_number + 5)
    for note in dict.fromkeys(notes):
        message = f"derived objects: {note}"
        if message not in result.warnings:
            result.warnings.append(message)
    return out
