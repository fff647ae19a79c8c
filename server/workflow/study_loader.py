"""Reading a study's stored instances back as pydicom datasets for the engine."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable

import pydicom
from sqlmodel import col, select

from server.context import AppContext
from server.db.analysis import AnalysisResult
from server.db.archive import Instance, InstanceState, Series, Study

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"


async def own_result_series(ctx: AppContext, study_uid: str) -> set[str]:
    """Series we wrote ourselves (derived maps, reports): never analysis input."""
    async with ctx.sessions() as s:
        stmt = select(AnalysisResult.series).where(AnalysisResult.study_instance_uid == study_uid)
        rows = (await s.exec(stmt)).all()
    return {uid for series in rows for uid in series.values()}


async def study_row(ctx: AppContext, study_uid: str) -> Study | None:
    async with ctx.sessions() as s:
        return (await s.exec(select(Study).where(Study.study_instance_uid == study_uid))).first()


async def instance_rows(
    ctx: AppContext,
    study_uid: str,
    series_uids: Iterable[str] | None = None,
    modalities: Iterable[str] | None = None,
) -> list[tuple[str, Instance]]:
    """(SeriesInstanceUID, Instance) of every visible instance of the study."""
    stmt = (
        select(Series.series_instance_uid, Instance)
        .join(Series, col(Series.id) == Instance.series_id)
        .join(Study, col(Study.id) == Instance.study_id)
        .where(Study.study_instance_uid == study_uid, Instance.state == InstanceState.CREATED)
    )
    if series_uids is not None:
        stmt = stmt.where(col(Series.series_instance_uid).in_(list(series_uids)))
    if modalities is not None:
        stmt = stmt.where(col(Series.modality).in_(list(modalities)))
    async with ctx.sessions() as s:
        return [(r[0], r[1]) for r in (await s.exec(stmt)).all()]


async def load_datasets(
    ctx: AppContext,
    study_uid: str,
    series_uids: Iterable[str] | None = None,
    *,
    pixels: bool,
    exclude: set[str] | None = None,
    modalities: Iterable[str] | None = None,
) -> list[pydicom.Dataset]:
    rows = [
        (series, inst)
        for series, inst in await instance_rows(ctx, study_uid, series_uids, modalities)
        if series not in (exclude or set()) and inst.sop_class_uid != ENCAPSULATED_PDF
    ]
    sem = asyncio.Semaphore(16)

    async def read(inst: Instance) -> bytes:
        async with sem:
            return await ctx.store.get_bytes(inst.blob_key)

    blobs = await asyncio.gather(*(read(inst) for _, inst in rows))

    def parse() -> list[pydicom.Dataset]:
        return [pydicom.dcmread(io.BytesIO(b), stop_before_pixels=not pixels) for b in blobs]

    # Parsing hundreds of files would stall the event loop (and the API with it).
    return await asyncio.to_thread(parse)


def study_values(study: Study | None) -> dict:
    """Copies of study attributes a job row keeps (listing and filtering jobs needs no join)."""
    if study is None:
        return {}
    return {
        "institution_id": study.institution_id,
        "patient_name": study.patient_name,
        "patient_name_upper": study.patient_name_upper or study.patient_name.upper(),
        "patient_id": study.patient_id,
        "study_date": study.study_date,
        "study_description": study.study_description,
        "exam_datetime": exam_datetime(study.study_date, study.study_time),
    }


def exam_datetime(date: str, time: str) -> str:
    """Sortable "YYYYMMDDHHMMSS" (empty when the date is unknown)."""
    return f"{date}{time.split('.')[0]:0<6}" if date else ""
