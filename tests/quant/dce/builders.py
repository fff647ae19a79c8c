"""Synthetic DCE DICOM studies made from the forward model at test time (nothing is committed).

A phantom of a few slices: air around a body ellipse of tissue whose Ktrans / ve / vp vary by
quadrant, and an "artery" disc holding blood. Signals follow the SPGR equation with the contrast
agent's relaxivity, concentrations follow the extended Tofts model with Parker's AIF (blood for the
artery). The series are shaped like the vendors' (see quant/dce/recognition.py for the rules).
"""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from quant import Geometry
from quant.dce import Aif, forward, spgr_signal

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
QUADRANTS = {  # (Ktrans 1/min, ve, vp) per tissue quadrant
    "q1": (0.05, 0.20, 0.01),
    "q2": (0.10, 0.30, 0.02),
    "q3": (0.20, 0.40, 0.05),
    "q4": (0.30, 0.25, 0.03),
}
MANUFACTURERS = {
    "ge": "GE MEDICAL SYSTEMS",
    "philips": "Philips Medical Systems",
    "siemens": "SIEMENS",
    "siemens_split": "SIEMENS",
    "enhanced": "SIEMENS",
}


@dataclass
class Phantom:
    shape: tuple[int, int, int]
    times: np.ndarray  # s
    injection_phase: int
    ktrans: np.ndarray
    ve: np.ndarray
    vp: np.ndarray
    t10: np.ndarray
    m0: np.ndarray
    regions: dict[str, np.ndarray]
    conc: np.ndarray  # (T, z, y, x) mM (blood in the artery, tissue elsewhere)
    aif: Aif
    relaxivity: float
    hematocrit: float
    tr: float
    flip: float
    geometry: Geometry = field(repr=False)


def phantom(
    shape: tuple[int, int, int] = (3, 40, 40),
    n_phases: int = 40,
    dt: float = 4.0,
    injection_phase: int = 5,
    *,
    relaxivity: float = 5.0,  # gadobutrol at 3 T (Rohrer 2005)
    hematocrit: float = 0.42,
    tr: float = 0.004,
    flip: float = 15.0,
    t10_tissue: float = 1.1,
    t1_blood: float = 1.664,
    arrival_delay: float = 0.0,
) -> Phantom:
    nz, ny, nx = shape
    t = np.arange(n_phases) * dt
    yy, xx = np.mgrid[0:ny, 0:nx]
    cy, cx = (ny - 1) / 2, (nx - 1) / 2
    body = ((yy - cy) / (0.45 * ny)) ** 2 + ((xx - cx) / (0.45 * nx)) ** 2 <= 1
    artery = (yy - cy) ** 2 + (xx - cx) ** 2 <= (0.08 * min(ny, nx)) ** 2
    tissue = body & ~artery
    quads = {
        "q1": tissue & (yy < cy) & (xx < cx),
        "q2": tissue & (yy < cy) & (xx >= cx),
        "q3": tissue & (yy >= cy) & (xx < cx),
        "q4": tissue & (yy >= cy) & (xx >= cx),
    }
    kt, ve, vp = (np.zeros(shape) for _ in range(3))
    regions: dict[str, np.ndarray] = {}
    for name, m in quads.items():
        a, b, c = QUADRANTS[name]
        kt[:, m], ve[:, m], vp[:, m] = a, b, c
        regions[name] = np.broadcast_to(m, shape).copy()
    regions["artery"] = np.broadcast_to(artery, shape).copy()
    regions["tissue"] = np.broadcast_to(tissue, shape).copy()
    aif = Aif("parker", onset=(t[injection_phase - 1] + arrival_delay) / 60.0, hematocrit=hematocrit)
    conc = np.zeros((n_phases, *shape))
    tis = regions["tissue"]
    conc[:, tis] = forward("extended_tofts", t / 60.0, aif, kt[tis], ve[tis], vp[tis])
    conc[:, regions["artery"]] = (aif.plasma(t / 60.0) * (1 - hematocrit))[:, None]
    t10 = np.where(regions["artery"], t1_blood, np.where(np.broadcast_to(body, shape), t10_tissue, 1.0))
    m0 = np.where(np.broadcast_to(body, shape), 1000.0, 0.0)
    geometry = Geometry(
        shape=shape,
        pixel_spacing=(1.5, 1.5),
        slice_thickness=4.0,
        orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        positions=tuple((-30.0, -30.0, -10.0 + 4.0 * k) for k in range(nz)),
        frame_of_reference_uid=generate_uid(),
    )
    return Phantom(
        shape, t, injection_phase, kt, ve, vp, t10, m0, regions, conc, aif, relaxivity, hematocrit, tr, flip, geometry
    )


