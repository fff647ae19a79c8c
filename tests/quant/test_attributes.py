"""Invalid demographic and descriptive values never fail the derived objects; they are cleaned per
VR and the result says what was changed."""

from __future__ import annotations

import dataclasses
import io

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom import config

from quant import build_derived_datasets, classify_study, quantify
from quant.attributes import age_between, clean_value
from quant.derived import MR_KEYWORDS, PATIENT_STUDY_KEYWORDS
from tests.quant.builders import ge_series, head, roundtrip, set_raw, small_geometry


@pytest.fixture()
def strict_writing():
    """pydicom refuses invalid values while writing (the default only warns)."""
    before = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.RAISE
    yield
    config.settings.writing_validation_mode = before


def ge_case(**raw: str):
    """A GE-like 3D pCASL series (PW + PD) with ``raw`` values written as a file would hold them."""
    g = small_geometry()
    brain = head(g.shape)
    m0 = np.where(brain, 1000.0, 0.0)
    series = ge_series(np.where(brain, 8.0, 0.0), m0, g, nex=3)
    for ds in series:
        for keyword, text in raw.items():
            set_raw(ds, keyword, text)
    return [roundtrip(ds) for ds in series]


def written(ds: pydicom.Dataset) -> pydicom.Dataset:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize(
    ("keyword", "value", "expected"),
    [
        ("PatientSex", "0", None),
        ("PatientSex", "female", "F"),
        ("PatientSex", "o", "O"),
        ("PatientAge", "0", None),
        ("PatientAge", "45", "045Y"),
        ("PatientAge", "7 m", "007M"),
        ("PatientAge", "999", None),
        ("PatientBirthDate", "1975-03-09", "19750309"),
        ("PatientBirthDate", "19750230", None),
        ("StudyDate", "2024.1.5", "20240105"),
        ("StudyTime", "14:03:59", "140359"),
        ("StudyTime", "14:03:59.1234567", "140359.123456"),
        ("StudyTime", "250000", None),
        ("RepetitionTime", "abc", None),
        ("RepetitionTime", "4550.000000000001", "4550"),
        ("EchoTrainLength", "12.0", "12"),
        ("EchoTrainLength", "1.5", None),
        ("MagneticFieldStrength", "inf", None),
        ("StudyInstanceUID", "1.2.3.abc", None),
        ("StudyInstanceUID", "1.2.03.4", None),
        ("MRAcquisitionType", "3d", "3D"),
        ("BodyPartExamined", "head-neck", None),
        ("PatientPosition", "hfs", "HFS"),
        ("StudyID", "x" * 20, "x" * 16),
        ("PatientID", "ID\x07 42", "ID 42"),
        ("PatientName", "A" * 70 + "^B", "A" * 64),  # a component group holds 64 characters
    ],
)
def test_clean_value_table(keyword: str, value: str, expected: str | None) -> None:
    cleaned = clean_value(keyword, value)
    assert cleaned.value == expected
    assert cleaned.note.startswith(keyword)  # every change is reported, naming the attribute


def test_valid_values_pass_unchanged() -> None:
    for keyword, value in (("PatientSex", "M"), ("PatientAge", "049Y"), ("StudyDate", "20240131"),
                           ("StudyTime", "120000.5"), ("EchoTime", "12.5"), ("PatientName", "Doe^Jane"),
                           ("PatientAge", "200Y")):  # valid AS format is kept as written
        cleaned = clean_value(keyword, value)
        assert (cleaned.value, cleaned.note) == (value, "")


def test_multi_valued_keeps_the_valid_values() -> None:
    cleaned = clean_value("ScanningSequence", ["EP", "XX"])
    assert cleaned.value == "EP" and "'XX' is invalid" in cleaned.note
    assert clean_value("StudyDescription", ["Brain", "ASL"]).value == "Brain / ASL"


def test_age_from_dates() -> None:
    assert age_between("19750309", "20240308") == "048Y"
    assert age_between("20240101", "20240115") == "014D"
    assert age_between("20240101", "20240220") == "007W"
    assert age_between("20230101", "20240101") == "012M"
    assert age_between("20240101", "20230101") is None


