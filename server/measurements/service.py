"""Store the viewer's measurements of a study as a new TID 1500 SR instance in the study.

The caller must see the study (another tenant's study is a 404, like one that does not exist) and
every referenced image must be an instance of that study, with its points inside the image. Each
save is a new instance of the study's one measurement series (its UID derived from the study's), naming the
previous instance as Predecessor Document; the newest instance is the study's current measurements (an
empty save holds no measurement: "all cleared"). It is stored through the ingest service as the caller,
so tenancy and the change feed apply like for a STOW.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from sqlalchemy import func, select
from sqlmodel import col

from server.app_errors import InvalidInput, NotFoundError, StateConflict
from server.auth.principal import Principal
from server.context import AppContext
from server.db.archive import Instance, InstanceState, Institution, Series, Study
from server.db.database import utcnow
from server.measurements.key_objects import build_key_object
from server.measurements.report import Measurement, build_report, check_inside
from server.reading import service as reading_service
from server.reading.access import study_visible
from server.services.ingest import IngestService

SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR Storage


@dataclass(frozen=True)
class Saved:
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    instance_number: int
    count: int


def series_uid_of(study_uid: str) -> str:
    return str(generate_uid(entropy_srcs=["cirrus-measurements", study_uid]))


def _header(metadata_json: bytes) -> Dataset:
    return Dataset.from_json(orjson.loads(metadata_json), bulk_data_uri_handler=lambda *_: b"")


async def save(ctx: AppContext, p: Principal, study_uid: str, measurements: list[Measurement]) -> Saved:
    series_uid = series_uid_of(study_uid)
    async with ctx.sessions() as session:
        study = (await session.exec(select(Study).where(col(Study.study_instance_uid) == study_uid,
                                                        study_visible(p)))).scalar()
        if study is None:
            raise NotFoundError(f"study {study_uid} is not in the archive (or not visible to you)")
        wanted = sorted({m.sop_uid for m in measurements})
        rows = (await session.exec(
            select(Instance.sop_instance_uid, Series.series_instance_uid, Instance.metadata_json)
            .join(Series, col(Series.id) == col(Instance.series_id))
            .where(col(Instance.study_id) == study.id, col(Instance.sop_instance_uid).in_(wanted),
                   col(Instance.state) == InstanceState.CREATED))).all() if wanted else []
        headers = {sop: (series, _header(meta)) for sop, series, meta in rows}
        if not headers:  # an empty report still names the study: its first image is the evidence
            first = (await session.exec(
                select(Instance.sop_instance_uid, Instance.metadata_json)
                .where(col(Instance.study_id) == study.id, col(Instance.state) == InstanceState.CREATED,
                       col(Instance.sop_class_uid) != SR_CLASS)
                .order_by(col(Instance.id)).limit(1))).first()
            if first is None:
                raise InvalidInput(f"study {study_uid} holds no image to measure on")
        previous = (await session.exec(
            select(Instance.sop_instance_uid, Instance.instance_number)
            .join(Series, col(Series.id) == col(Instance.series_id))
            .where(col(Series.series_instance_uid) == series_uid, col(Instance.state) == InstanceState.CREATED)
            .order_by(col(Instance.instance_number).desc(), col(Instance.id).desc()).limit(1))).first()
        count = (await session.exec(
            select(func.count()).select_from(Instance).join(Series, col(Series.id) == col(Instance.series_id))
            .where(col(Series.series_instance_uid) == series_uid))).scalar() or 0
        observer = await reading_service.person_name(session, p)
        institution = (await session.exec(select(Institution.name)
                                          .where(col(Institution.id) == p.institution_id))).scalar() or ""
    for n, m in enumerate(measurements):
        found = headers.get(m.sop_uid)
        if found is None:
            raise InvalidInput(f"measurements[{n}]: image {m.sop_uid} is not an instance of study {study_uid}")
        series, header = found
        if series != m.series_uid:
            raise InvalidInput(f"measurements[{n}]: image {m.sop_uid} belongs to series {series}, not {m.series_uid}")
        check_inside(m, int(getattr(header, "Rows", 0) or 0), int(getattr(header, "Columns", 0) or 0), n)
        frames = int(getattr(header, "NumberOfFrames", 1) or 1)
        if m.frame > frames:
            raise InvalidInput(f"measurements[{n}]: image {m.sop_uid} has {frames} frame(s), not {m.frame}")
    sources = {sop: h for sop, (_, h) in headers.items()} or {first[0]: _header(first[1])}
    number = max(int(previous[1] or 0) if previous else 0, count) + 1
    sop_uid = str(generate_uid())
    prior: list[Dataset] = []
    if previous is not None:
        d = Dataset()
        d.StudyInstanceUID, d.SeriesInstanceUID = study_uid, series_uid
        d.SOPClassUID, d.SOPInstanceUID = SR_CLASS, previous[0]
        prior.append(d)
    sr = await asyncio.to_thread(
        build_report, measurements, sources, series_uid=series_uid, sop_uid=sop_uid, instance_number=number,
        observer=observer, institution=institution, when=utcnow(), previous=prior)
    [outcome] = await IngestService(ctx).ingest_datasets([sr], expected_study_uid=study_uid, principal=p)
    if outcome.status == "failed":
        raise StateConflict(f"storing the measurement report failed: {outcome.message}")
    return Saved(study_uid, series_uid, sop_uid, number, len(measurements))


async def mark_key_image(ctx: AppContext, p: Principal, study_uid: str, series_uid: str, sop_uid: str, frame: int,
                         note: str) -> Saved:
    """A new Key Object Selection instance in the study's key-object series naming one image."""
    ko_series = str(generate_uid(entropy_srcs=["cirrus-key-images", study_uid]))
    async with ctx.sessions() as session:
        study = (await session.exec(select(Study).where(col(Study.study_instance_uid) == study_uid,
                                                        study_visible(p)))).scalar()
        if study is None:
            raise NotFoundError(f"study {study_uid} is not in the archive (or not visible to you)")
        row = (await session.exec(
            select(Series.series_instance_uid, Instance.metadata_json)
            .join(Series, col(Series.id) == col(Instance.series_id))
            .where(col(Instance.study_id) == study.id, col(Instance.sop_instance_uid) == sop_uid,
                   col(Instance.state) == InstanceState.CREATED))).first()
        count = (await session.exec(
            select(func.count()).select_from(Instance).join(Series, col(Series.id) == col(Instance.series_id))
            .where(col(Series.series_instance_uid) == ko_series))).scalar() or 0
        observer = await reading_service.person_name(session, p)
    if row is None:
        raise InvalidInput(f"image {sop_uid} is not an instance of study {study_uid}")
    if row[0] != series_uid:
        raise InvalidInput(f"image {sop_uid} belongs to series {row[0]}, not {series_uid}")
    header = _header(row[1])
    frames = int(getattr(header, "NumberOfFrames", 1) or 1)
    if frame > frames:
        raise InvalidInput(f"image {sop_uid} has {frames} frame(s), not {frame}")
    sop = str(generate_uid())
    ko = await asyncio.to_thread(build_key_object, header, frame, series_uid=ko_series, sop_uid=sop,
                                 instance_number=count + 1, observer=observer, note=note, when=utcnow())
    [outcome] = await IngestService(ctx).ingest_datasets([ko], expected_study_uid=study_uid, principal=p)
    if outcome.status == "failed":
        raise StateConflict(f"storing the key image document failed: {outcome.message}")
    return Saved(study_uid, ko_series, sop, count + 1, 1)
