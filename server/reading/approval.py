"""Approval: sign the submitted version, write it into the study as SR + Encapsulated PDF, then commit.

The DICOM objects go through the ingest service before the state changes, under UIDs derived from
(request, version), so a retry after a failure stores nothing twice and a failed store leaves the
request in review (never approved without its objects). Each approved version is a new SR instance
in the request's one SR series, naming the earlier approved versions as Predecessor Documents.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import orjson
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from sqlalchemy import select
from sqlmodel import col

from server.app_errors import InvalidInput
from server.auth.principal import Principal
from server.context import AppContext
from server.db.archive import Instance, InstanceState, Institution, Study
from server.db.database import aware, utcnow
from server.db.reading import ReadingRequestStudy, ReportVersion
from server.reading import key_images, logos, service
from server.reading.documents import PrintedShare, ReportDocument, build_pdf, build_sr, encapsulated_pdf
from server.reading.states import RequestState
from server.shares import codes, qr
from server.shares import service as share_service
from server.workflow.worker import ingest_datasets

SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR Storage


def request_uid(*parts: object) -> str:
    return str(generate_uid(entropy_srcs=["cirrus-reading", *map(str, parts)]))


def _header(metadata_json: bytes) -> Dataset:
    return Dataset.from_json(orjson.loads(metadata_json), bulk_data_uri_handler=lambda *_: b"")


def document_of(req: service.ReadingRequest, version: ReportVersion, names: dict[int, str], reviewer: str,
                signed_at: datetime, language: str, captures: dict[str, bytes] | None = None,
                logo: bytes = b"", share: PrintedShare | None = None) -> ReportDocument:
    return ReportDocument(
        request_number=req.number, version=version.number,
        hospital=names.get(req.requesting_institution_id, ""),
        reading_hospital=names.get(req.reading_institution_id, ""),
        patient_name=req.patient_name, patient_id=req.patient_id, patient_sex=req.patient_sex,
        patient_age=req.patient_age, examination=req.examination, modality=req.modality,
        clinical_history=req.clinical_history, findings=version.findings, impression=version.impression,
        fields=dict(version.fields), measurements=list(version.measurements), key_images=list(version.key_images),
        reporter=version.author_name, reviewer=reviewer, signed_at=signed_at, language=language,
        captures=captures or {}, logo=logo, share=share,
    )


async def approve(ctx: AppContext, p: Principal, request_id: int, comment: str = "",
                  language: str = "zh-CN") -> service.RequestView:
    async with ctx.sessions() as session:
        req = await service._load(session, p, request_id)
        service._authorise(p, req, "approve")
        version = await service._latest(session, req)
        if version is None or version.status != "submitted":
            raise InvalidInput(f"reading request {request_id} has no submitted report to approve")
        study = (await session.exec(
            select(Study).join(ReadingRequestStudy, col(ReadingRequestStudy.study_id) == col(Study.id))
            .where(col(ReadingRequestStudy.request_id) == req.id).order_by(col(ReadingRequestStudy.id)).limit(1)
        )).scalar()
        ids = [i for i in (req.requesting_institution_id, req.reading_institution_id) if i]
        names = dict((await session.exec(select(Institution.id, Institution.name)
                                            .where(col(Institution.id).in_(ids)))).all())
        reviewer = await service.person_name(session, p)
        reference = None
        key_headers: dict[str, Dataset] = {}
        previous: list[Dataset] = []
        if study is not None:
            linked = select(ReadingRequestStudy.study_id).where(col(ReadingRequestStudy.request_id) == req.id)
            first = (await session.exec(
                select(Instance.metadata_json).where(col(Instance.study_id) == study.id,
                                                     col(Instance.state) == InstanceState.CREATED)
                .order_by(col(Instance.id)).limit(1))).scalar()
            reference = _header(first) if first else None
            sops = [k["sop_instance_uid"] for k in version.key_images]
            if sops:
                for meta in (await session.exec(select(Instance.metadata_json).where(
                        col(Instance.sop_instance_uid).in_(sops), col(Instance.study_id).in_(linked),
                        col(Instance.state) == InstanceState.CREATED))).scalars():
                    h = _header(meta)
                    key_headers[str(h.SOPInstanceUID)] = h
                unknown = [s for s in sops if s not in key_headers]
                if unknown:
                    raise InvalidInput(f"key image {unknown[0]} is not an instance of the request's studies")
            for old in (await session.exec(select(ReportVersion).where(
                    col(ReportVersion.request_id) == req.id, col(ReportVersion.status) == "approved",
                    col(ReportVersion.sr_sop_instance_uid) != ""))).scalars():
                d = Dataset()
                d.StudyInstanceUID = study.study_instance_uid
                d.SeriesInstanceUID = request_uid(req.id, "sr-series")
                d.SOPClassUID = SR_CLASS
                d.SOPInstanceUID = old.sr_sop_instance_uid
                previous.append(d)
    signed_at = utcnow()
    captures = await key_images.captures_of(ctx, req.id or 0, list(version.key_images))
    doc = document_of(req, version, names, reviewer, signed_at, language, captures,
                      await _logo(ctx, req.reading_institution_id))
    sr_uid = pdf_uid = ""
    if study is not None and reference is not None:
        sr_uid = request_uid(req.id, version.number, "sr")
        pdf_uid = request_uid(req.id, version.number, "pdf")
        pdf = await asyncio.to_thread(build_pdf, doc)
        sr = await asyncio.to_thread(build_sr, doc, reference, key_headers, series_uid=request_uid(req.id, "sr-series"),
                                     sop_uid=sr_uid, previous=previous)
        epdf = encapsulated_pdf(pdf, reference, doc, series_uid=request_uid(req.id, "pdf-series"), sop_uid=pdf_uid)
        await ingest_datasets(ctx, study.study_instance_uid, [sr, epdf])
    async with ctx.write_session() as session:
        req = await service._load(session, p, request_id)
        v = await session.get(ReportVersion, version.id)
        assert v is not None
        v.status, v.reviewer_name, v.signed_at, v.review_comment = "approved", reviewer, signed_at, comment
        v.sr_sop_instance_uid, v.pdf_sop_instance_uid = sr_uid, pdf_uid
        await session.flush()  # the COMPLETED workitem's output (reported by _cas) is this version's SR and PDF
        await service._cas(session, req, "approve", RequestState.APPROVED, reviewer_user_id=p.user_id,
                           reviewer_name=reviewer, approved_at=signed_at)
        session.add(service._event(req, p, "approve", RequestState.IN_REVIEW.value,
                                   f"version {v.number}" + (f", SR {sr_uid}" if sr_uid else "")))
        await session.commit()
        view = await service._view(session, p, req, True)
    service.notify(ctx)
    return view


async def _logo(ctx: AppContext, institution_id: int) -> bytes:
    found = await logos.logo_of(ctx, institution_id)
    return found[0] if found else b""


async def report_pdf(ctx: AppContext, p: Principal, request_id: int, number: int | None, language: str,
                     share: PrintedShare | None = None) -> bytes:
    """The print view's PDF of a version (the newest the caller may see when ``number`` is None), with
    the patient's share link (QR code and access code) when the print view made one."""
    view = await service.get_request(ctx, p, request_id, with_events=False)
    versions = [v for v in view.versions if number is None or v.number == number]
    if not versions:
        raise InvalidInput(f"reading request {request_id} has no report version to print"
                           + (f" numbered {number}" if number else ""))
    v = versions[-1]
    req = view.request
    captures = await key_images.captures_of(ctx, req.id or 0, list(v.key_images))
    doc = document_of(req, v, view.institutions, v.reviewer_name or "-", v.signed_at or utcnow(), language,
                      captures, await _logo(ctx, req.reading_institution_id), share)
    return await asyncio.to_thread(build_pdf, doc)




async def printed_share(ctx: AppContext, p: Principal, request_id: int, public_id: str, code: str, url: str
                        ) -> PrintedShare:
    """The share link to print on the report: one of the caller's institution's links to a study of the
    request, still active, and the access code that opens it (the code is kept only as a hash, so the
    print view that made the link sends it back)."""
    view = await service.get_request(ctx, p, request_id, with_events=False)
    link, study_uid = await share_service.staff_link(ctx, p, public_id)
    if study_uid not in {s.study_instance_uid for s in view.studies}:
        raise InvalidInput(f"share link {public_id[:40]} is not a link to a study of reading request {request_id}")
    if share_service.state_of(link) != "active":
        raise InvalidInput(f"share link {public_id[:40]} is {share_service.state_of(link)}; make a new one")
    if not await asyncio.to_thread(codes.code_matches, link.code_hash, code):
        raise InvalidInput("the access code does not open this share link")
    expires = aware(link.expires_at).strftime("%Y-%m-%d %H:%M UTC")
    return PrintedShare(url=url, qr_png=await asyncio.to_thread(qr.qr_png, url), code=codes.normalise_code(code),
                        expires=expires)
