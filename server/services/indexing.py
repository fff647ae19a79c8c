"""Attributes of a dataset that go into the index columns (study, series, instance).

The column names match ``server.db.archive``. Values are strings cleaned for
matching (PS3.18 §8.3.4): person names keep their ``^`` separators and get an
upper-cased copy; numbers that fail to parse become ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from dicomweb.json_model import dataset_to_json
from dicomweb.qido_fields import INSTANCE_DEFAULTS, SERIES_DEFAULTS, STUDY_DEFAULTS

# Attributes returned by QIDO at each level (PS3.18 §10.6.3.3), kept as DICOM JSON on the row.
STUDY_KEYWORDS = (
    "StudyDate", "StudyTime", "AccessionNumber", "ReferringPhysicianName", "PatientName",
    "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
    "StudyID", "StudyDescription", "InstitutionName", "TimezoneOffsetFromUTC", "SpecificCharacterSet",
    "ProcedureCodeSequence",  # sequence matching (dicomweb.qido.SEQUENCE_MATCHABLE)
)
SERIES_KEYWORDS = (
    "Modality", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "SeriesDate",
    "SeriesTime", "BodyPartExamined", "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime", "Laterality", "ProtocolName", "Manufacturer",
    "ManufacturerModelName", "FrameOfReferenceUID", "ImageType", "SpecificCharacterSet",
    "RequestAttributesSequence",
)
# Made by the server from the index, never copied from an instance.
SERVER_MADE = frozenset({"InstanceAvailability", "RetrieveURL", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                         "NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances"})


def _with_defaults(keywords: tuple[str, ...], defaults: tuple[str, ...]) -> tuple[str, ...]:
    """``keywords`` and every default attribute of the level's QIDO table (so the tables cannot drift)."""
    return tuple(dict.fromkeys([*keywords, *(kw for kw in defaults if kw not in SERVER_MADE)]))


STUDY_KEYWORDS = _with_defaults(STUDY_KEYWORDS, STUDY_DEFAULTS)
SERIES_KEYWORDS = _with_defaults(SERIES_KEYWORDS, SERIES_DEFAULTS)
INSTANCE_KEYWORDS = (
    "SOPClassUID", "SOPInstanceUID", "InstanceNumber", "Rows", "Columns", "BitsAllocated",
    "NumberOfFrames", "AcquisitionNumber", "ImageType", "ContentDate", "ContentTime",
)


def _clean(text: str) -> str:
    # NUL is no DICOM character (some writers pad with it); PostgreSQL text cannot hold it.
    return text.replace("\x00", "").strip() if "\x00" in text else text


def _person_name(value: Any) -> str:
    """A DICOM JSON person name back to its DICOM string (groups joined by ``=``)."""
    if not isinstance(value, dict):
        return str(value)
    groups = [str(value.get(g) or "") for g in ("Alphabetic", "Ideographic", "Phonetic")]
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups)


def _text(doc: dict[str, Any], tag: str) -> str:
    """An attribute's value as the index keeps it, read from the instance's DICOM JSON (the
    JSON is made straight from the encoded bytes; asking pydicom would convert every element
    a second time)."""
    element = doc.get(tag)
    values = element.get("Value") if element else None
    if not values:
        return ""
    if element.get("vr") == "PN":
        parts = [_person_name(v) for v in values]
    else:
        parts = ["" if v is None else str(v) for v in values]
    text = parts[0].strip() if len(parts) == 1 else "\\".join(parts)
    return _clean(text)


def _int(doc: dict[str, Any], tag: str) -> int | None:
    element = doc.get(tag)
    values = element.get("Value") if element else None
    if not values or values[0] in (None, ""):
        return None
    try:
        number = int(str(values[0]).strip())
    except (TypeError, ValueError):
        return None
    # IS holds -2**31..2**31-1 (PS3.5 §6.2); the index columns hold no more.
    return number if -(2**31) <= number < 2**31 else None


def _tag(keyword: str) -> str:
    return f"{tag_for_keyword(keyword):08X}"


