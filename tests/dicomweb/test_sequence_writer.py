"""Sequences encoded by ``dicomweb.sequence_writer`` read back to the same values as pydicom's own
encoding (DICOM JSON of both compared), on every file with sequences we have and on a
Segmentation and SR built by highdicom; what it must not encode is left to pydicom."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicomweb.json_fast import sequence_to_json
from dicomweb.json_model import dataset_to_json
from dicomweb.sequence_writer import encode_sequence, with_encoded_sequences


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _json(data: bytes) -> dict:
    return dataset_to_json(pydicom.dcmread(io.BytesIO(data)), lambda p: "uri:" + p, fast=False)


def _as_explicit(path: str) -> Dataset | None:
    try:
        ds = pydicom.dcmread(path)
    except Exception:
        return None
    if not hasattr(ds, "file_meta") or "SOPInstanceUID" not in ds or ds.file_meta.get("TransferSyntaxUID") != \
            ExplicitVRLittleEndian:
        return None
    for elem in list(ds.iterall()):  # convert every raw element: the writer sees built data sets
        _ = elem.value
    return ds


def _mr_sources(n: int = 4) -> list[Dataset]:
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    out = []
    for k in range(n):
        ds = Dataset()
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = pydicom.uid.MRImageStorage, generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "MR", "A^B", "1", "", "O"
        ds.StudyDate, ds.StudyTime, ds.StudyID = "20240101", "1200", ""
        ds.AccessionNumber, ds.ReferringPhysicianName = "", ""
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.Rows = ds.Columns = 16
        ds.PixelSpacing, ds.SliceThickness = [1.5, 1.5], 3.0
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-12.0, -12.0, 3.0 * k]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = np.zeros((16, 16), np.uint16).tobytes()
        out.append(ds)
    return out


def _seg_and_sr() -> list[Dataset]:
    sources = _mr_sources()
    mask = np.zeros((4, 16, 16, 2), dtype=bool)
    mask[:, 2:8, 2:8, 0] = True
    mask[1:3, 6:12, 6:12, 1] = True
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n, segment_label=f"region {n}", segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=codes.SCT.Brain, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for n in (1, 2)
    ]
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=mask, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=generate_uid(), series_number=2,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer="Cirrus", manufacturer_model_name="test",
        software_versions="1", device_serial_number="0", transfer_syntax_uid=ExplicitVRLittleEndian,
    )
    groups = [
        hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=f"r{n}"),
            referenced_segment=hd.sr.ReferencedSegment(
                sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID, segment_number=n,
                source_series=hd.sr.SourceSeriesForSegmentation(str(sources[0].SeriesInstanceUID)),
            ),
            finding_type=codes.SCT.Brain,
            measurements=[hd.sr.Measurement(name=codes.DCM.AbsoluteRegionalBloodFlow, value=40.0 + n / 3,
                                            unit=hd.sr.CodedConcept("ml/(100.g.min)", "UCUM", "ml/100g/min"))],
        )
        for n in (1, 2)
    ]
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name="Doe^J"))),
        procedure_reported=codes.DCM.PerfusionAnalysisByArterialSpinLabelingMRTechnique, imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(evidence=[seg], content=report, series_instance_uid=generate_uid(), series_number=3,
                                 sop_instance_uid=generate_uid(), instance_number=1, manufacturer="Cirrus")
    return [seg, sr]


def test_highdicom_seg_and_sr_read_back_the_same_and_stay_valid() -> None:
    for ds in _seg_and_sr():
        fast = with_encoded_sequences(ds, min_items=1)
        assert fast is not ds, "the sequences should have been encoded here"
        data = _bytes(fast)
        assert _json(data) == _json(_bytes(ds))
    seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(io.BytesIO(_bytes(with_encoded_sequences(
        _seg_and_sr()[0], min_items=1)))))
    assert seg.number_of_segments == 2


def test_every_explicit_file_with_sequences_reads_back_the_same() -> None:
    compared = encoded = 0
    for path in get_testdata_files("*"):
        ds = _as_explicit(path)
        if ds is None or not any(e.VR == "SQ" for e in ds.elements()):
            continue
        try:
            expected = _json(_bytes(ds))
        except Exception:
            continue  # pydicom cannot write it either
        fast = with_encoded_sequences(ds, min_items=1)
        encoded += fast is not ds
        assert _json(_bytes(fast)) == expected, path
        compared += 1
    assert compared >= 10 and encoded >= 5, (compared, encoded)


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("PatientName", "Yamada^Tarou=山田^太郎"),  # component groups, non-ASCII
        ("CodeMeaning", "Ödem"),  # non-ASCII text
        ("EncapsulatedDocument", b"\x00\x01"),  # a binary VR that may be bulk data
        ("FrameIncrementPointer", 0x00181063),  # AT
    ],
)
def test_values_it_must_not_encode_are_left_to_pydicom(keyword: str, value: object) -> None:
    item = Dataset()
    setattr(item, keyword, value)
    assert encode_sequence([item]) is None


def test_the_fast_json_of_the_sequences_read_back_is_pydicoms() -> None:
    """``json_fast.sequence_to_json`` (STOW's path for raw sequences) on the objects written here."""
    for ds in _seg_and_sr():
        data = _bytes(with_encoded_sequences(ds, min_items=1))
        fast_ds = pydicom.dcmread(io.BytesIO(data), defer_size=1024)
        raws = [e for e in fast_ds.elements() if isinstance(e, RawDataElement) and e.VR == "SQ"]
        # Handled here; those holding an AT (the SEG's dimension index pointers) are pydicom's.
        assert sum(sequence_to_json(fast_ds.get_item(e.tag, keep_deferred=True)) is not None for e in raws
                   if e.value is not None) >= 3
        assert dataset_to_json(fast_ds, lambda p: "uri:" + p) == _json(data)
