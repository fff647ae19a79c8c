"""Workitem datasets: what a new Unified Procedure Step must hold, and the Final State checks.

The requirements are PS3.4 Table CC.2.5-3 ("UPS SOP Class N-CREATE/N-SET/N-GET/C-FIND
Attributes"), N-CREATE column, SCU side, with the macros it includes (Code Sequence,
Referenced Instances and Access, HL7v2 Hierarchic Designator, Issuer of Patient ID,
Content Item), and its Final State column (Table CC.2.5-1 codes R, RC, P, X, O).
Workitems are DICOM JSON objects (PS3.18 Annex F), as UPS-RS sends them.

Type 1: present with a value. Type 2: present, possibly empty — a missing Type 2
attribute is added empty by :func:`check_create` (the SCP may complete a workitem,
PS3.4 CC.2.5.3, and reports it with the B300 warning), unless ``fill_type2=False``.
Conditional (1C/2C) requirements are checked where the condition can be decided
from the dataset (one of the code value forms, one of the retrieval sequences,
the HL7v2 entity identifier pair); the others are left to the sender.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from dicomweb.ups.states import State

__all__ = [
    "CREATE_REQUIREMENTS",
    "UPS_PUSH_SOP_CLASS",
    "CreateCheck",
    "Problem",
    "Req",
    "check_create",
    "final_state_problems",
    "prepare_cancel",
    "without_lock",
]

UPS_PUSH_SOP_CLASS = "1.2.840.10008.5.1.4.34.6.1"  # PS3.4 CC.2.5.1.3.1: set by the SCP


@dataclass(frozen=True)
class Req:
    """One row: ``type`` is "1", "2", "3" (not checked), "empty" (Type 2 that shall be empty)."""

    keyword: str
    type: str
    items: tuple[Req, ...] = ()  # requirements inside each item of a sequence
    values: tuple[str, ...] = ()  # enumerated values, if any
    # Conditions over an item: each entry is a group of keywords of which one must have a value.
    one_of: tuple[tuple[str, ...], ...] = ()


# UPS Code Sequence Macro (Table CC.2.5-2a): Code Meaning 1; Code Value, Long Code Value or URN Code Value
# (1C, one of them); Coding Scheme Designator 1C when Code Value or Long Code Value is present.
CODE = (
    Req("CodeMeaning", "1"),
    Req("CodeValue", "3"), Req("LongCodeValue", "3"), Req("URNCodeValue", "3"), Req("CodingSchemeDesignator", "3"),
)
CODE_ONE_OF = (("CodeValue", "LongCodeValue", "URNCodeValue"),)


def _code(keyword: str, type_: str) -> Req:
    return Req(keyword, type_, CODE, one_of=CODE_ONE_OF)


# Referenced Instances and Access Macro (Table CC.2.5-2c).
REFERENCED_INSTANCES = (
    Req("TypeOfInstances", "1"),
    Req("ReferencedSOPSequence", "1", (Req("ReferencedSOPClassUID", "1"), Req("ReferencedSOPInstanceUID", "1"))),
    Req("DICOMRetrievalSequence", "3", (Req("RetrieveAETitle", "1"),)),
    Req("DICOMMediaRetrievalSequence", "3", (Req("StorageMediaFileSetUID", "1"),)),
    Req("WADORetrievalSequence", "3", (Req("RetrieveURI", "1"),)),
    Req("XDSRetrievalSequence", "3", (Req("RepositoryUniqueID", "1"),)),
    Req("WADORSRetrievalSequence", "3", (Req("RetrieveURL", "1"),)),
)
RETRIEVAL_ONE_OF = (("DICOMRetrievalSequence", "DICOMMediaRetrievalSequence", "WADORetrievalSequence",
                     "XDSRetrievalSequence", "WADORSRetrievalSequence"),)

# HL7v2 Hierarchic Designator Macro (Table CC.2.5-2d): a local or a universal identifier.
HL7_DESIGNATOR = (Req("LocalNamespaceEntityID", "3"), Req("UniversalEntityID", "3"), Req("UniversalEntityIDType", "3"))
HL7_ONE_OF = (("LocalNamespaceEntityID", "UniversalEntityID"),)

# Content Item Macro (Table CC.2.5-2b), the attributes every item has.
CONTENT_ITEM = (Req("ValueType", "1"), _code("ConceptNameCodeSequence", "1"))

CREATE_REQUIREMENTS: tuple[Req, ...] = (
    Req("TransactionUID", "empty"),
    # Unified Procedure Step Scheduled Procedure Information Module
    Req("ScheduledProcedureStepPriority", "1", values=("HIGH", "MEDIUM", "LOW")),
    Req("ProcedureStepLabel", "1"),
    Req("ScheduledProcessingParametersSequence", "2", CONTENT_ITEM),
    _code("ScheduledStationNameCodeSequence", "2"),
    _code("ScheduledStationClassCodeSequence", "2"),
    _code("ScheduledStationGeographicLocationCodeSequence", "2"),
    Req("ScheduledHumanPerformersSequence", "3", (  # 2C: required if a human performer is specified
        _code("HumanPerformerCodeSequence", "1"), Req("HumanPerformerName", "1"),
        Req("HumanPerformerOrganization", "1"))),
    Req("ScheduledProcedureStepStartDateTime", "1"),
    _code("ScheduledWorkitemCodeSequence", "2"),
    Req("CommentsOnTheScheduledProcedureStep", "2"),
    Req("InputReadinessState", "1", values=("READY", "UNAVAILABLE", "INCOMPLETE")),
    Req("InputInformationSequence", "2", REFERENCED_INSTANCES, one_of=()),
    # Unified Procedure Step Relationship Module
    Req("PatientName", "2"),
    Req("IssuerOfPatientID", "2"),
    Req("IssuerOfPatientIDQualifiersSequence", "2"),
    Req("OtherPatientIDsSequence", "2", (Req("PatientID", "1"),)),
    Req("PatientBirthDate", "2"),
    Req("PatientSex", "2"),
    Req("AdmissionID", "2"),
    Req("IssuerOfAdmissionIDSequence", "2", HL7_DESIGNATOR, one_of=HL7_ONE_OF),
    Req("AdmittingDiagnosesDescription", "2"),
    _code("AdmittingDiagnosesCodeSequence", "2"),
    Req("ReferencedRequestSequence", "2", (
        Req("StudyInstanceUID", "1"), Req("AccessionNumber", "2"),
        Req("IssuerOfAccessionNumberSequence", "2", HL7_DESIGNATOR, one_of=HL7_ONE_OF),
        Req("OrderPlacerIdentifierSequence", "2", HL7_DESIGNATOR, one_of=HL7_ONE_OF),
        Req("OrderFillerIdentifierSequence", "2", HL7_DESIGNATOR, one_of=HL7_ONE_OF),
        Req("RequestedProcedureID", "2"), Req("RequestedProcedureDescription", "2"),
        _code("RequestedProcedureCodeSequence", "2"))),
    # Unified Procedure Step Progress Information Module
    Req("ProcedureStepState", "1", values=(State.SCHEDULED.value,)),
    Req("ProcedureStepProgressInformationSequence", "empty"),
    # Unified Procedure Step Performed Procedure Information Module
    Req("UnifiedProcedureStepPerformedProcedureSequence", "empty"),
)


@dataclass(frozen=True)
class Problem:
    """One violation; ``path`` names the attribute (``ReferencedRequestSequence[1].StudyInstanceUID``)."""

    path: str
    message: str
    # The DIMSE status it stands for: C309 for a state other than SCHEDULED, else None (plain 400).
    status: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class CreateCheck:
    dataset: dict[str, Any]
    problems: tuple[Problem, ...]
    added: tuple[str, ...] = field(default_factory=tuple)  # Type 2 attributes added empty (warning B300)

    @property
    def ok(self) -> bool:
        return not self.problems


def _key(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return f"{tag:08X}"


def _vr(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    assert tag is not None
    return str(dictionary_VR(tag))


def _values(element: Any) -> list[Any]:
    """The non-empty values; a sequence item counts even when it is an empty dataset."""
    if not isinstance(element, dict):
        return []
    values = element.get("Value")
    if not isinstance(values, list):
        return []
    if element.get("vr") == "SQ":
        return [v for v in values if isinstance(v, dict)]
    return [v for v in values if v not in (None, "", {})]


def _has_value(element: Any) -> bool:
    if not isinstance(element, dict):
        return False
    return bool(_values(element)) or "BulkDataURI" in element or "InlineBinary" in element


def _text_values(element: Any) -> list[str]:
    out = []
    for v in _values(element):
        out.append(v.get("Alphabetic", "") if isinstance(v, dict) else str(v))
    return out


def _check(dataset: dict[str, Any], reqs: tuple[Req, ...], prefix: str, fill: bool, problems: list[Problem],
           added: list[str], one_of: tuple[tuple[str, ...], ...] = ()) -> None:
    for req in reqs:
        key = _key(req.keyword)
        path = f"{prefix}{req.keyword}"
        element = dataset.get(key)
        if req.type == "1" and not _has_value(element):
            what = "is missing" if element is None else "has no value"
            problems.append(Problem(path, f"{what}; it is required (Type 1, PS3.4 Table CC.2.5-3)"))
            continue
        if req.type == "2" and element is None:
            if fill:
                dataset[key] = {"vr": _vr(req.keyword)}
                added.append(path)
            else:
                problems.append(Problem(path, "is missing; it is required, possibly empty (Type 2, PS3.4 Table "
                                              "CC.2.5-3)"))
            continue
        if req.type == "empty":
            if _has_value(element):
                problems.append(Problem(path, "shall be empty when a workitem is created (PS3.4 Table CC.2.5-3)"))
            elif element is None and fill and req.keyword != "TransactionUID":
                dataset[key] = {"vr": _vr(req.keyword)}
                added.append(path)
            continue
        if req.values and _has_value(element):
            for value in _text_values(element):
                if value.strip().upper() not in req.values:
                    status = 0xC309 if req.keyword == "ProcedureStepState" else None
                    legal = ", ".join(req.values)
                    problems.append(Problem(path, f"{value!r} is not one of {legal}", status))
        if req.items and isinstance(element, dict):
            for i, item in enumerate(element.get("Value") or [], start=1):
                if isinstance(item, dict):
                    _check(item, req.items, f"{path}[{i}].", fill, problems, added, req.one_of)
    for group in one_of:
        if not any(_has_value(dataset.get(_key(k))) for k in group):
            problems.append(Problem(f"{prefix}{'|'.join(group)}", f"one of {', '.join(group)} needs a value"))
    if any(r.keyword == "CodeMeaning" for r in reqs):
        # Coding Scheme Designator: 1C when Code Value or Long Code Value is present.
        if (_has_value(dataset.get(_key("CodeValue"))) or _has_value(dataset.get(_key("LongCodeValue")))) and \
                not _has_value(dataset.get(_key("CodingSchemeDesignator"))):
            problems.append(Problem(f"{prefix}CodingSchemeDesignator",
                                    "is required with Code Value or Long Code Value"))
    if any(r.keyword == "TypeOfInstances" for r in reqs):
        types = [t.upper() for t in _text_values(dataset.get(_key("TypeOfInstances")))]
        if "DICOM" in types and not any(_has_value(dataset.get(_key(k))) for k in RETRIEVAL_ONE_OF[0]):
            problems.append(Problem(f"{prefix}{'|'.join(RETRIEVAL_ONE_OF[0])}",
                                    "a DICOM reference needs one of the retrieval sequences"))
        if "DICOM" in types:
            for keyword in ("StudyInstanceUID", "SeriesInstanceUID"):
                if not _has_value(dataset.get(_key(keyword))):
                    problems.append(Problem(f"{prefix}{keyword}", "is required for a DICOM reference (1C)"))


def check_create(dataset: dict[str, Any], *, fill_type2: bool = True) -> CreateCheck:
    """Check a workitem to be created (Create Workitem, PS3.18 §11.4; N-CREATE, PS3.4 CC.2.5).

    Returns a copy of the dataset (with missing Type 2 attributes added empty when
    ``fill_type2``), every problem found, and what was added.
    """
    out = copy.deepcopy(dataset)
    problems: list[Problem] = []
    added: list[str] = []
    _check(out, CREATE_REQUIREMENTS, "", fill_type2, problems, added)
    return CreateCheck(out, tuple(problems), tuple(added))


# Final State column of Table CC.2.5-3 (codes of Table CC.2.5-1): R for both final states, P for
# COMPLETED only, X for CANCELED only. RC ("if the condition is met") rows depend on facts the
# dataset does not hold (a character set in use, a performer known) and are not enforced.
FINAL_R = ("SOPClassUID", "SOPInstanceUID", "ScheduledProcedureStepPriority",
           "ScheduledProcedureStepModificationDateTime", "ScheduledProcedureStepStartDateTime",
           "InputReadinessState", "ProcedureStepState")
PERFORMED = "UnifiedProcedureStepPerformedProcedureSequence"
PERFORMED_P = ("PerformedStationNameCodeSequence", "PerformedProcedureStepStartDateTime",
               "PerformedWorkitemCodeSequence", "PerformedProcedureStepEndDateTime")
PROGRESS = "ProcedureStepProgressInformationSequence"


def final_state_problems(dataset: dict[str, Any], target: State) -> list[Problem]:
    """What keeps ``dataset`` from ``target`` (COMPLETED or CANCELED); empty: it may go there.

    Inside the Progress Information Sequence only Procedure Step Cancellation DateTime is
    required for CANCELED (the SCP fills it, :func:`prepare_cancel`); its Discontinuation
    Reason Code Sequence is not, so that a SCHEDULED workitem can be canceled "with two
    N-ACTIONS (IN PROGRESS then CANCELED) and no N-SETs" (PS3.4 CC.2.5.1.3.2).
    """
    if not target.final:
        raise ValueError(f"{target.value} is not a final state")
    problems = [Problem(kw, f"needs a value before the workitem can be {target.value} (Final State R)")
                for kw in FINAL_R if not _has_value(dataset.get(_key(kw)))]
    if target is State.COMPLETED:
        performed = _values(dataset.get(_key(PERFORMED)))
        if not performed:
            problems.append(Problem(PERFORMED, "needs an item before the workitem can be COMPLETED (Final State P)"))
        for i, item in enumerate(performed, start=1):
            for kw in PERFORMED_P:
                if not _has_value(item.get(_key(kw))):
                    problems.append(Problem(f"{PERFORMED}[{i}].{kw}",
                                            "needs a value before the workitem can be COMPLETED (Final State P)"))
            if _key("OutputInformationSequence") not in item:  # P, but "may have no items"
                problems.append(Problem(f"{PERFORMED}[{i}].OutputInformationSequence",
                                        "must be present (possibly empty) before the workitem can be COMPLETED"))
    else:
        progress = _values(dataset.get(_key(PROGRESS)))
        if not progress or not _has_value(progress[0].get(_key("ProcedureStepCancellationDateTime"))):
            problems.append(Problem(f"{PROGRESS}.ProcedureStepCancellationDateTime",
                                    "needs a value before the workitem can be CANCELED (Final State X)"))
    return problems


def prepare_cancel(dataset: dict[str, Any], now: str, reason: str | None = None,
                   discontinuation_code: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of ``dataset`` ready to be CANCELED by the SCP: Procedure Step Cancellation DateTime
    filled with ``now`` (DT) if it has none (the remark of Table CC.2.5-3), and the reason and
    discontinuation code of a cancel request, if given and not already there."""
    out = copy.deepcopy(dataset)
    key = _key(PROGRESS)
    items = _values(out.get(key))
    item = items[0] if items else {}
    if not items:
        out[key] = {"vr": "SQ", "Value": [item]}
    fill: dict[str, tuple[str, Callable[[], Any]]] = {
        "ProcedureStepCancellationDateTime": ("DT", lambda: now),
    }
    if reason:
        fill["ReasonForCancellation"] = ("LT", lambda: reason)
    if discontinuation_code:
        fill["ProcedureStepDiscontinuationReasonCodeSequence"] = ("SQ", lambda: discontinuation_code)
    for keyword, (vr, value) in fill.items():
        if not _has_value(item.get(_key(keyword))):
            item[_key(keyword)] = {"vr": vr, "Value": [value()]}
    return out


def without_lock(dataset: dict[str, Any]) -> dict[str, Any]:
    """The workitem as returned to clients: never with its Transaction UID (PS3.18 §11.5.3.2,
    PS3.4 CC.2.7.2 — the UID is the lock)."""
    return {k: v for k, v in dataset.items() if k != _key("TransactionUID")}
