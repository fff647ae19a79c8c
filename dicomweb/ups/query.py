"""Search Workitems (PS3.18 §11.9): the query string as a typed expression, and matching.

Supported matching keys: ``PatientID``, ``PatientName`` (case-insensitive, ``*``/``?``
wildcards), ``AccessionNumber`` (the Referenced Request Sequence's, also accepted as
``ReferencedRequestSequence.AccessionNumber``), ``ScheduledProcedureStepStartDateTime``
(a single DT or a range ``A-B``, ``A-``, ``-B``; a partial DT covers its whole precision),
``ProcedureStepState``, ``SOPInstanceUID`` (a list) and ``ScheduledWorkitemCodeSequence.CodeValue``;
with ``limit``, ``offset`` and ``includefield`` (keywords or tags, or ``all``). Any other
attribute is answered 400 naming it (Cirrus does not silently ignore a key it cannot match).

The same expression serves filtered subscriptions (PS3.18 §11.10: the filter is a query
string of this form). :func:`matches` decides on a workitem's DICOM JSON, so the server
may pre-filter in SQL on its indexed copies and decide here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword

from dicomweb.errors import InvalidQuery
from dicomweb.ups.states import parse_state

__all__ = ["DEFAULT_RETURN", "MAX_LIMIT", "WorkitemQuery", "dt_key", "matches", "parse_workitem_query", "project",
           "searchable"]

MAX_LIMIT = 1000
_START = "00000101000000"
_END = "99991231235959"
_DT = re.compile(r"^\d{4}(\d{2}){0,5}$")
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")

# Returned by a search when no includefield asks for more (the keys a worklist client shows).
DEFAULT_RETURN = (
    "SOPClassUID", "SOPInstanceUID", "SpecificCharacterSet", "ScheduledProcedureStepPriority", "ProcedureStepLabel",
    "WorklistLabel", "ScheduledProcedureStepStartDateTime", "ScheduledProcedureStepModificationDateTime",
    "ScheduledWorkitemCodeSequence", "InputReadinessState", "InputInformationSequence", "ProcedureStepState",
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "ReferencedRequestSequence",
    "UnifiedProcedureStepPerformedProcedureSequence",
)


def _key(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return f"{tag:08X}"


@dataclass(frozen=True)
class WorkitemQuery:
    patient_id: str | None = None
    patient_name: str | None = None  # upper-cased, wildcards kept
    accession_number: str | None = None
    start_from: str | None = None  # 14-digit DT bounds, inclusive
    start_to: str | None = None
    states: tuple[str, ...] = ()
    sop_instance_uids: tuple[str, ...] = ()
    workitem_code: str | None = None
    limit: int = 100
    offset: int = 0
    include_all: bool = False
    include: tuple[str, ...] = ()  # extra keywords to return
    matching: tuple[str, ...] = field(default_factory=tuple)  # keywords the query matched on (returned)


def dt_key(value: str, end: bool = False) -> str:
    """A DT value as 14 sortable digits (fraction and offset dropped; a partial DT padded)."""
    digits = re.match(r"^\d*", value.strip())
    head = (digits.group(0) if digits else "")[:14]
    template = _END if end else _START
    return head + template[len(head):]


def _check_dt(name: str, value: str) -> str:
    value = value.strip()
    if not _DT.match(value):
        raise InvalidQuery(f"{name}: {value!r} is not a DT value (YYYY[MM[DD[HH[MM[SS]]]]], no offset)")
    return value


def _wildcard(value: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(value).replace(r"\*", ".*").replace(r"\?", ".") + "$", re.DOTALL)


_ALIASES = {"ReferencedRequestSequence.AccessionNumber": "AccessionNumber",
            "00401001.00080050": "AccessionNumber", "0040A370.00080050": "AccessionNumber",
            "ScheduledWorkitemCodeSequence.CodeValue": "ScheduledWorkitemCodeSequence.CodeValue",
            "00404018.00080100": "ScheduledWorkitemCodeSequence.CodeValue"}
_MATCHABLE = ("PatientID", "PatientName", "AccessionNumber", "ScheduledProcedureStepStartDateTime",
              "ProcedureStepState", "SOPInstanceUID", "ScheduledWorkitemCodeSequence.CodeValue")


def _keyword(name: str) -> str:
    name = name.strip()
    if name in _ALIASES:
        return _ALIASES[name]
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        found = keyword_for_tag(int(name, 16))
        if not found:
            raise InvalidQuery(f"unknown attribute tag {name!r}")
        return found
    if "." in name:
        raise InvalidQuery(f"{name}: sequence matching is supported for "
                           "ReferencedRequestSequence.AccessionNumber and ScheduledWorkitemCodeSequence.CodeValue only")
    if tag_for_keyword(name) is None:
        raise InvalidQuery(f"unknown attribute {name!r}")
    return name


def _count(name: str, value: str, minimum: int, maximum: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise InvalidQuery(f"{name}: {value!r} is not an integer") from None
    if not minimum <= number <= maximum:
        raise InvalidQuery(f"{name}: {number} must be between {minimum} and {maximum}")
    return number


def parse_workitem_query(params: Mapping[str, str] | list[tuple[str, str]]) -> WorkitemQuery:
    """The query of ``GET /workitems?...`` (or of a filtered subscription); ``InvalidQuery`` names the
    parameter it cannot take."""
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    values: dict[str, Any] = {}
    include: list[str] = []
    include_all = False
    matching: list[str] = []
    for name, raw in pairs:
        if name == "limit":
            values["limit"] = _count("limit", raw, 1, MAX_LIMIT)
            continue
        if name == "offset":
            values["offset"] = _count("offset", raw, 0, 2**31 - 1)
            continue
        if name == "includefield":
            for part in raw.split(","):
                part = part.strip()
                if part == "all":
                    include_all = True
                elif part:
                    include.append(_keyword(part).split(".")[0])
            continue
        if name in ("fuzzymatching",):
            if raw.strip().lower() not in ("true", "false"):
                raise InvalidQuery(f"fuzzymatching: {raw!r} is not true or false")
            continue
        keyword = _keyword(name)
        if keyword not in _MATCHABLE:
            raise InvalidQuery(f"{keyword}: not a supported matching key for workitems (supported: "
                               f"{', '.join(_MATCHABLE)})")
        value = raw.strip()
        matching.append(keyword.split(".")[0] if keyword != "AccessionNumber" else "ReferencedRequestSequence")
        if value in ("", "*"):
            continue  # universal matching: returned, not constrained
        if len(value) > 256:
            raise InvalidQuery(f"{keyword}: value longer than 256 characters")
        if keyword == "PatientID":
            values["patient_id"] = value
        elif keyword == "PatientName":
            values["patient_name"] = value.upper()
        elif keyword == "AccessionNumber":
            values["accession_number"] = value
        elif keyword == "ScheduledWorkitemCodeSequence.CodeValue":
            values["workitem_code"] = value
        elif keyword == "ProcedureStepState":
            try:
                values["states"] = tuple(dict.fromkeys(parse_state(v).value for v in re.split(r"[\\,]", value)))
            except ValueError as exc:
                raise InvalidQuery(str(exc)) from None
        elif keyword == "SOPInstanceUID":
            uids = tuple(dict.fromkeys(u.strip() for u in re.split(r"[\\,]", value)))
            for uid in uids:
                if len(uid) > 64 or not _UID.match(uid):
                    raise InvalidQuery(f"SOPInstanceUID: {uid!r} is not a UID")
            values["sop_instance_uids"] = uids
        else:  # ScheduledProcedureStepStartDateTime
            if value.count("-") > 1:
                raise InvalidQuery(f"{keyword}: {value!r} is not a range (A-B, -B or A-)")
            start, dash, end = value.partition("-")
            if not dash:
                end = start
            start_key = dt_key(_check_dt(keyword, start)) if start else None
            end_key = dt_key(_check_dt(keyword, end), end=True) if end else None
            if start_key and end_key and start_key > end_key:
                raise InvalidQuery(f"{keyword}: range {value!r} ends before it starts")
            values["start_from"], values["start_to"] = start_key, end_key
    return WorkitemQuery(**values, include_all=include_all, include=tuple(dict.fromkeys(include)),
                         matching=tuple(dict.fromkeys(matching)))


def _first(dataset: Mapping[str, Any], keyword: str) -> Any:
    element = dataset.get(_key(keyword))
    if not isinstance(element, dict):
        return None
    values = element.get("Value")
    if not isinstance(values, list) or not values:
        return None
    value = values[0]
    if isinstance(value, dict) and "Alphabetic" in value:
        return value.get("Alphabetic")
    return value


def _items(dataset: Mapping[str, Any], keyword: str) -> list[dict[str, Any]]:
    element = dataset.get(_key(keyword))
    values = element.get("Value") if isinstance(element, dict) else None
    return [v for v in values or [] if isinstance(v, dict)]


def searchable(dataset: Mapping[str, Any]) -> dict[str, str]:
    """The values a workitem is searched by (copied to indexed columns by the server)."""
    requests = _items(dataset, "ReferencedRequestSequence")
    accession = next((str(a) for a in (_first(r, "AccessionNumber") for r in requests) if a), "")
    study = next((str(s) for s in (_first(r, "StudyInstanceUID") for r in requests) if s), "")
    if not study:
        inputs = _items(dataset, "InputInformationSequence")
        study = next((str(s) for s in (_first(i, "StudyInstanceUID") for i in inputs) if s), "")
    start = _first(dataset, "ScheduledProcedureStepStartDateTime")
    return {
        "patient_id": str(_first(dataset, "PatientID") or ""),
        "accession_number": accession,
        "study_instance_uid": study,
        "start_datetime": dt_key(str(start)) if start else "",
        "state": str(_first(dataset, "ProcedureStepState") or ""),
    }


def matches(dataset: Mapping[str, Any], query: WorkitemQuery) -> bool:
    """Whether the workitem ``dataset`` (DICOM JSON) matches ``query``."""
    found = searchable(dataset)
    if query.patient_id is not None:
        if not _wildcard(query.patient_id).match(found["patient_id"]):
            return False
    if query.patient_name is not None:
        name = str(_first(dataset, "PatientName") or "").upper()
        if not _wildcard(query.patient_name).match(name):
            return False
    if query.accession_number is not None:
        accessions = [str(_first(r, "AccessionNumber") or "") for r in _items(dataset, "ReferencedRequestSequence")]
        if not any(_wildcard(query.accession_number).match(a) for a in accessions):
            return False
    if query.start_from is not None or query.start_to is not None:
        start = found["start_datetime"]
        if not start or (query.start_from and start < query.start_from) or (query.start_to and start > query.start_to):
            return False
    if query.states and found["state"] not in query.states:
        return False
    if query.sop_instance_uids and str(_first(dataset, "SOPInstanceUID") or "") not in query.sop_instance_uids:
        return False
    if query.workitem_code is not None:
        codes = [str(_first(c, "CodeValue") or "") for c in _items(dataset, "ScheduledWorkitemCodeSequence")]
        if not any(_wildcard(query.workitem_code).match(c) for c in codes):
            return False
    return True


def project(dataset: Mapping[str, Any], query: WorkitemQuery) -> dict[str, Any]:
    """The attributes a search returns of a matching workitem (PS3.18 §11.9.3)."""
    if query.include_all:
        return dict(dataset)
    keys = {_key(k) for k in (*DEFAULT_RETURN, *query.include, *query.matching)}
    return {k: v for k, v in dataset.items() if k in keys}
