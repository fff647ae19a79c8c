"""The reading workflow as JSON (the ``/api/reading`` answers, shapes in ``server/routes/openapi_reading.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.auth.principal import Principal
from server.db.archive import Study
from server.db.database import aware, utcnow
from server.db.reading import ReadingAttachment, ReadingEvent, ReadingLock, ReadingRequest, ReportVersion
from server.reading.service import RequestView, holds
from server.reading.worklists import Page


def iso(value: datetime | None) -> str | None:
    return aware(value).isoformat() if value is not None else None


def _institution(names: dict[int, str], inst: int | None) -> dict[str, Any] | None:
    return None if inst is None else {"id": inst, "name": names.get(inst, "")}


def lock_json(lock: ReadingLock | None, p: Principal) -> dict[str, Any] | None:
    if lock is None:
        return None
    return {"mine": holds(p, lock), "holder_name": lock.holder_name, "holder_user_id": lock.holder_user_id,
            "holder_institution_id": lock.holder_institution_id, "acquired_at": iso(lock.acquired_at),
            "expires_at": iso(lock.expires_at), "expired": aware(lock.expires_at) <= utcnow()}


def summary_json(req: ReadingRequest, names: dict[int, str], lock: ReadingLock | None, p: Principal
                 ) -> dict[str, Any]:
    return {
        "id": req.id, "number": req.number, "state": req.state, "mode": req.mode,
        "patient_name": req.patient_name, "patient_id": req.patient_id, "patient_sex": req.patient_sex,
        "patient_age": req.patient_age, "modality": req.modality, "body_part": req.body_part,
        "examination": req.examination,
        "requesting_institution": _institution(names, req.requesting_institution_id),
        "reading_institution": _institution(names, req.reading_institution_id),
        "assisting_institution": _institution(names, req.assisting_institution_id),
        "requester_name": req.requester_name, "reporter_name": req.reporter_name,
        "reviewer_name": req.reviewer_name, "reason": req.reason,
        "lock": lock_json(lock if req.state == "reporting" else None, p),
        "report_version": req.report_version, "revision": req.revision,
        "created_at": iso(req.created_at), "updated_at": iso(req.updated_at), "approved_at": iso(req.approved_at),
    }


def page_json(page: Page, limit: int, offset: int, p: Principal) -> dict[str, Any]:
    return {"total": page.total, "limit": limit, "offset": offset,
            "requests": [summary_json(r, page.institutions, page.locks.get(r.id or 0), p) for r in page.requests]}


def study_json(s: Study) -> dict[str, Any]:
    return {"study_instance_uid": s.study_instance_uid, "patient_name": s.patient_name, "patient_id": s.patient_id,
            "study_date": s.study_date, "study_description": s.study_description,
            "modalities": [m for m in (s.modalities_in_study or "").split("\\") if m]}


def attachment_json(a: ReadingAttachment) -> dict[str, Any]:
    return {"id": a.id, "filename": a.filename, "media_type": a.media_type, "size": a.size,
            "uploaded_by": a.uploaded_by, "created_at": iso(a.created_at)}


def version_json(v: ReportVersion) -> dict[str, Any]:
    return {"number": v.number, "status": v.status, "findings": v.findings, "impression": v.impression,
            "fields": dict(v.fields), "measurements": list(v.measurements), "key_images": list(v.key_images),
            "template_id": v.template_id, "author_name": v.author_name, "reviewer_name": v.reviewer_name,
            "review_comment": v.review_comment, "signed_at": iso(v.signed_at),
            "sr_sop_instance_uid": v.sr_sop_instance_uid, "pdf_sop_instance_uid": v.pdf_sop_instance_uid,
            "created_at": iso(v.created_at)}


def event_json(e: ReadingEvent) -> dict[str, Any]:
    return {"action": e.action, "from_state": e.from_state, "to_state": e.to_state, "actor_name": e.actor_name,
            "detail": e.detail, "created_at": iso(e.created_at)}


def request_json(view: RequestView, p: Principal) -> dict[str, Any]:
    req = view.request
    return {
        **summary_json(req, view.institutions, view.lock, p),
        "clinical_history": req.clinical_history, "chief_complaint": req.chief_complaint,
        "parties": sorted(p.value for p in view.parties), "actions": view.actions,
        "studies": [study_json(s) for s in view.studies],
        "attachments": [attachment_json(a) for a in view.attachments],
        "versions": [version_json(v) for v in view.versions],
        "events": [event_json(e) for e in view.events],
    }
