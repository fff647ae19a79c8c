"""Build vendor-shaped DICOM series from DRO volumes (test fixtures, written in memory)."""

from __future__ import annotations

import copy

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from quant import Geometry


def _slice(values: np.ndarray, geometry: Geometry, k: int, common: dict, number: int) -> Dataset:
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    for key, value in common.items():
        setattr(ds, key, value)
    ds.Modality = "MR"
    ds.InstanceNumber = number
    ds.ImagePositionPatient = list(geometry.positions[k])
    ds.ImageOrientationPatient = list(geometry.orientation)
    ds.PixelSpacing = list(geometry.pixel_spacing)
    ds.SliceThickness = geometry.slice_thickness
    ds.Rows, ds.Columns = values.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    slope = max(float(np.max(np.abs(values))) / 30000.0, 1e-6)
    ds.RescaleSlope = f"{slope:.8g}"
    ds.RescaleIntercept = "0"
    ds.PixelData = np.round(values / float(ds.RescaleSlope)).astype(np.int16).tobytes()
    return ds


def ge_series(
    dm: np.ndarray,
    m0: np.ndarray,
    geometry: Geometry,
    *,
    pld_ms: float = 1800.0,
    ld_ms: float = 1800.0,
    nex: int = 3,
    st: float = 2.0,
    t1t: float = 1.2,
) -> list[Dataset]:
    """GE 3D pCASL series: PW = NEX-sum ΔM × 32 (PSEUDOCONTINUOUS), then PD (CONTINUOUS)."""
    common = {
        "Manufacturer": "GE MEDICAL SYSTEMS",
        "SeriesDescription": "3D ASL (non-contrast)",
        "StudyInstanceUID": generate_uid(),
        "SeriesInstanceUID": generate_uid(),
        "SeriesNumber": 7,
        "FrameOfReferenceUID": generate_uid(),
        "PatientName": "DRO^GE",
        "PatientID": "DRO-GE",
        "InversionTime": pld_ms,
        "MRAcquisitionType": "3D",
        "MagneticFieldStrength": 3.0,
        "NumberOfAverages": nex,
    }
    pw = dm * nex * 32.0
    pd = m0 * (1.0 - np.exp(-st / t1t))
    out = []
    n = 1
    for volume, contrast, itype in (
        (pw, "PSEUDOCONTINUOUS", ["DERIVED", "PRIMARY", "ASL", "PERFUSION_ASL"]),
        (pd, "CONTINUOUS", ["ORIGINAL", "PRIMARY", "ASL"]),
    ):
        for k in range(volume.shape[0]):
            ds = _slice(volume[k], geometry, k, common, n)
            ds.ImageType = itype
            parm = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
            parm.add_new(0xA3, "CS", contrast)
            parm.add_new(0xA5, "IS", str(int(ld_ms)))
            ds.private_block(0x0027, "GEMS_IMAG_01", create=True).add_new(0x62, "FL", float(nex))
            ds.private_block(0x0019, "GEMS_ACQU_01", create=True).add_new(0x9E, "LO", "3dpcasl")
            out.append(ds)
            n += 1
    return out


def roundtrip(ds: Dataset) -> Dataset:
    """Write and read back through pydicom (as a file would be)."""
    import io

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return pydicom.dcmread(buf)


# --- small synthetic inputs ---------------------------------------------------------------


def small_geometry(nz: int = 4, ny: int = 24, nx: int = 24, spacing: float = 3.0) -> Geometry:
    """An axial grid of ``nz`` slices (arrays indexed z, y, x), 3 mm voxels by default."""
    return Geometry(
        shape=(nz, ny, nx),
        pixel_spacing=(spacing, spacing),
        slice_thickness=spacing,
        orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        positions=tuple((-36.0, -36.0, -6.0 + spacing * k) for k in range(nz)),
        frame_of_reference_uid=generate_uid(),
    )


def head(shape: tuple[int, int, int], radius: float = 0.8) -> np.ndarray:
    """A boolean ellipsoid filling ``radius`` of each in-plane half-axis, all slices."""
    nz, ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    inside = ((y - (ny - 1) / 2) / (radius * ny / 2)) ** 2 + ((x - (nx - 1) / 2) / (radius * nx / 2)) ** 2 <= 1
    return np.broadcast_to(inside, shape).copy()


