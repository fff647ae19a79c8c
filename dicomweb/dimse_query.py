"""C-FIND / C-MOVE / C-GET identifiers as QIDO expressions, and QIDO results as C-FIND responses.

A Query/Retrieve identifier (PS3.4 C.4.1.1.3, C.6) is another spelling of a QIDO-RS search:
each attribute with a value is a matching key, each empty one a return key. The matching
rules are the same (PS3.4 C.2.2.2: single value, UID list, wildcard, range, universal), so
the identifier is written as QIDO parameters and read by :func:`dicomweb.qido.parse_query`;
the server then answers it with the very SQL that answers QIDO-RS.

Levels::

    PATIENT  (Patient Root only)  a study search whose results are grouped per patient
    STUDY                         QIDO study level
    SERIES                        QIDO series level
    IMAGE                         QIDO instance level

Keys of a level below the query level cannot be matched or returned (hierarchical search,
C.4.1.1.3.1): they are left out. Keys the index cannot match (optional keys, C.2.2.1.2) are
returned when stored but do not restrict the search, as the standard allows. Sequence and
private attributes are neither matched nor returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomweb.errors import InvalidQuery
from dicomweb.json_model import tag_hex
from dicomweb.qido import MATCHABLE, QidoQuery, QueryLevel, parse_query

__all__ = [
    "FindRequest",
    "InformationModel",
    "RetrieveLevel",
    "find_request",
    "patient_results",
    "response_identifier",
    "retrieve_query",
]


class InformationModel(StrEnum):
    """The Query/Retrieve information model of the presentation context (PS3.4 C.6)."""

    PATIENT_ROOT = "patient"
    STUDY_ROOT = "study"


class RetrieveLevel(StrEnum):
    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


QIDO_LEVEL = {
    RetrieveLevel.PATIENT: QueryLevel.STUDY,
    RetrieveLevel.STUDY: QueryLevel.STUDY,
    RetrieveLevel.SERIES: QueryLevel.SERIES,
    RetrieveLevel.IMAGE: QueryLevel.INSTANCE,
}
# The level each unique key identifies (PS3.4 C.6.1.1 / C.6.2.1).
UNIQUE_KEYS: dict[str, RetrieveLevel] = {
    "PatientID": RetrieveLevel.PATIENT,
    "StudyInstanceUID": RetrieveLevel.STUDY,
    "SeriesInstanceUID": RetrieveLevel.SERIES,
    "SOPInstanceUID": RetrieveLevel.IMAGE,
}
_ORDER = [RetrieveLevel.PATIENT, RetrieveLevel.STUDY, RetrieveLevel.SERIES, RetrieveLevel.IMAGE]
# Patient attributes of a patient-level response; everything else of a study row is study level.
PATIENT_KEYWORDS = frozenset({
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex", "OtherPatientIDs",
    "PatientBirthTime", "EthnicGroup", "PatientComments",
})
_PATIENT_JSON_KEYS = frozenset(
    tag_hex(tag) for k in (*PATIENT_KEYWORDS, "SpecificCharacterSet") if (tag := tag_for_keyword(k)) is not None
)
PATIENT_COUNTS = {
    "NumberOfPatientRelatedStudies": None,
    "NumberOfPatientRelatedSeries": "NumberOfStudyRelatedSeries",
    "NumberOfPatientRelatedInstances": "NumberOfStudyRelatedInstances",
}
# Neither matched nor returned from the index: they describe the message, not the entity.
NOT_KEYS = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet", "TimezoneOffsetFromUTC"})


@dataclass(frozen=True)
class FindRequest:
    """A C-FIND identifier read as a QIDO query; ``return_keywords`` in the identifier's order."""

    level: RetrieveLevel
    query: QidoQuery
    return_keywords: tuple[str, ...]


def _level(identifier: Dataset, model: InformationModel) -> RetrieveLevel:
    raw = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if not raw:
        raise InvalidQuery("the identifier has no QueryRetrieveLevel")
    try:
        level = RetrieveLevel(raw)
    except ValueError:
        raise InvalidQuery(f"QueryRetrieveLevel {raw!r} is not PATIENT, STUDY, SERIES or IMAGE") from None
    if level is RetrieveLevel.PATIENT and model is InformationModel.STUDY_ROOT:
        raise InvalidQuery("QueryRetrieveLevel PATIENT is not part of the Study Root information model")
    return level


def _text(elem: DataElement) -> str:
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip("\x00 ")
    return str(value)


