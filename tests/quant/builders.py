"""Build vendor-shaped DICOM series from DRO volumes (test fixtures, written in memory)."""

from __future__ import annotations

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