def set_raw(ds: Dataset, keyword: str, text: str) -> None:
    """Put ``text`` into ``keyword`` as a file would hold it: no validation, no conversion."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    tag = Tag(tag_for_keyword(keyword))
    data = text.encode("utf-8")
    if len(data) % 2:
        data += b"\x00" if dictionary_VR(tag) == "UI" else b" "
    ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(data), data, 0, False, True)


def siemens_mosaics(
    volumes: list[np.ndarray],
    geometry: Geometry,
    ascconv: dict[str, str],
    *,
    description: str,
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"),
    series_number: int = 5,
    study_uid: str | None = None,
    frame_of_reference: str | None = None,
    tr_ms: float = 4000.0,
) -> list[Dataset]:
    """Siemens-shaped mosaics, one per volume, with the protocol as ASCCONV text in (0029,1020).

    No CSA binary headers: the engine reads the slice count from (0019,100A) and the normal
    from ImageOrientationPatient, as it does for exports whose CSA headers were stripped.
    """
    import math

    nz, ny, nx = geometry.shape
    per_row = math.ceil(math.sqrt(nz))
    text = "### ASCCONV BEGIN ###\n" + "".join(f"{k}\t = {v}\n" for k, v in ascconv.items()) + "### ASCCONV END ###"
    study = study_uid or generate_uid()
    series = generate_uid()
    out = []
    for i, vol in enumerate(volumes):
        tiles = np.zeros((per_row * ny, per_row * nx))
        for k in range(nz):
            r, c = divmod(k, per_row)
            tiles[r * ny : (r + 1) * ny, c * nx : (c + 1) * nx] = vol[k]
        # A mosaic's position is the corner of the whole tiled image (see quant.images).
        o = np.asarray(geometry.orientation)
        corner = np.asarray(geometry.positions[0]) - o[:3] * nx * (per_row - 1) / 2 * geometry.pixel_spacing[1]
        corner = corner - o[3:] * ny * (per_row - 1) / 2 * geometry.pixel_spacing[0]
        one = Geometry(
            shape=(1, per_row * ny, per_row * nx),
            pixel_spacing=geometry.pixel_spacing,
            slice_thickness=geometry.slice_thickness,
            orientation=geometry.orientation,
            positions=(tuple(float(v) for v in corner),),
        )
        common = {
            "Manufacturer": "SIEMENS",
            "SeriesDescription": description,
            "ProtocolName": description,
            "StudyInstanceUID": study,
            "SeriesInstanceUID": series,
            "SeriesNumber": series_number,
            "FrameOfReferenceUID": frame_of_reference or geometry.frame_of_reference_uid,
            "PatientName": "SYNTH^SIEMENS",
            "PatientID": "SYNTH-S",
            "StationName": "MRC00000",
            "MRAcquisitionType": "2D",
            "MagneticFieldStrength": 3.0,
            "RepetitionTime": tr_ms,
            "AcquisitionNumber": i + 1,
            "SpacingBetweenSlices": geometry.spacing_between_slices,
        }
        ds = _slice(tiles, one, 0, common, i + 1)
        ds.ImageType = list(image_type)
        ds.add_new((0x0019, 0x0010), "LO", "SIEMENS MR HEADER")
        ds.add_new((0x0019, 0x100A), "US", nz)
        ds.add_new((0x0029, 0x0010), "LO", "SIEMENS CSA HEADER")
        ds.add_new((0x0029, 0x1020), "OB", text.encode("latin-1") + (b" " if len(text) % 2 else b""))
        out.append(ds)
    return out


def philips_series(
    volumes: list[tuple[str, int, int, np.ndarray]],
    geometry: Geometry,
    *,
    description: str,
    trigger_ms: dict[int, float] | None = None,
) -> list[Dataset]:
    """Philips classic files, one per slice: ``volumes`` = (CONTROL/LABEL, phase, dynamic, array)."""
    study, series = generate_uid(), generate_uid()
    out = []
    n = 1
    for label, phase, dyn, vol in volumes:
        common = {
            "Manufacturer": "Philips",
            "SeriesDescription": description,
            "ProtocolName": description,
            "StudyInstanceUID": study,
            "SeriesInstanceUID": series,
            "SeriesNumber": 301,
            "FrameOfReferenceUID": geometry.frame_of_reference_uid,
            "PatientName": "SYNTH^PHILIPS",
            "PatientID": "SYNTH-P",
            "StationName": "PHILIPS-SYNTH",
            "MRAcquisitionType": "2D",
            "MagneticFieldStrength": 3.0,
            "RepetitionTime": 4000.0,
            "TemporalPositionIdentifier": dyn,
            "TriggerTime": (trigger_ms or {}).get(phase, 0.0),
            "ImageType": ["ORIGINAL", "PRIMARY", "M_FFE", "M", "FFE"],
        }
        for k in range(vol.shape[0]):
            ds = _slice(vol[k], geometry, k, common, n)
            ds.private_block(0x2005, "Philips MR Imaging DD 005", create=True).add_new(0x29, "CS", label)
            ds.private_block(0x2001, "Philips Imaging DD 001", create=True).add_new(0x08, "IS", str(phase))
            out.append(ds)
            n += 1
    return out


def ge_easl_series(
    dm_per_delay: list[np.ndarray],
    m0: np.ndarray,
    geometry: Geometry,
    *,
    cvs: tuple[float, float, int, float],
    inversion_ms: list[float] | None = None,
    nex: int = 1,
    st: float = 2.0,
    t1t: float = 1.2,
    study_uid: str | None = None,
) -> list[Dataset]:
    """GE eASL raw series: one PW volume per delay (NEX-sum × 32), then PD, with CV4–CV7 in
    (0019,xxAB–xxAE). ``inversion_ms``: InversionTime per delay (None: CV4 on every image)."""
    base = ge_series(dm_per_delay[0], m0, geometry, nex=nex, st=st, t1t=t1t)
    pw_template = [d for d in base if "PERFUSION_ASL" in d.ImageType]
    pd = [d for d in base if "PERFUSION_ASL" not in d.ImageType]
    study = study_uid or base[0].StudyInstanceUID
    series_uid = base[0].SeriesInstanceUID
    out: list[Dataset] = []
    number = 1
    for k, dm in enumerate(dm_per_delay):
        for s, template in enumerate(pw_template):
            ds = _slice(dm[s] * nex * 32.0, geometry, s, {}, number)
            for elem in template:
                if elem.tag not in ds and elem.tag.group != 0x7FE0:
                    ds.add(copy.deepcopy(elem))
            ds.InversionTime = inversion_ms[k] if inversion_ms else cvs[0]
            out.append(ds)
            number += 1
    for ds in pd:
        ds.InstanceNumber = number
        number += 1
        out.append(ds)
    for ds in out:
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series_uid
        ds.SeriesDescription = "eASL: Raw"
        acqu = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
        acqu.add_new(0x9E, "LO", "easl")
        for element, value in zip((0xAB, 0xAC, 0xAD, 0xAE), cvs, strict=True):
            acqu.add_new(element, "DS", f"{value:g}")
    return out


def ge_map_series(values: np.ndarray, like: Dataset, geometry: Geometry, description: str) -> list[Dataset]:
    """A GE scanner map (DERIVED, no PW flags) on ``geometry``, in the study of ``like``."""
    common = {
        "Manufacturer": "GE MEDICAL SYSTEMS",
        "SeriesDescription": description,
        "StudyInstanceUID": like.StudyInstanceUID,
        "SeriesInstanceUID": generate_uid(),
        "SeriesNumber": 700 + len(description),
        "FrameOfReferenceUID": like.FrameOfReferenceUID,
        "PatientName": like.PatientName,
        "PatientID": like.PatientID,
    }
    out = []
    for k in range(values.shape[0]):
        ds = _slice(values[k], geometry, k, common, k + 1)
        ds.ImageType = ["DERIVED", "PRIMARY", "ASL"]
        out.append(ds)
    return out
