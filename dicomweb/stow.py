"""STOW-RS response model (PS3.18 §10.5.3) and failure reasons.

The Store Instances Response lists every instance: ReferencedSOPSequence for
the stored ones (with RetrieveURL) and FailedSOPSequence (with FailureReason)
for the others, so a client can retry exactly what failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class FailureReason(IntEnum):
    """FailureReason (0008,1197) values used by STOW-RS (PS3.4 Annex GG / PS3.18 Table 10.5.3-1)."""

    PROCESSING_FAILURE = 0x0110
    DUPLICATE_SOP_INSTANCE = 0x0111  # a different object already stored under this SOP Instance UID
    NOT_AUTHORIZED = 0x0124  # Refused: Not Authorized (PS3.7 Annex C): the study belongs to another tenant
    OUT_OF_RESOURCES = 0xA700
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xA900  # invalid identifiers, or study differs from the URL
    CANNOT_UNDERSTAND = 0xC000


@dataclass(frozen=True)
class InstanceOutcome:
    """What happened to one part of a STOW request."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    status: str  # "stored" | "duplicate" | "failed"
    failure_reason: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("stored", "duplicate")


def http_status(outcomes: list[InstanceOutcome]) -> int:
    """200 all stored, 202 some stored with failures, 409 none stored (PS3.18 §10.5.3)."""
    if not outcomes:
        return 204
    stored = sum(1 for o in outcomes if o.ok)
    if stored == len(outcomes):
        return 200
    return 202 if stored else 409


def _ui(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def study_retrieve_url(outcomes: list[InstanceOutcome], study_url: Callable[[str], str]) -> str | None:
    """The study-level Retrieve URL (0008,1190) of a Store Instances Response (PS3.18 Table I.1-1).

    It is Type 2: present always, with the URL of the study when every stored instance belongs
    to one study, and empty (no value) when the stored instances span several studies or none
    was stored — there is then no single Study to name.
    """
    studies = {o.study_instance_uid for o in outcomes if o.ok and o.study_instance_uid}
    return study_url(studies.pop()) if len(studies) == 1 else None


def response_json(
    outcomes: list[InstanceOutcome],
    instance_url: Callable[[InstanceOutcome], str],
    study_url: Callable[[str], str] | str | None,
) -> dict[str, Any]:
    """Build the Store Instances Response as DICOM JSON (PS3.18 Annex I).

    ``instance_url(outcome)`` returns the RetrieveURL of a stored instance; ``study_url(uid)``
    that of a study (a plain string is used as is, whatever was stored). The top-level
    RetrieveURL is always present (Type 2), see :func:`study_retrieve_url`.
    """
    body: dict[str, Any] = {}
    url = study_url if isinstance(study_url, str) else (
        study_retrieve_url(outcomes, study_url) if study_url is not None else None)
    body["00081190"] = {"vr": "UR", "Value": [url]} if url else {"vr": "UR"}
    referenced = []
    failed = []
    for o in outcomes:
        item: dict[str, Any] = {"00081150": _ui(o.sop_class_uid), "00081155": _ui(o.sop_instance_uid)}
        if o.ok:
            item["00081190"] = {"vr": "UR", "Value": [instance_url(o)]}
            referenced.append(item)
        else:
            item["00081197"] = {"vr": "US", "Value": [int(o.failure_reason or FailureReason.PROCESSING_FAILURE)]}
            if o.message:
                # A human-readable reason beside the coded one (TextValue), so a client log says why.
                item["0040A160"] = {"vr": "UT", "Value": [o.message]}
            failed.append(item)
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": referenced}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    return body
