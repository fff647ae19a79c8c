"""The reading workflow through its services on SQLite and PostgreSQL, callers as Principal values.

Self-diagnosis; superior-hospital mode with return and resubmit; cancel; send back for material;
assistance; an approved report amended (new SR version with its predecessor); tenancy of the
requests and of the linked studies through the grants.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pydicom
import pytest
import pytest_asyncio
from sqlalchemy import select, update
from sqlmodel import col

from server.app_errors import Forbidden, InvalidInput, NotFoundError, StateConflict
from server.auth.principal import Role
from server.context import AppContext, open_context
from server.db.access import StudyGrant
from server.db.archive import Instance, Study
from server.db.database import utcnow
from server.db.reading import ReadingEvent, ReadingLock
from server.reading import approval, service
from server.reading.access import study_visible
from server.reading.inputs import parse_content, parse_request
from server.reading.service import LockHeld
from server.reading.states import RequestTransitionError
from tests.server.reading.helpers import Alliance, doctor, make_alliance, store_study

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from tests.conftest import make_database_url

    tmp = tmp_path_factory.mktemp(f"reading-{request.param}")
    for url in make_database_url(request.param, tmp):
        yield url, tmp


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def ground(module_db: tuple[str, Path]) -> AsyncIterator[tuple[AppContext, Alliance]]:
    from server.settings import Settings

    url, tmp = module_db
    settings = Settings(data_dir=tmp / "data", database_url=url, workers=0, reading_lock_seconds=600)
    async with open_context(settings) as ctx:
        yield ctx, await make_alliance(ctx)


async def visible_uids(ctx: AppContext, p) -> set[str]:  # type: ignore[no-untyped-def]
    async with ctx.sessions() as s:
        return set((await s.exec(select(Study.study_instance_uid).where(study_visible(p)))).scalars())


CONTENT = {"findings": "双侧大脑半球对称，未见异常信号。", "impression": "颅脑CT平扫未见明显异常。",
           "fields": {"technique": "平扫"},
           "measurements": [{"name": "CBF whole brain", "value": 48.25, "unit": "ml/(100.g.min)",
                             "unit_label": "ml/100g/min", "source": "ASL v1"}]}


async def test_self_diagnosis_from_request_to_approved_sr_and_pdf(ground: tuple[AppContext, Alliance]) -> None:
    ctx, a = ground
    requester = doctor(a.county, Role.REQUESTING_DOCTOR, 1, "申请医生")
    reporter = doctor(a.county, Role.REPORTING_DOCTOR, 2, "报告医生")
    reviewer = doctor(a.county, Role.REVIEWER, 3, "审核医生")
    study, datasets = await store_study(ctx, a.county)
    req = await service.create_request(ctx, requester, parse_request({"study_uids": [study], "mode": "self",
                                                                       "clinical_history": "头痛三天"}))
    assert req.state == "to_report" and req.reading_institution_id == a.county
    assert req.number.endswith(f"{req.id:06d}") and req.patient_name == "Zhang^San"
    with pytest.raises(RequestTransitionError) as info:
        await service.simple_action(ctx, reviewer, req.id or 0, "approve")
    assert info.value.current_state == "to_report"
    view = await service.lock(ctx, reporter, req.id or 0)
    assert view.request.state == "reporting" and view.lock is not None and view.lock.holder_name == "报告医生"
    content = parse_content({**CONTENT, "key_images": [{
        "study_instance_uid": study, "series_instance_uid": str(datasets[0].SeriesInstanceUID),
        "sop_instance_uid": str(datasets[0].SOPInstanceUID), "window_center": 40, "window_width": 80}]})
    v1 = await service.save_report(ctx, reporter, req.id or 0, content)
    again = await service.save_report(ctx, reporter, req.id or 0, content)
    assert again.number == v1.number == 1  # unchanged content is no new version
    await service.submit(ctx, reporter, req.id or 0)
    await service.simple_action(ctx, reviewer, req.id or 0, "start_review")
    view = await approval.approve(ctx, reviewer, req.id or 0, language="zh-CN")
    assert view.request.state == "approved" and view.versions[-1].status == "approved"
    v = view.versions[-1]
    assert v.sr_sop_instance_uid and v.pdf_sop_instance_uid and v.reviewer_name == "审核医生"
    # The SR and the PDF are in the study, parsed back: text and numbers as written.
    async with ctx.sessions() as s:
        rows = {i.sop_instance_uid: i for i in (await s.exec(select(Instance).where(
            col(Instance.sop_instance_uid).in_([v.sr_sop_instance_uid, v.pdf_sop_instance_uid])))).scalars()}
    sr = pydicom.dcmread(io.BytesIO(await ctx.store.get_bytes(rows[v.sr_sop_instance_uid].blob_key)))
    assert sr.StudyInstanceUID == study and sr.CompletionFlag == "COMPLETE" and sr.VerificationFlag == "VERIFIED"
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "2000"
    texts = _texts(sr)
    assert CONTENT["findings"] in texts and CONTENT["impression"] in texts
    nums = _nums(sr)
    assert nums == [(48.25, "ml/(100.g.min)")]
    images = [i for i in _items(sr) if i.ValueType == "IMAGE"]
    assert images[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == datasets[0].SOPInstanceUID
    pdf = pydicom.dcmread(io.BytesIO(await ctx.store.get_bytes(rows[v.pdf_sop_instance_uid].blob_key)))
    assert bytes(pdf.EncapsulatedDocument)[:5] == b"%PDF-"
    # Amend: a new version, a new SR in the same series naming its predecessor.
    await service.simple_action(ctx, reporter, req.id or 0, "amend")
    await service.save_report(ctx, reporter, req.id or 0, parse_content({**CONTENT, "impression": "更正：未见异常。"}))
    await service.submit(ctx, reporter, req.id or 0)
    await service.simple_action(ctx, reviewer, req.id or 0, "start_review")
    view = await approval.approve(ctx, reviewer, req.id or 0)
    v2 = view.versions[-1]
    assert v2.number == 2 and v2.sr_sop_instance_uid != v.sr_sop_instance_uid
    async with ctx.sessions() as s:
        blob = (await s.exec(select(Instance.blob_key).where(
            col(Instance.sop_instance_uid) == v2.sr_sop_instance_uid))).scalar_one()
    sr2 = pydicom.dcmread(io.BytesIO(await ctx.store.get_bytes(blob)))
    assert sr2.SeriesInstanceUID == sr.SeriesInstanceUID
    pred = sr2.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert pred.ReferencedSOPInstanceUID == v.sr_sop_instance_uid
    assert "更正：未见异常。" in _texts(sr2)
    actions = await _actions(ctx, req.id or 0)
    assert actions == ["create", "lock", "save", "submit", "start_review", "approve", "amend", "save", "submit",
                       "start_review", "approve"]


async def test_superior_mode_grants_exactly_the_linked_studies(ground: tuple[AppContext, Alliance]) -> None:
    ctx, a = ground
    requester = doctor(a.county, Role.REQUESTING_DOCTOR, 11, "county-req")
    reader = doctor(a.city, Role.REPORTING_DOCTOR, 12, "city-rep")
    reviewer = doctor(a.city, Role.REVIEWER, 13, "city-rev")
    province = doctor(a.province, Role.REPORTING_DOCTOR, 14, "prov-rep")
    outsider = doctor(a.other, Role.REPORTING_DOCTOR, 15, "other-rep")
    linked, _ = await store_study(ctx, a.county, "Li^Si")
    unlinked, _ = await store_study(ctx, a.county, "Wang^Wu")
    assert linked not in await visible_uids(ctx, reader)
    with pytest.raises(InvalidInput):  # not a superior of the county hospital
        await service.create_request(ctx, requester, parse_request(
            {"study_uids": [linked], "mode": "superior", "reading_institution_id": a.other}))
    with pytest.raises(InvalidInput):  # a study the requester cannot see
        await service.create_request(ctx, reader, parse_request({"study_uids": [unlinked], "mode": "self"}))
    req = await service.create_request(ctx, requester, parse_request(
        {"study_uids": [linked], "mode": "superior", "reading_institution_id": a.city}))
    seen = await visible_uids(ctx, reader)
    assert linked in seen and unlinked not in seen
    with pytest.raises(NotFoundError):
        await service.get_request(ctx, outsider, req.id or 0)
    with pytest.raises(Forbidden):  # the requesting side does not report in superior mode
        await service.lock(ctx, doctor(a.county, Role.REPORTING_DOCTOR, 16, "county-rep"), req.id or 0)
    # Send back for missing material, resubmit with one more study.
    with pytest.raises(InvalidInput):
        await service.simple_action(ctx, reader, req.id or 0, "send_back")
    await service.simple_action(ctx, reader, req.id or 0, "send_back", "缺少既往片")
    view = await service.link_studies(ctx, requester, req.id or 0, [unlinked])
    assert {s.study_instance_uid for s in view.studies} == {linked, unlinked}
    assert unlinked in await visible_uids(ctx, reader)
    await service.simple_action(ctx, requester, req.id or 0, "resubmit")
    # Assistance: the province hospital joins and sees the studies; the outsider still does not.
    with pytest.raises(InvalidInput):
        await service.request_assistance(ctx, reader, req.id or 0, a.other, "")
    await service.lock(ctx, reader, req.id or 0)
    await service.request_assistance(ctx, reader, req.id or 0, a.province, "疑难病例")
    assert {linked, unlinked} <= await visible_uids(ctx, province)
    assert not ({linked, unlinked} & await visible_uids(ctx, outsider))
    assert (await service.get_request(ctx, province, req.id or 0)).request.assisting_institution_id == a.province
    # Return and resubmit; the requester sees no report before approval, then only the approved one.
    await service.save_report(ctx, reader, req.id or 0, parse_content(CONTENT))
    await service.submit(ctx, reader, req.id or 0)
    assert (await service.get_request(ctx, requester, req.id or 0)).versions == []
    await service.simple_action(ctx, reviewer, req.id or 0, "start_review")
    with pytest.raises(InvalidInput):
        await service.simple_action(ctx, reviewer, req.id or 0, "return")
    view = await service.simple_action(ctx, reviewer, req.id or 0, "return", "诊断意见不完整")
    assert view.request.state == "returned" and view.request.reason == "诊断意见不完整"
    await service.lock(ctx, reader, req.id or 0)
    await service.save_report(ctx, reader, req.id or 0, parse_content({**CONTENT, "impression": "补充后的意见"}))
    await service.submit(ctx, reader, req.id or 0)
    await service.simple_action(ctx, reviewer, req.id or 0, "start_review")
    await approval.approve(ctx, reviewer, req.id or 0)
    mine = await service.get_request(ctx, requester, req.id or 0)
    assert [v.impression for v in mine.versions] == ["补充后的意见"]


async def test_cancel_before_reporting_removes_the_grants(ground: tuple[AppContext, Alliance]) -> None:
    ctx, a = ground
    requester = doctor(a.county, Role.REQUESTING_DOCTOR, 21, "r")
    reader = doctor(a.city, Role.REPORTING_DOCTOR, 22, "c")
    study, _ = await store_study(ctx, a.county, "Zhao^Liu")
    req = await service.create_request(ctx, requester, parse_request(
        {"study_uids": [study], "mode": "superior", "reading_institution_id": a.city}))
    assert study in await visible_uids(ctx, reader)
    with pytest.raises(Forbidden):
        await service.simple_action(ctx, reader, req.id or 0, "cancel")
    view = await service.simple_action(ctx, requester, req.id or 0, "cancel", "患者转院")
    assert view.request.state == "cancelled"
    assert study not in await visible_uids(ctx, reader)
    async with ctx.sessions() as s:
        assert (await s.exec(select(StudyGrant).where(col(StudyGrant.source_id) == req.id))).first() is None
    with pytest.raises(StateConflict):
        await service.lock(ctx, reader, req.id or 0)
    with pytest.raises(StateConflict):  # cancelling after reporting started is refused too
        req2 = await service.create_request(ctx, requester, parse_request({"study_uids": [study]}))
        await service.lock(ctx, doctor(a.county, Role.REPORTING_DOCTOR, 23, "s"), req2.id or 0)
        await service.simple_action(ctx, requester, req2.id or 0, "cancel")


async def test_the_lock_one_holder_expiry_and_audited_takeover(ground: tuple[AppContext, Alliance]) -> None:
    ctx, a = ground
    requester = doctor(a.county, Role.REQUESTING_DOCTOR, 31, "r")
    first = doctor(a.county, Role.REPORTING_DOCTOR, 32, "王医生")
    second = doctor(a.county, Role.REPORTING_DOCTOR, 33, "李医生")
    req = await service.create_request(ctx, requester, parse_request({}))
    await service.lock(ctx, first, req.id or 0)
    with pytest.raises(LockHeld) as info:
        await service.lock(ctx, second, req.id or 0)
    assert "王医生" in info.value.message and info.value.current_state == "reporting"
    with pytest.raises(LockHeld):
        await service.take_over(ctx, second, req.id or 0)
    with pytest.raises(LockHeld):
        await service.save_report(ctx, second, req.id or 0, parse_content(CONTENT))
    with pytest.raises(Forbidden):
        await service.release(ctx, second, req.id or 0)
    async with ctx.write() as conn:  # the lock is left open past its time
        await conn.execute(update(ReadingLock).where(col(ReadingLock.request_id) == req.id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    view = await service.take_over(ctx, second, req.id or 0)
    assert view.lock is not None and view.lock.holder_name == "李医生"
    with pytest.raises(LockHeld):
        await service.save_report(ctx, first, req.id or 0, parse_content(CONTENT))
    await service.save_report(ctx, second, req.id or 0, parse_content(CONTENT))
    view = await service.release(ctx, second, req.id or 0)
    assert view.request.state == "to_report" and view.lock is None
    async with ctx.sessions() as s:
        takeover = (await s.exec(select(ReadingEvent).where(col(ReadingEvent.request_id) == req.id,
                                                               col(ReadingEvent.action) == "take_over"))).scalar_one()
    assert takeover.actor_name == "李医生" and "王医生" in takeover.detail


async def _actions(ctx: AppContext, request_id: int) -> list[str]:
    async with ctx.sessions() as s:
        return list((await s.exec(select(ReadingEvent.action).where(col(ReadingEvent.request_id) == request_id)
                                     .order_by(col(ReadingEvent.id)))).scalars())


def _items(ds: pydicom.Dataset) -> list[pydicom.Dataset]:
    out = []
    for item in getattr(ds, "ContentSequence", []):
        out.append(item)
        out.extend(_items(item))
    return out


def _texts(ds: pydicom.Dataset) -> list[str]:
    return [i.TextValue for i in _items(ds) if i.ValueType == "TEXT"]


def _nums(ds: pydicom.Dataset) -> list[tuple[float, str]]:
    return [(float(i.MeasuredValueSequence[0].NumericValue),
             i.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue)
            for i in _items(ds) if i.ValueType == "NUM"]