def signal(p: Phantom, noise_sd: float = 0.0, seed: int = 0) -> np.ndarray:
    """Dynamic SPGR signal (T, z, y, x)."""
    r1 = 1.0 / p.t10 + p.relaxivity * p.conc
    s = spgr_signal(p.m0, r1, p.tr, p.flip)
    if noise_sd:
        s = s + np.random.default_rng(seed).normal(0, noise_sd, s.shape)
    return s


def vfa_signals(p: Phantom, angles: tuple[float, ...], tr: float) -> list[np.ndarray]:
    return [spgr_signal(p.m0, 1.0 / p.t10, tr, a) for a in angles]


def _tm(seconds: float) -> str:
    seconds = seconds % 86400
    h = int(seconds // 3600)
    m = int((seconds % 3600) // 60)
    return f"{h:02d}{m:02d}{seconds % 60:09.6f}"


def _common(study: dict, vendor: str, description: str, series_number: int, series_uid: str) -> dict:
    return {
        **study,
        "Manufacturer": MANUFACTURERS[vendor],
        "SeriesInstanceUID": series_uid,
        "SeriesNumber": series_number,
        "SeriesDescription": description,
        "ScanningSequence": "GR",
        "SequenceVariant": "SP",
        "MRAcquisitionType": "3D",
        "EchoTime": 1.5,
        "MagneticFieldStrength": 3.0,
        "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"],
    }


def mr_image(values: np.ndarray, g: Geometry, k: int, attrs: dict, slope: float, number: int) -> Dataset:
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.InstanceNumber = number
    ds.ImagePositionPatient = list(g.positions[k])
    ds.ImageOrientationPatient = list(g.orientation)
    ds.PixelSpacing = list(g.pixel_spacing)
    ds.SliceThickness = g.slice_thickness
    ds.FrameOfReferenceUID = g.frame_of_reference_uid
    ds.Rows, ds.Columns = values.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope = f"{slope:.8g}"
    ds.RescaleIntercept = "0"
    ds.PixelData = np.clip(np.round(values / float(ds.RescaleSlope)), 0, 65535).astype(np.uint16).tobytes()
    return ds


def _slope(arrays: list[np.ndarray]) -> float:
    return max(float(max((np.max(a) for a in arrays), default=0.0)) / 60000.0, 1e-6)


def dce_study(
    p: Phantom,
    vendor: str = "ge",
    *,
    noise_sd: float = 0.0,
    vfa_angles: tuple[float, ...] = (2.0, 5.0, 10.0, 15.0),
    vfa_tr: float = 0.004,
    vfa_in_one_series: bool = False,
    agent: str = "Gadovist",
    bolus_start_tag: bool = False,
) -> list[Dataset]:
    """All instances of a study: the VFA series (pre-contrast) and the dynamic series."""
    start = 10 * 3600.0  # 10:00:00
    study = {
        "StudyInstanceUID": generate_uid(),
        "StudyDate": "20260101",
        "StudyTime": "095500",
        "PatientName": "DCE^Phantom",
        "PatientID": "DCE-1",
        "PatientBirthDate": "19700101",
        "PatientSex": "O",
        "AccessionNumber": "A1",
        "StudyID": "1",
        "ReferringPhysicianName": "",
    }
    g = p.geometry
    out: list[Dataset] = []
    vfa = vfa_signals(p, vfa_angles, vfa_tr)
    slope_v = _slope(vfa)
    uid = generate_uid()
    for i, (angle, vol) in enumerate(zip(vfa_angles, vfa, strict=True)):
        if not vfa_in_one_series:
            uid = generate_uid()
        attrs = _common(
            study,
            "siemens" if vendor == "enhanced" else vendor,
            f"t1_vfa_fa{angle:g}" if not vfa_in_one_series else "t1_vfa",
            3 if vfa_in_one_series else 3 + i,
            uid,
        )
        attrs.update(
            FlipAngle=angle,
            RepetitionTime=vfa_tr * 1000.0,
            AcquisitionTime=_tm(start - 300 + 30 * i),
            AcquisitionDate="20260101",
        )
        for k in range(g.shape[0]):
            out.append(mr_image(vol[k], g, k, attrs, slope_v, i * g.shape[0] + k + 1))
    sig = signal(p, noise_sd)
    slope = _slope([sig])
    dyn = {
        "ContrastBolusAgent": agent,
        "FlipAngle": p.flip,
        "RepetitionTime": p.tr * 1000.0,
        "AcquisitionDate": "20260101",
    }
    if bolus_start_tag:
        dyn["ContrastBolusStartTime"] = _tm(start + p.times[p.injection_phase - 1])
    n_t = p.times.size
    if vendor == "enhanced":
        return out + [_enhanced(sig, p, _common(study, vendor, "t1_vibe_dyn", 10, generate_uid()), dyn, start, slope)]
    series_uid = generate_uid()
    for j in range(n_t):
        if vendor == "siemens_split":
            series_uid = generate_uid()
        attrs = _common(
            study,
            vendor,
            "t1_vibe_dyn" if vendor.startswith("siemens") else "DCE",
            10 + (j if vendor == "siemens_split" else 0),
            series_uid,
        )
        attrs.update(dyn)
        t_abs = start + p.times[j]
        if vendor == "ge":
            attrs.update(
                TemporalPositionIdentifier=j + 1,
                NumberOfTemporalPositions=n_t,
                TriggerTime=p.times[j] * 1000.0,
                AcquisitionTime=_tm(start),
            )
        elif vendor == "philips":
            attrs.update(
                TemporalPositionIdentifier=j + 1,
                NumberOfTemporalPositions=n_t,
                TriggerTime=0.0,
                AcquisitionTime=_tm(t_abs),
            )
        else:
            attrs.update(AcquisitionNumber=j + 1, AcquisitionTime=_tm(t_abs))
        for k in range(g.shape[0]):
            out.append(mr_image(sig[j, k], g, k, attrs, slope, j * g.shape[0] + k + 1))
    return out


def _enhanced(sig: np.ndarray, p: Phantom, attrs: dict, dyn: dict, start: float, slope: float) -> Dataset:
    """One Enhanced MR instance holding every phase and slice (frames ordered phase by phase)."""
    g = p.geometry
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ENHANCED_MR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = ENHANCED_MR
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    for key, value in attrs.items():
        if key not in ("ScanningSequence", "SequenceVariant", "EchoTime"):
            setattr(ds, key, value)
    ds.EchoPulseSequence = "GRADIENT"
    ds.ContrastBolusAgent = dyn["ContrastBolusAgent"]
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = g.frame_of_reference_uid
    n_t, nz = sig.shape[0], g.shape[0]
    ds.NumberOfFrames = n_t * nz
    ds.Rows, ds.Columns = g.shape[1], g.shape[2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    shared = Dataset()
    ori = Dataset()
    ori.ImageOrientationPatient = list(g.orientation)
    meas = Dataset()
    meas.PixelSpacing = list(g.pixel_spacing)
    meas.SliceThickness = g.slice_thickness
    timing = Dataset()
    timing.RepetitionTime = p.tr * 1000.0
    timing.FlipAngle = p.flip
    pvt = Dataset()
    pvt.RescaleSlope = f"{slope:.8g}"
    pvt.RescaleIntercept = "0"
    pvt.RescaleType = "US"
    shared.PlaneOrientationSequence = Sequence([ori])
    shared.PixelMeasuresSequence = Sequence([meas])
    shared.MRTimingAndRelatedParametersSequence = Sequence([timing])
    shared.PixelValueTransformationSequence = Sequence([pvt])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    day = datetime.datetime(2026, 1, 1)
    for j in range(n_t):
        when = day + datetime.timedelta(seconds=start + float(p.times[j]))
        for k in range(nz):
            item = Dataset()
            content = Dataset()
            content.TemporalPositionIndex = j + 1
            content.FrameAcquisitionDateTime = when.strftime("%Y%m%d%H%M%S.%f")
            content.DimensionIndexValues = [j + 1, k + 1]
            pos = Dataset()
            pos.ImagePositionPatient = list(g.positions[k])
            item.FrameContentSequence = Sequence([content])
            item.PlanePositionSequence = Sequence([pos])
            frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    stored = np.clip(np.round(sig / float(pvt.RescaleSlope)), 0, 65535).astype(np.uint16)
    ds.PixelData = stored.reshape(n_t * nz, g.shape[1], g.shape[2]).tobytes()
    return ds


def roundtrip(ds: Dataset) -> Dataset:
    """Write and read back through pydicom (as a stored file would be)."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return pydicom.dcmread(buf)


def series_like(template: Dataset, n: int, **changes: object) -> list[Dataset]:
    """``n`` copies of one image (new UIDs, positions along z), with attributes changed."""
    uid = generate_uid()
    out = []
    for k in range(n):
        ds = pydicom.Dataset(template)
        ds.file_meta = template.file_meta
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = uid
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(k)]
        for key, value in changes.items():
            setattr(ds, key, value)
        out.append(ds)
    return out
