"""Index columns read from the instance's DICOM JSON equal what pydicom's own values give, on
every file we have (pydicom's test files and the shared scanner data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
from pydicom.data import get_testdata_files
from pydicom.dataset import Dataset

from dicomweb.json_model import dataset_to_json
from server.services.indexing import extract_index

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def _value_text(ds: Dataset, keyword: str) -> str:
    """The reference: the attribute's value as pydicom gives it, as text."""
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value).strip()
    return text.replace("\x00", "").strip() if "\x00" in text else text


def _value_int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if -(2**31) <= number < 2**31 else None


TEXT = {
    "study": {"study_instance_uid": "StudyInstanceUID", "patient_id": "PatientID", "patient_name": "PatientName",
              "patient_birth_date": "PatientBirthDate", "patient_sex": "PatientSex", "study_date": "StudyDate",
              "study_time": "StudyTime", "accession_number": "AccessionNumber", "study_id": "StudyID",
              "study_description": "StudyDescription", "referring_physician_name": "ReferringPhysicianName"},
    "series": {"series_instance_uid": "SeriesInstanceUID", "modality": "Modality",
               "series_description": "SeriesDescription", "series_date": "SeriesDate", "series_time": "SeriesTime",
               "body_part_examined": "BodyPartExamined",
               "performed_procedure_step_start_date": "PerformedProcedureStepStartDate"},
    "instance": {"sop_instance_uid": "SOPInstanceUID", "sop_class_uid": "SOPClassUID"},
}
INTS = {"series": {"series_number": "SeriesNumber"},
        "instance": {"instance_number": "InstanceNumber", "rows": "Rows", "columns": "Columns"}}


def _files() -> list[str]:
    files = [f for f in get_testdata_files("*") if not f.endswith((".py", ".txt", ".json", ".gz", ".bz2", ".xz"))]
    return files + sorted(str(p) for p in SHARED.rglob("*.dcm"))[:200]


def _expected(ds: Dataset, level: str, column: str) -> Any:
    if column in TEXT.get(level, {}):
        return _value_text(ds, TEXT[level][column])
    return _value_int(ds, INTS[level][column])


def test_index_columns_from_json_equal_pydicom_values() -> None:
    compared = names = 0
    for path in _files():
        try:
            ds = pydicom.dcmread(path, defer_size=1024, force=True)
            doc = dataset_to_json(ds, None)
            reference = pydicom.dcmread(path, defer_size=1024, force=True)
            expected_values = {(lvl, col): _expected(reference, lvl, col)
                               for lvl in ("study", "series", "instance")
                               for col in (*TEXT.get(lvl, {}), *INTS.get(lvl, {}))}
        except Exception:
            continue  # files pydicom itself cannot convert are refused at STOW before indexing
        rec = extract_index(ds, doc)
        for (level, column), want in expected_values.items():
            got = getattr(rec, level)[column]
            if isinstance(want, str):
                limit = {"patient_id": 64, "patient_name": 324, "patient_birth_date": 8, "patient_sex": 16,
                         "study_date": 8, "study_time": 16, "accession_number": 64, "study_id": 16,
                         "study_description": 64, "referring_physician_name": 324, "modality": 16,
                         "series_description": 64, "series_date": 8, "series_time": 16, "body_part_examined": 16,
                         "performed_procedure_step_start_date": 8, "sop_class_uid": 64}.get(column)
                want = want[:limit] if limit else want
            assert got == want, (path, level, column, got, want)
        assert rec.study["patient_name_upper"] == rec.study["patient_name"].upper()
        names += bool(rec.study["patient_name"])
        compared += 1
    assert compared > 150 and names > 100


def test_person_names_with_several_groups_and_values() -> None:
    ds = Dataset()
    ds.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    ds.ReferringPhysicianName = ["Doe^John", "=Roe^Jane"]
    ds.PatientID = "ID\x00"
    ds.InstanceNumber = "3000000000"  # beyond IS: no number in the index
    rec = extract_index(ds, dataset_to_json(ds, None))
    assert rec.study["patient_name"] == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert rec.study["referring_physician_name"] == "Doe^John\\=Roe^Jane"
    assert rec.study["patient_id"] == "ID"
    assert rec.instance["instance_number"] is None