def _keys(identifier: Dataset) -> Iterable[tuple[str, str]]:
    """(keyword, value) of the identifier's standard, non-sequence attributes."""
    for elem in identifier:
        if elem.tag.is_private or elem.tag.group in (0x0000, 0x0002) or elem.VR == "SQ":
            continue
        keyword = elem.keyword
        if not keyword or keyword in NOT_KEYS:
            continue
        yield keyword, _text(elem).strip()


def _level_of(keyword: str) -> QueryLevel | None:
    return MATCHABLE.get(keyword)


def find_request(identifier: Dataset, model: InformationModel) -> FindRequest:
    """Read a C-FIND identifier (PS3.4 C.4.1.1.3) as a QIDO query at the matching level."""
    level = _level(identifier, model)
    qido_level = QIDO_LEVEL[level]
    params: list[tuple[str, str]] = []
    returned: list[str] = []
    include: list[str] = []
    for keyword, value in _keys(identifier):
        attr_level = _level_of(keyword)
        if attr_level is not None and attr_level.value > qido_level.value:
            continue  # below the query level: not a key of this search
        returned.append(keyword)
        if attr_level is not None:
            params.append((keyword, value))
        else:
            include.append(keyword)
    if include:
        params.append(("includefield", ",".join(include)))
    query = parse_query(qido_level, params, unsupported="ignore")
    return FindRequest(level, query, tuple(returned))


def retrieve_query(identifier: Dataset, model: InformationModel) -> QidoQuery:
    """The instances a C-MOVE / C-GET identifier names (PS3.4 C.4.2.1.4, C.4.3.1.3), as an
    instance-level QIDO query over its unique keys (a list of UIDs is allowed)."""
    level = _level(identifier, model)
    depth = _ORDER.index(level)
    params = []
    for keyword, value in _keys(identifier):
        key_level = UNIQUE_KEYS.get(keyword)
        if key_level is None or _ORDER.index(key_level) > depth or not value:
            continue
        params.append((keyword, value))
    wanted = [k for k, lv in UNIQUE_KEYS.items() if lv is level]
    if not any(k == wanted[0] for k, _ in params):
        raise InvalidQuery(f"a {level.value} level retrieve needs {wanted[0]}")
    if any("*" in v or "?" in v for k, v in params if k != "PatientID"):
        raise InvalidQuery("a retrieve names its instances by UID: wildcards are not allowed")
    return parse_query(QueryLevel.INSTANCE, params)


def _empty_element(keyword: str) -> DataElement:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return DataElement(tag, dictionary_VR(tag), None)


def _from_json(item: dict[str, Any]) -> Dataset:
    return Dataset.from_json(item, bulk_data_uri_handler=lambda *_args: b"")


def response_identifier(
    item: dict[str, Any], request: FindRequest, retrieve_ae_title: str | None = None
) -> Dataset:
    """One C-FIND pending response identifier from a QIDO DICOM JSON result: every requested
    key, empty when the entity has no value (PS3.4 C.4.1.1.3.2), and nothing else but the
    level, the character set and where to retrieve from."""
    found = _from_json(item)
    out = Dataset()
    charset = found.get("SpecificCharacterSet")
    if charset:
        out.SpecificCharacterSet = charset
    out.QueryRetrieveLevel = request.level.value
    for keyword in request.return_keywords:
        elem = found.data_element(keyword) if keyword in found else None
        out[keyword] = elem if elem is not None else _empty_element(keyword)
    if retrieve_ae_title is not None:
        out.RetrieveAETitle = retrieve_ae_title
    return out


def _json_value(item: dict[str, Any], keyword: str) -> Any:
    tag = tag_for_keyword(keyword)
    assert tag is not None
    values = item.get(tag_hex(tag), {}).get("Value")
    return values[0] if values else None


def patient_results(studies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Study results grouped per patient (PatientID, then name): the patient attributes of
    the first study and the NumberOfPatientRelated* counts (PS3.4 C.3.1)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in studies:
        pid = _json_value(item, "PatientID") or ""
        name = _json_value(item, "PatientName") or {}
        alphabetic = name.get("Alphabetic", "") if isinstance(name, dict) else str(name)
        groups.setdefault((str(pid), alphabetic), []).append(item)
    out = []
    for items in groups.values():
        patient = {k: v for k, v in items[0].items() if k in _PATIENT_JSON_KEYS}
        for count_kw, study_kw in PATIENT_COUNTS.items():
            total = len(items) if study_kw is None else sum(int(_json_value(i, study_kw) or 0) for i in items)
            tag = tag_for_keyword(count_kw)
            assert tag is not None
            patient[tag_hex(tag)] = {"vr": "IS", "Value": [total]}
        out.append(patient)
    return out

