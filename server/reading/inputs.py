"""Request bodies of the reading workflow, parsed into typed values (a bad field is a 400 naming it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from dicomweb.uids import uid_problem
from server.app_errors import InvalidInput

TEXT_LIMIT = 20000
CAPTURE_DIGEST = re.compile(r"^[0-9a-f]{64}$")
SHORT_LIMIT = 256


def _text(body: dict[str, Any], name: str, limit: int = TEXT_LIMIT, required: bool = False) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a text")
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters")
    if required and not value.strip():
        raise InvalidInput(f"{name} is required")
    return value


def _int_or_none(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"{name} must be a positive integer id")
    return value


def _uids(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{name} must be a list of StudyInstanceUIDs")
    for v in value:
        if uid_problem(v):
            raise InvalidInput(f"{name}: {v[:70]!r} is {uid_problem(v)}")
    if len(value) > 100:
        raise InvalidInput(f"{name}: at most 100 studies per request")
    return list(dict.fromkeys(value))


@dataclass(frozen=True)
class RequestInput:
    study_uids: list[str]
    mode: str  # self | superior
    reading_institution_id: int | None
    patient_name: str = ""
    patient_id: str = ""
    patient_sex: str = ""
    patient_age: str = ""
    modality: str = ""
    body_part: str = ""
    examination: str = ""
    clinical_history: str = ""
    chief_complaint: str = ""


REQUEST_FIELDS = tuple(f.name for f in fields(RequestInput))


def parse_request(body: dict[str, Any]) -> RequestInput:
    unknown = sorted(set(body) - set(REQUEST_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r} in the request")
    mode = body.get("mode", "self")
    if mode not in ("self", "superior"):
        raise InvalidInput("mode must be 'self' (self-diagnosis) or 'superior' (a superior hospital reads)")
    reading = _int_or_none(body, "reading_institution_id")
    if mode == "superior" and reading is None:
        raise InvalidInput("reading_institution_id is required when mode is 'superior'")
    return RequestInput(
        study_uids=_uids(body, "study_uids"),
        mode=mode,
        reading_institution_id=reading if mode == "superior" else None,
        patient_name=_text(body, "patient_name", 324),
        patient_id=_text(body, "patient_id", 64),
        patient_sex=_text(body, "patient_sex", 16),
        patient_age=_text(body, "patient_age", 16),
        modality=_text(body, "modality", 16),
        body_part=_text(body, "body_part", 64),
        examination=_text(body, "examination", SHORT_LIMIT),
        clinical_history=_text(body, "clinical_history"),
        chief_complaint=_text(body, "chief_complaint"),
    )


@dataclass(frozen=True)
class Measurement:
    """A number of the report (e.g. whole-brain CBF) with its UCUM unit."""

    name: str
    value: float
    unit: str  # UCUM, e.g. mL/(100.g.min)
    unit_label: str = ""  # as printed, e.g. ml/100g/min
    source: str = ""  # e.g. "ASL analysis job 3 v1"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "unit_label": self.unit_label,
                "source": self.source}


@dataclass(frozen=True)
class KeyImage:
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str = ""
    frame: int = 1
    window_center: float | None = None
    window_width: float | None = None
    label: str = ""
    capture: str = ""  # SHA-256 of the viewport capture (POST .../key-images), printed in the report

    def as_json(self) -> dict[str, Any]:
        out = {"study_instance_uid": self.study_instance_uid, "series_instance_uid": self.series_instance_uid,
               "sop_instance_uid": self.sop_instance_uid, "sop_class_uid": self.sop_class_uid, "frame": self.frame,
               "window_center": self.window_center, "window_width": self.window_width, "label": self.label}
        if self.capture:
            out["capture"] = self.capture
        return out


@dataclass(frozen=True)
class ReportContent:
    findings: str
    impression: str
    fields: dict[str, str] = field(default_factory=dict)
    measurements: list[Measurement] = field(default_factory=list)
    key_images: list[KeyImage] = field(default_factory=list)
    template_id: str = ""


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(f"{name} must be a finite number")
    return float(value)


def _measurement(item: Any, i: int) -> Measurement:
    if not isinstance(item, dict):
        raise InvalidInput(f"measurements[{i}] must be an object")
    name = _text(item, "name", 128, required=True)
    unit = _text(item, "unit", 64, required=True)
    return Measurement(name=name, value=_number(item.get("value"), f"measurements[{i}].value"), unit=unit,
                       unit_label=_text(item, "unit_label", 64), source=_text(item, "source", SHORT_LIMIT))


def _key_image(item: Any, i: int) -> KeyImage:
    if not isinstance(item, dict):
        raise InvalidInput(f"key_images[{i}] must be an object")
    uids = {}
    for name in ("study_instance_uid", "series_instance_uid", "sop_instance_uid"):
        v = item.get(name)
        if not isinstance(v, str) or uid_problem(v):
            raise InvalidInput(f"key_images[{i}].{name} must be a UID")
        uids[name] = v
    sop_class = item.get("sop_class_uid") or ""
    if not isinstance(sop_class, str) or (sop_class and uid_problem(sop_class)):
        raise InvalidInput(f"key_images[{i}].sop_class_uid must be a UID")
    frame = item.get("frame", 1)
    if not isinstance(frame, int) or isinstance(frame, bool) or frame < 1:
        raise InvalidInput(f"key_images[{i}].frame must be a positive integer")
    wc, ww = item.get("window_center"), item.get("window_width")
    capture = item.get("capture") or ""
    if not isinstance(capture, str) or (capture and not CAPTURE_DIGEST.match(capture)):
        raise InvalidInput(f"key_images[{i}].capture must be the SHA-256 (hex) of a stored key image")
    return KeyImage(**uids, sop_class_uid=sop_class, frame=frame, capture=capture,
                    window_center=None if wc is None else _number(wc, f"key_images[{i}].window_center"),
                    window_width=None if ww is None else _number(ww, f"key_images[{i}].window_width"),
                    label=_text(item, "label", SHORT_LIMIT))


CONTENT_FIELDS = ("findings", "impression", "fields", "measurements", "key_images", "template_id")


def parse_content(body: dict[str, Any]) -> ReportContent:
    unknown = sorted(set(body) - set(CONTENT_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r} in the report")
    fields = body.get("fields", {}) or {}
    if not isinstance(fields, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise InvalidInput("fields must be an object of texts")
    if sum(len(v) for v in fields.values()) > TEXT_LIMIT:
        raise InvalidInput(f"fields are longer than {TEXT_LIMIT} characters together")
    measurements = body.get("measurements", []) or []
    key_images = body.get("key_images", []) or []
    if not isinstance(measurements, list) or len(measurements) > 200:
        raise InvalidInput("measurements must be a list (at most 200)")
    if not isinstance(key_images, list) or len(key_images) > 50:
        raise InvalidInput("key_images must be a list (at most 50)")
    return ReportContent(
        findings=_text(body, "findings"),
        impression=_text(body, "impression"),
        fields=dict(fields),
        measurements=[_measurement(m, i) for i, m in enumerate(measurements)],
        key_images=[_key_image(k, i) for i, k in enumerate(key_images)],
        template_id=_text(body, "template_id", 64),
    )


def parse_reason(body: dict[str, Any], required: bool) -> str:
    return _text(body, "reason", 4000, required=required).strip()
