"""What a QIDO-RS result carries: the default attributes of each level as data (PS3.18 §10.6.3.3).

The tables are PS3.18 Table 10.6.3-3 (study), 10.6.3-4 (series) and 10.6.3-5
(instance) — Tables 6.7.1-2, 6.7.1-2a and 6.7.1-2b in editions before 2016.
Each result carries the default attributes of the levels it reports
(:attr:`dicomweb.qido.QidoQuery.returned_levels`), the matching keys, and the
includefield attributes of its own or a higher level ("Series or Instance Level
Attributes contained in includefield parameters shall not be returned" at study
level, and so on). Attributes of type C ("shall be present if known") and every
includefield attribute are returned when the stored object has them; Cirrus
never invents values.

Private data elements asked for with includefield are found through their
Private Creator (:func:`private_entries`).
"""

from __future__ import annotations

from typing import Any

from pydicom.datadict import tag_for_keyword

from dicomweb.qido import MATCHABLE, PrivateField, QidoQuery, QueryLevel

__all__ = [
    "DEFAULTS",
    "INSTANCE_DEFAULTS",
    "SERIES_DEFAULTS",
    "SERIES_LEVEL",
    "STUDY_DEFAULTS",
    "STUDY_LEVEL",
    "attribute_level",
    "keyword_tag",
    "private_entries",
    "return_keywords",
]

# PS3.18 Table 10.6.3-3 "Study Resource Search Response Payload".
STUDY_DEFAULTS: tuple[str, ...] = (
    "SpecificCharacterSet",  # C: if known
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "InstanceAvailability",  # C: if known
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "TimezoneOffsetFromUTC",  # C: if known
    "RetrieveURL",  # C: if retrievable
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)

# PS3.18 Table 10.6.3-4 "Series Resources Search Response Payload".
SERIES_DEFAULTS: tuple[str, ...] = (
    "SpecificCharacterSet",  # C: if known
    "Modality",
    "TimezoneOffsetFromUTC",  # C: if known
    "SeriesDescription",  # C: if known
    "RetrieveURL",
    "SeriesInstanceUID",
    "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
    "PerformedProcedureStepStartDate",  # C: if known
    "PerformedProcedureStepStartTime",  # C: if known
    "RequestAttributesSequence",  # C: if known (>ScheduledProcedureStepID, >RequestedProcedureID)
)

# PS3.18 Table 10.6.3-5 "Instance Resources Search Response Payload".
INSTANCE_DEFAULTS: tuple[str, ...] = (
    "SpecificCharacterSet",  # C: if known
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceAvailability",  # C: if known
    "TimezoneOffsetFromUTC",  # C: if known
    "RetrieveURL",
    "InstanceNumber",
    "Rows",  # C: if known
    "Columns",  # C: if known
    "BitsAllocated",  # C: if known
    "NumberOfFrames",  # C: if known
)

DEFAULTS: dict[QueryLevel, tuple[str, ...]] = {
    QueryLevel.STUDY: STUDY_DEFAULTS,
    QueryLevel.SERIES: SERIES_DEFAULTS,
    QueryLevel.INSTANCE: INSTANCE_DEFAULTS,
}