def test_ge_pcasl_with_patient_sex_and_age_zero(strict_writing) -> None:
    """The export that failed the whole analysis: PatientSex '0', PatientAge '0'."""
    series = ge_case(PatientSex="0", PatientAge="0")
    (acq,) = classify_study(series)
    result = quantify(acq)
    derived = build_derived_datasets(result, acq)
    assert {d.SOPClassUID for d in derived} >= {"1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.30"}
    notes = [w for w in result.warnings if w.startswith("derived objects:")]
    assert any("PatientSex '0' is invalid (allowed: F, M, O): left out" in w for w in notes)
    assert any("PatientAge '0' is invalid" in w for w in notes)
    for ds in derived:
        back = written(ds)  # strict writing: every value is valid
        assert back.PatientSex == ""
        assert "PatientAge" not in back
    pm = next(d for d in derived if d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30")
    hd.pm.ParametricMap.from_dataset(written(pm))
    # Building twice does not repeat the notes.
    build_derived_datasets(result, acq)
    assert len([w for w in result.warnings if w.startswith("derived objects:")]) == len(notes)


def test_invalid_age_is_computed_from_birth_and_study_date() -> None:
    series = ge_case(PatientAge="0", PatientBirthDate="1975-03-09", StudyDate="20240308")
    (acq,) = classify_study(series)
    result = quantify(acq)
    derived = build_derived_datasets(result, acq)
    with_age = [d for d in derived if d.SOPClassUID != "1.2.840.10008.5.1.4.1.1.7"]  # SC has no Patient Study
    assert {d.PatientAge for d in with_age} == {"048Y"} and {str(d.PatientBirthDate) for d in derived} == {"19750309"}
    assert any("written as '048Y' (from PatientBirthDate and StudyDate)" in w for w in result.warnings)


# Invalid values as real exports carry them, per copied attribute (VR in the comment).
SWEEP: dict[str, list[str]] = {
    "PatientName": ["x" * 80, "A^B^C^D^E^F^G", "bad\x01name"],  # PN
    "PatientID": ["y" * 70, "id\\with\\backslash"],  # LO
    "PatientBirthDate": ["0", "1975-13-40", "unknown"],  # DA
    "PatientSex": ["0", "U", "MALE_X", "1"],  # CS, enumerated
    "PatientAge": ["0", "abc", "1000Y", "45 years"],  # AS
    "StudyDate": ["2024-02-30", "0", "today"],  # DA
    "StudyTime": ["25:00:00", "1261", "noon"],  # TM
    "StudyID": ["s" * 30],  # SH
    "AccessionNumber": ["a" * 20, "acc\x02"],  # SH
    "ReferringPhysicianName": ["r" * 70],  # PN
    "StudyDescription": ["d" * 100, "a\\b\\c"],  # LO
    "IssuerOfPatientID": ["i" * 90],  # LO
    "ScanningSequence": ["XX", "EP\\ZZ", "e p"],  # CS, enumerated
    "SequenceVariant": ["QQ", "SK\\??"],  # CS, enumerated
    "ScanOptions": ["FC/GEMS", "x" * 20],  # CS
    "MRAcquisitionType": ["4D", "3dd"],  # CS, enumerated
    "EchoTime": ["abc", "nan", "1.23456789012345678"],  # DS
    "RepetitionTime": ["-", "1e999", "4550.0000000000001"],  # DS
    "EchoTrainLength": ["1.5", "many", "99999999999999"],  # IS
    "MagneticFieldStrength": ["3T", "nan"],  # DS
    "BodyPartExamined": ["BRAIN/HEAD", "b" * 20],  # CS
    "PatientPosition": ["head first", "hfs?"],  # CS
    "SeriesNumber": ["x", "1.5", "99999999999"],  # IS
    "FrameOfReferenceUID": ["1.2.abc", "1." + "2" * 70, "1.02.3"],  # UI
    "StudyInstanceUID": ["1.2.abc", "1.02.3"],  # UI
}


def test_sweep_covers_every_copied_attribute() -> None:
    copied = set(PATIENT_STUDY_KEYWORDS) | set(MR_KEYWORDS) | {"SeriesNumber", "FrameOfReferenceUID"}
    assert copied <= set(SWEEP), sorted(copied - set(SWEEP))


@pytest.mark.parametrize(("keyword", "value"), [(k, v) for k, values in SWEEP.items() for v in values])
def test_sweep_invalid_values_never_fail(keyword: str, value: str, strict_writing) -> None:
    series = ge_case(**{keyword: value})
    (acq,) = classify_study(series)
    result = quantify(acq)
    derived = build_derived_datasets(result, acq)
    assert len(derived) == 2 * acq.geometry.shape[0] + 1
    notes = [w for w in result.warnings if w.startswith("derived objects:")]
    assert any(keyword in w for w in notes), (keyword, value, result.warnings)
    study_uids = set()
    for ds in derived:
        back = written(ds)
        study_uids.add(back.StudyInstanceUID)
        assert pydicom.uid.UID(back.StudyInstanceUID).is_valid
        if "FrameOfReferenceUID" in back:
            assert pydicom.uid.UID(back.FrameOfReferenceUID).is_valid
    assert len(study_uids) == 1  # all derived objects stay in one study
    pm = next(d for d in derived if d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30")
    hd.pm.ParametricMap.from_dataset(written(pm))


def test_non_ascii_names_are_written_as_utf8(strict_writing) -> None:
    series = ge_case()
    for ds in series:
        ds.SpecificCharacterSet = "GB18030"
        ds.PatientName = "张^三"
    series = [roundtrip(ds) for ds in series]
    (acq,) = classify_study(series)
    result = quantify(acq)
    derived = build_derived_datasets(result, acq)
    back = written(derived[0])
    assert back.SpecificCharacterSet == "ISO_IR 192" and str(back.PatientName) == "张^三"
    assert not [w for w in result.warnings if w.startswith("derived objects:")]


def test_source_references_with_invalid_uids_are_left_out() -> None:
    series = ge_case()
    (acq,) = classify_study(series)
    bad = dataclasses.replace(acq, source_images=[(c, "1.2.abc") for c, _ in acq.source_images[:3]]
                              + acq.source_images[3:])
    result = quantify(bad)
    derived = build_derived_datasets(result, bad)
    refs = {r.ReferencedSOPInstanceUID for d in derived if "SourceImageSequence" in d for r in d.SourceImageSequence}
    assert "1.2.abc" not in refs
    assert any("invalid SOP Class or Instance UID are not referenced" in w for w in result.warnings)