def _tags(keywords: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{tag_for_keyword(kw):08X}" for kw in keywords)


STUDY_TAGS = _tags(STUDY_KEYWORDS)
SERIES_TAGS = _tags(SERIES_KEYWORDS)
# The stored attributes among the QIDO-RS instance defaults (InstanceAvailability and
# RetrieveURL are made by the server): kept per instance in ``Instance.attributes_json``.
INSTANCE_DEFAULT_KEYWORDS = tuple(kw for kw in INSTANCE_DEFAULTS if kw not in SERVER_MADE)
INSTANCE_TAGS = _tags(INSTANCE_DEFAULT_KEYWORDS)


def subset_json(full: dict[str, Any], tags: tuple[str, ...]) -> dict[str, Any]:
    """The entries of an instance's DICOM JSON that belong to one level."""
    return {t: full[t] for t in tags if t in full}


# The tags of the attributes read into index columns.
_INDEX_TAGS = {kw: _tag(kw) for kw in (
    "PatientName", "StudyInstanceUID", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "AccessionNumber", "StudyID", "StudyDescription", "ReferringPhysicianName", "SeriesInstanceUID", "Modality",
    "SeriesNumber", "SeriesDescription", "SeriesDate", "SeriesTime", "BodyPartExamined",
    "PerformedProcedureStepStartDate", "SOPInstanceUID", "SOPClassUID", "InstanceNumber", "Rows", "Columns",
    "NumberOfFrames",
)}


@dataclass(frozen=True)
class IndexRecord:
    study: dict[str, Any]
    series: dict[str, Any]
    instance: dict[str, Any]
    study_json: dict[str, Any]
    series_json: dict[str, Any]
    instance_json: dict[str, Any]


def extract_index(ds: Dataset, full_json: dict[str, Any] | None = None) -> IndexRecord:
    """Index columns for ``ds``; UIDs are assumed validated by the caller.

    ``full_json`` is the instance's DICOM JSON if already computed (saves a second conversion).
    """
    if full_json is None:
        full_json = dataset_to_json(ds, None)
    doc, T = full_json, _INDEX_TAGS
    patient_name = _text(doc, T["PatientName"])
    study = {
        "study_instance_uid": _text(doc, T["StudyInstanceUID"]),
        "patient_id": _text(doc, T["PatientID"])[:64],
        "patient_name": patient_name[:324],
        "patient_name_upper": patient_name.upper()[:324],
        "patient_birth_date": _text(doc, T["PatientBirthDate"])[:8],
        "patient_sex": _text(doc, T["PatientSex"])[:16],
        "study_date": _text(doc, T["StudyDate"])[:8],
        "study_time": _text(doc, T["StudyTime"])[:16],
        "accession_number": _text(doc, T["AccessionNumber"])[:64],
        "study_id": _text(doc, T["StudyID"])[:16],
        "study_description": _text(doc, T["StudyDescription"])[:64],
        "referring_physician_name": _text(doc, T["ReferringPhysicianName"])[:324],
    }
    series = {
        "series_instance_uid": _text(doc, T["SeriesInstanceUID"]),
        "modality": _text(doc, T["Modality"])[:16],
        "series_number": _int(doc, T["SeriesNumber"]),
        "series_description": _text(doc, T["SeriesDescription"])[:64],
        "series_date": _text(doc, T["SeriesDate"])[:8],
        "series_time": _text(doc, T["SeriesTime"])[:16],
        "body_part_examined": _text(doc, T["BodyPartExamined"])[:16],
        "performed_procedure_step_start_date": _text(doc, T["PerformedProcedureStepStartDate"])[:8],
    }
    instance = {
        "sop_instance_uid": _text(doc, T["SOPInstanceUID"]),
        "sop_class_uid": _text(doc, T["SOPClassUID"])[:64],
        "instance_number": _int(doc, T["InstanceNumber"]),
        "rows": _int(doc, T["Rows"]),
        "columns": _int(doc, T["Columns"]),
        "number_of_frames": (_int(doc, T["NumberOfFrames"]) or 1) if "PixelData" in ds else 0,
    }
    return IndexRecord(
        study=study,
        series=series,
        instance=instance,
        study_json=subset_json(full_json, STUDY_TAGS),
        series_json=subset_json(full_json, SERIES_TAGS),
        instance_json=subset_json(full_json, INSTANCE_TAGS),
    )