# Attributes of the Patient and Study levels (PS3.4 C.6.1.1.2, C.6.1.1.3, C.6.2.1.2 and the Patient /
# General Study / Patient Study modules of PS3.3 C.7.1.1, C.7.2.1, C.7.2.2) and of the Series level
# (C.6.1.1.4; General Series, Frame of Reference, General Equipment modules): an includefield attribute
# of a lower level than the resource is not returned (§10.6.3.3). Anything else is instance level.
STUDY_LEVEL: frozenset[str] = frozenset(
    {
        *STUDY_DEFAULTS,
        "PatientName", "PatientID", "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence",
        "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthDate", "PatientBirthTime",
        "PatientSex", "PatientAge", "PatientSize", "PatientWeight", "PatientComments", "EthnicGroup",
        "PatientSpeciesDescription", "PatientBreedDescription", "ResponsiblePerson",
        "PatientIdentityRemoved", "DeidentificationMethod", "StudyDescription",
        "ProcedureCodeSequence", "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord",
        "AdmittingDiagnosesDescription", "AdditionalPatientHistory", "Occupation",
        "ReferencedStudySequence", "ReferencedPatientSequence", "IssuerOfAccessionNumberSequence",
        "StudyIDIssuer", "OtherStudyNumbers", "InstitutionName", "NumberOfPatientRelatedStudies",
        "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances", "SOPClassesInStudy",
        "AdmissionID", "MedicalAlerts", "Allergies", "PregnancyStatus",
    }
)
SERIES_LEVEL: frozenset[str] = frozenset(
    {
        *SERIES_DEFAULTS,
        "SeriesDate", "SeriesTime", "BodyPartExamined", "Laterality", "ProtocolName",
        "PerformingPhysicianName", "OperatorsName", "PatientPosition", "SmallestPixelValueInSeries",
        "LargestPixelValueInSeries", "PerformedProcedureStepID", "PerformedProcedureStepDescription",
        "SeriesType", "AnatomicalOrientationType", "FrameOfReferenceUID",
        "PositionReferenceIndicator", "Manufacturer", "ManufacturerModelName", "StationName",
        "InstitutionalDepartmentName", "DeviceSerialNumber", "SoftwareVersions",
        "ReferencedPerformedProcedureStepSequence", "RelatedSeriesSequence",
    }
)


def attribute_level(keyword: str) -> QueryLevel:
    """The information entity level ``keyword`` belongs to (instance when not study or series)."""
    if keyword in MATCHABLE:
        return MATCHABLE[keyword]
    if keyword in STUDY_LEVEL:
        return QueryLevel.STUDY
    if keyword in SERIES_LEVEL:
        return QueryLevel.SERIES
    return QueryLevel.INSTANCE


def return_keywords(query: QidoQuery) -> frozenset[str]:
    """Keywords each result of ``query`` carries when the object has them (``includefield=all``
    adds every stored attribute of the returned levels on top of these)."""
    out: set[str] = set()
    for level in query.returned_levels:
        out.update(DEFAULTS[level])
    out.update(kw for kw in query.include_fields if attribute_level(kw).value <= query.level.value)
    return frozenset(out)


def keyword_tag(keyword: str) -> str:
    """The DICOM JSON key (8 hex digits) of ``keyword``."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return f"{tag:08X}"


def _creator_value(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    values = entry.get("Value")
    if not values or not isinstance(values[0], str):
        return None
    return values[0].strip()


def private_entries(dataset: dict[str, Any], field: PrivateField) -> dict[str, Any]:
    """The DICOM JSON entries of ``dataset`` that answer an includefield private element.

    With a creator named (``00230010=AcmeCompany&includefield=00231002``) the element is
    looked up in whatever block that creator holds in this dataset; without one, the block
    of the request is used as is. The Private Creator element is returned with it
    (§10.6.3.3: "the Private Data Element and its corresponding Private Creator Element").
    """
    group = f"{field.group:04X}"
    block: int | None = field.block
    if field.creator is not None:
        block = None
        for candidate in range(0x10, 0x100):
            if _creator_value(dataset.get(f"{group}00{candidate:02X}")) == field.creator:
                block = candidate
                break
        if block is None:
            return {}
    out: dict[str, Any] = {}
    creator_key = f"{group}00{block:02X}"
    if field.element is not None:
        element_key = f"{group}{block:02X}{field.element:02X}"
        if element_key not in dataset:
            return {}  # nothing asked for is here: no orphan creator either
        out[element_key] = dataset[element_key]
    if creator_key in dataset:
        out[creator_key] = dataset[creator_key]
    return out
