// Small DICOM fixtures the browser tests build with pydicom (shared/data has no series at right angles
// to each other in one frame of reference): run as `python -c CROSS_SERIES <out dir>`.

/** An axial and a sagittal MR series of 20 slices in one frame of reference, plus a Basic Text SR. */
export const CROSS_SERIES = `
import sys, numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid, MRImageStorage
out = sys.argv[1]
study, frame = generate_uid(), generate_uid()
yy, xx = np.mgrid[0:128, 0:128]
def series(name, number, iop, position):
    uid = generate_uid()
    for i in range(20):
        img = ((((xx - 64) ** 2 + (yy - 64) ** 2) < (40 + 10 * np.sin(i / 3)) ** 2) * 800 + (xx % 16 == 0) * 300).astype(np.uint16)
        m = FileMetaDataset(); m.MediaStorageSOPClassUID = MRImageStorage
        m.MediaStorageSOPInstanceUID = generate_uid(); m.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset(); ds.file_meta = m; ds.SOPClassUID = MRImageStorage; ds.SOPInstanceUID = m.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, uid, frame
        ds.PatientName, ds.PatientID, ds.StudyDate, ds.Modality = "CROSS^REFERENCE", "XREF1", "20240101", "MR"
        ds.PatientSex, ds.PatientAge = "F", "054Y"
        ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = name, number, i + 1
        ds.ImageOrientationPatient, ds.ImagePositionPatient = iop, position(i)
        ds.PixelSpacing, ds.SliceThickness = [2, 2], 5
        ds.Rows = ds.Columns = 128; ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16; ds.BitsStored = 16; ds.HighBit = 15; ds.PixelRepresentation = 0
        ds.PixelData = img.tobytes()
        ds.save_as(f"{out}/{name}_{i:03d}.dcm", enforce_file_format=True)
series("axial", 1, [1, 0, 0, 0, 1, 0], lambda i: [-128, -128, -50 + 5 * i])
series("sagittal", 2, [0, 1, 0, 0, 0, -1], lambda i: [-50 + 5 * i, -128, 128])
# A Basic Text SR in the same study: the viewer must say it cannot show it yet, not fail.
from pydicom.sequence import Sequence
def code(value, meaning):
    c = Dataset(); c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, "DCM", meaning
    return Sequence([c])
m = FileMetaDataset(); m.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
m.MediaStorageSOPInstanceUID = generate_uid(); m.TransferSyntaxUID = ExplicitVRLittleEndian
sr = Dataset(); sr.file_meta = m; sr.SOPClassUID = m.MediaStorageSOPClassUID; sr.SOPInstanceUID = m.MediaStorageSOPInstanceUID
sr.StudyInstanceUID, sr.SeriesInstanceUID = study, generate_uid()
sr.PatientName, sr.PatientID, sr.StudyDate, sr.Modality = "CROSS^REFERENCE", "XREF1", "20240101", "SR"
sr.SeriesDescription, sr.SeriesNumber, sr.InstanceNumber = "findings", 3, 1
sr.ValueType, sr.ContinuityOfContent, sr.ConceptNameCodeSequence = "CONTAINER", "SEPARATE", code("121111", "Summary")
item = Dataset(); item.RelationshipType, item.ValueType, item.TextValue = "CONTAINS", "TEXT", "No findings."
item.ConceptNameCodeSequence = code("121071", "Finding")
sr.ContentSequence = Sequence([item])
sr.save_as(f"{out}/report.dcm", enforce_file_format=True)
`;
