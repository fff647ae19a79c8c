"""What the patient's share page shows: the study, its image series, the report and documents.

Everything here is bound to one ``ShareAccess`` (the exchanged token); queries name its study id
(and series, for a series share) directly, so nothing else of the archive can appear.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pydicom
from pydicom.datadict import tag_for_keyword
from sqlalchemy import select
from sqlmodel import col

from server.app_errors import NotFoundError
from server.context import AppContext
from server.db.archive import Instance, InstanceState, Institution, Series, Study
from server.db.database import aware
from server.db.reading import ReadingRequest, ReadingRequestStudy, ReportVersion
from server.shares.service import ShareAccess
from server.workflow.reports import ENCAPSULATED_PDF_STORAGE


def _tag(keyword: str) -> str:
    return f"{tag_for_keyword(keyword):08X}"


def _first_number(metadata: dict[str, Any], keyword: str) -> float | None:
    values = metadata.get(_tag(keyword), {}).get("Value") or []
    try:
        return float(values[0]) if values else None
    except (TypeError, ValueError):
        return None


async def view(ctx: AppContext, access: ShareAccess) -> dict[str, Any]:
    async with ctx.sessions() as session:
        study = await session.get(Study, access.study_id)
        if study is None:
            raise NotFoundError("the shared study is no longer in the archive")
        series_q = select(Series).where(col(Series.study_id) == access.study_id)
        if access.series_uid:
            series_q = series_q.where(col(Series.series_instance_uid) == access.series_uid)
        series_rows = list((await session.exec(series_q)).scalars())
        ids = [s.id for s in series_rows]
        instances = list((await session.exec(
            select(Instance.series_id, Instance.sop_instance_uid, Instance.sop_class_uid, Instance.instance_number,
                   Instance.number_of_frames, Instance.rows, Instance.id)
            .where(col(Instance.series_id).in_(ids), col(Instance.state) == InstanceState.CREATED)
        )).all()) if ids else []
        # The report's PDFs belong to the patient whatever part of the study is shared.
        documents = list((await session.exec(
            select(Instance.sop_instance_uid, Instance.id, Series.series_instance_uid)
            .join(Series, col(Series.id) == col(Instance.series_id))
            .where(col(Instance.study_id) == access.study_id, col(Instance.state) == InstanceState.CREATED,
                   col(Instance.sop_class_uid) == ENCAPSULATED_PDF_STORAGE))).all())
        by_series: dict[int, list[Any]] = {}
        for r in instances:
            if r.sop_class_uid != ENCAPSULATED_PDF_STORAGE and r.number_of_frames > 0 and r.rows:
                by_series.setdefault(r.series_id, []).append(r)
        series_out = []
        for s in sorted(series_rows, key=lambda s: (s.series_number is None, s.series_number or 0, s.id or 0)):
            rows = sorted(by_series.get(s.id or 0, []), key=lambda r: (r.instance_number is None,
                                                                     r.instance_number or 0, r.id))
            if not rows:
                continue
            middle = rows[len(rows) // 2]
            meta_raw = (await session.exec(
                select(Instance.metadata_json).where(col(Instance.id) == middle.id))).scalar()
            meta = orjson.loads(meta_raw or b"{}")
            series_out.append({
                "series_uid": s.series_instance_uid, "modality": s.modality, "number": s.series_number,
                "description": s.series_description,
                "window": {"center": _first_number(meta, "WindowCenter"), "width": _first_number(meta, "WindowWidth")},
                "instances": [{"sop_instance_uid": r.sop_instance_uid, "frames": r.number_of_frames} for r in rows],
            })
        report = await _report(session, access.study_id)
    return {
        "id": access.public_id,
        "study": {"study_uid": study.study_instance_uid, "patient_name": study.patient_name.replace("^", " ").strip(),
                  "study_date": study.study_date, "description": study.study_description,
                  "modalities": [m for m in study.modalities_in_study.split("\\") if m]},
        "series": series_out,
        "report": report,
        "documents": [{"sop_instance_uid": d.sop_instance_uid, "series_uid": d.series_instance_uid,
                       "url": f"/api/shares/{access.public_id}/documents/{d.sop_instance_uid}"}
                      for d in sorted(documents, key=lambda d: -d.id)],
        "allow_download": access.allow_download,
        "expires_at": access.expires_at.isoformat(),
    }


async def _report(session: Any, study_id: int) -> dict[str, Any] | None:
    """The newest approved report of a reading request the study is linked to, as text."""
    row = (await session.exec(
        select(ReportVersion, ReadingRequest)
        .join(ReadingRequest, col(ReadingRequest.id) == col(ReportVersion.request_id))
        .join(ReadingRequestStudy, col(ReadingRequestStudy.request_id) == col(ReadingRequest.id))
        .where(col(ReadingRequestStudy.study_id) == study_id, col(ReportVersion.status) == "approved")
        .order_by(col(ReportVersion.signed_at).desc(), col(ReportVersion.id).desc()).limit(1))).first()
    if row is None:
        return None
    version, req = row
    hospital = await session.get(Institution, req.reading_institution_id)
    return {
        "number": req.number, "version": version.number, "examination": req.examination,
        "modality": req.modality, "findings": version.findings, "impression": version.impression,
        "fields": dict(version.fields), "reporter": version.author_name, "reviewer": version.reviewer_name,
        "signed_at": aware(version.signed_at).isoformat() if version.signed_at else None,
        "hospital": hospital.name if hospital else "",
        "pdf_sop_instance_uid": version.pdf_sop_instance_uid or None,
    }


async def document(ctx: AppContext, access: ShareAccess, sop_uid: str) -> bytes:
    """The PDF inside an Encapsulated PDF instance of the shared study."""
    async with ctx.sessions() as session:
        q = select(Instance.blob_key).where(
            col(Instance.study_id) == access.study_id, col(Instance.sop_instance_uid) == sop_uid,
            col(Instance.sop_class_uid) == ENCAPSULATED_PDF_STORAGE, col(Instance.state) == InstanceState.CREATED)
        key = (await session.exec(q)).scalar()
    if key is None:
        raise NotFoundError(f"no document {sop_uid[:64]} in the shared study")
    ds = pydicom.dcmread(io.BytesIO(await ctx.store.get_bytes(key)))
    data = bytes(ds.EncapsulatedDocument)
    length = int(getattr(ds, "EncapsulatedDocumentLength", 0) or 0)
    return data[:length] if 0 < length <= len(data) else data
