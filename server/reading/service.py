"""Reading requests: create, see, act on (the state table), lock, write report versions, attach material.

Every function takes the caller's ``Principal``; visibility is part of the SQL (``access``). A change
of state is a compare-and-set ``UPDATE ... WHERE state IN (sources)`` built from the state table, so
two callers racing for one request (two doctors locking it) cannot both win. Every change is written
to the request's history (``ReadingEvent``) in the same transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from server.app_errors import InvalidInput, NotFoundError, StateConflict
from server.auth.principal import Principal, Role
from server.auth.visibility import forget_decisions
from server.context import AppContext
from server.db.accounts import User
from server.db.analysis import new_workitem_uid
from server.db.archive import Institution, Study
from server.db.changes import READING, WORKITEMS
from server.db.database import aware, utcnow
from server.db.reading import (
    ReadingAttachment,
    ReadingEvent,
    ReadingLock,
    ReadingRequest,
    ReadingRequestStudy,
    ReportVersion,
)
from server.reading import access, workitems
from server.reading.inputs import ReportContent, RequestInput
from server.reading.states import (
    MATERIAL_STATES,
    REPORT_VISIBLE_TO_REQUESTER,
    ActionForbidden,
    Party,
    RequestState,
    RequestTransitionError,
    actions_for,
    check_role,
    check_state,
)

R = ReadingRequest
ATTACHMENT_LIMIT = 50 * 1024 * 1024


class LockHeld(StateConflict):
    """Another doctor holds the report lock (409 naming the state and the holder)."""

    def __init__(self, request_id: int, holder: str, expires_at: datetime) -> None:
        super().__init__(
            f"reading request {request_id} is being reported by {holder or 'another doctor'} "
            f"(locked until {aware(expires_at).isoformat(timespec='seconds')})",
            RequestState.REPORTING.value,
        )
        self.holder = holder


@dataclass
class RequestView:
    """A request as one caller sees it."""

    request: ReadingRequest
    parties: frozenset[Party]
    actions: list[str]
    studies: list[Study]
    attachments: list[ReadingAttachment]
    lock: ReadingLock | None
    versions: list[ReportVersion]
    institutions: dict[int, str]
    events: list[ReadingEvent] = field(default_factory=list)


def actor_name(p: Principal) -> str:
    return p.username or (f"user {p.user_id}" if p.user_id else p.method.value)


async def person_name(session: AsyncSession, p: Principal) -> str:
    """The caller's name on the report and the lock: the account's display name, else ``actor_name``.

    Event rows keep ``actor_name`` (the login name, the audit identity); people read display names.
    """
    if p.user_id is not None:
        shown = (await session.exec(select(User.display_name).where(col(User.id) == p.user_id))).scalar()
        if shown and shown.strip():
            return shown.strip()
    return actor_name(p)


def diagnosis_number(created: datetime, request_id: int) -> str:
    """The diagnosis number: the date and the id, e.g. 20261202000017 (its last digit is a filter)."""
    return f"{created:%Y%m%d}{request_id:06d}"


def _event(req: ReadingRequest, p: Principal, action: str, from_state: str, detail: str = "") -> ReadingEvent:
    return ReadingEvent(request_id=req.id or 0, action=action, from_state=from_state, to_state=req.state,
                        actor_user_id=p.user_id, actor_name=actor_name(p), actor_institution_id=p.institution_id,
                        detail=detail[:4000])


def notify(ctx: AppContext) -> None:
    ctx.changes.publish(READING)
    ctx.changes.publish(WORKITEMS)  # the UPS events recorded with the change (server.reading.workitems)


# -- creating and seeing -------------------------------------------------------------------------


async def _visible_studies(session: AsyncSession, p: Principal, uids: list[str]) -> list[Study]:
    if not uids:
        return []
    rows = list((await session.exec(
        select(Study).where(col(Study.study_instance_uid).in_(uids), access.study_visible(p))
    )).scalars())
    found = {s.study_instance_uid for s in rows}
    missing = [u for u in uids if u not in found]
    if missing:
        raise InvalidInput(f"study {missing[0]} is not in the archive (or not visible to you)")
    order = {u: i for i, u in enumerate(uids)}
    return sorted(rows, key=lambda s: order[s.study_instance_uid])


async def _check_superior(session: AsyncSession, p: Principal, institution_id: int) -> None:
    if (await session.get(Institution, institution_id)) is None:
        raise InvalidInput(f"institution {institution_id} does not exist")
    if institution_id not in await access.ancestors(session, p.institution_id):
        raise InvalidInput(f"institution {institution_id} is not a superior hospital of yours")


async def create_request(ctx: AppContext, p: Principal, data: RequestInput) -> ReadingRequest:
    check_role("create", p.role, frozenset({Party.REQUESTER}))
    async with ctx.write_session() as session:
        studies = await _visible_studies(session, p, data.study_uids)
        if data.mode == "superior":
            assert data.reading_institution_id is not None
            await _check_superior(session, p, data.reading_institution_id)
            reading = data.reading_institution_id
        else:
            reading = p.institution_id
        first = studies[0] if studies else None
        patient_name = data.patient_name or (first.patient_name if first else "")
        req = R(
            state=RequestState.TO_REPORT.value, mode=data.mode,
            requesting_institution_id=p.institution_id, reading_institution_id=reading,
            requester_user_id=p.user_id, requester_name=await person_name(session, p),
            patient_name=patient_name, patient_name_upper=patient_name.upper(),
            patient_id=data.patient_id or (first.patient_id if first else ""),
            patient_sex=data.patient_sex or (first.patient_sex if first else ""),
            patient_age=data.patient_age,
            modality=data.modality or (first.modalities_in_study.split("\\")[0] if first else ""),
            body_part=data.body_part, examination=data.examination or (first.study_description if first else ""),
            clinical_history=data.clinical_history, chief_complaint=data.chief_complaint,
        )
        session.add(req)
        await session.flush()
        req.number = diagnosis_number(req.created_at, req.id or 0)
        for s in studies:
            session.add(ReadingRequestStudy(request_id=req.id or 0, study_id=s.id or 0))
        await session.flush()
        await access.route_grants(session, req)
        session.add(_event(req, p, "create", "", f"mode {data.mode}, {len(studies)} studies"))
        await session.flush()
        await workitems.report_change(await session.connection(), req, "", req.workitem_uid)
        await session.commit()
    forget_decisions(ctx)  # the reading hospital sees the studies now, not a cached "no" later
    notify(ctx)
    return req


async def _load(session: AsyncSession, p: Principal, request_id: int) -> ReadingRequest:
    req = (await session.exec(select(R).where(col(R.id) == request_id, access.request_visible(p)))).scalar()
    if req is None:
        raise NotFoundError(f"no reading request {request_id}")
    return req


async def get_request(ctx: AppContext, p: Principal, request_id: int, with_events: bool = True) -> RequestView:
    async with ctx.sessions() as session:
        req = await _load(session, p, request_id)
        return await _view(session, p, req, with_events)


async def _view(session: AsyncSession, p: Principal, req: ReadingRequest, with_events: bool) -> RequestView:
    parties = access.parties_of(p, req)
    studies = list((await session.exec(
        select(Study).join(ReadingRequestStudy, col(ReadingRequestStudy.study_id) == col(Study.id))
        .where(col(ReadingRequestStudy.request_id) == req.id).order_by(col(ReadingRequestStudy.id))
    )).scalars())
    attachments = list((await session.exec(
        select(ReadingAttachment).where(col(ReadingAttachment.request_id) == req.id).order_by(col(ReadingAttachment.id))
    )).scalars())
    lock = await session.get(ReadingLock, req.id) if req.state == RequestState.REPORTING else None
    versions = list((await session.exec(
        select(ReportVersion).where(col(ReportVersion.request_id) == req.id).order_by(col(ReportVersion.number))
    )).scalars())
    if not (p.is_admin or Party.READER in parties):
        # The requesting side sees the report once it is approved, and only approved versions.
        versions = [v for v in versions if v.status == "approved"] if req.state in REPORT_VISIBLE_TO_REQUESTER or any(
            v.status == "approved" for v in versions) else []
    ids = {req.requesting_institution_id, req.reading_institution_id, req.assisting_institution_id}
    names = dict((await session.exec(
        select(Institution.id, Institution.name).where(col(Institution.id).in_([i for i in ids if i]))
    )).all())
    events = list((await session.exec(
        select(ReadingEvent).where(col(ReadingEvent.request_id) == req.id).order_by(col(ReadingEvent.id))
    )).scalars()) if with_events else []
    return RequestView(req, parties, actions_for(req.state, p.role, parties if not p.is_admin else frozenset(Party)),
                       studies, attachments, lock, versions, names, events)


# -- transitions ---------------------------------------------------------------------------------


async def _cas(session: AsyncSession, req: ReadingRequest, action: str, target: RequestState,
               **values: Any) -> None:
    """Compare-and-set the state from the table's sources; RequestTransitionError if it moved."""
    t = check_state(action, req.state)
    before_state, before_uid = req.state, req.workitem_uid
    result = await session.exec(
        update(R).where(col(R.id) == req.id, col(R.state).in_(t.source_values))
        .values(state=target.value, revision=col(R.revision) + 1, updated_at=utcnow(), **values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(req)
        raise RequestTransitionError(action, req.state)
    await session.refresh(req)
    # The request is a UPS workitem: its subscribers hear of the change in this transaction.
    await workitems.report_change(await session.connection(), req, before_state, before_uid)


def _authorise(p: Principal, req: ReadingRequest, action: str) -> None:
    check_role(action, p.role, access.parties_of(p, req))
    check_state(action, req.state)


async def _lock_row(session: AsyncSession, req: ReadingRequest) -> ReadingLock | None:
    return await session.get(ReadingLock, req.id)


def holds(p: Principal, lock: ReadingLock | None) -> bool:
    """The caller holds ``lock`` (by user id, or by name for callers without one)."""
    if lock is None:
        return False
    if p.user_id is not None and lock.holder_user_id is not None:
        return lock.holder_user_id == p.user_id
    return lock.holder_name == actor_name(p)


async def _require_lock(session: AsyncSession, p: Principal, req: ReadingRequest, action: str) -> ReadingLock:
    lock = await _lock_row(session, req)
    if not holds(p, lock):
        if lock is None:
            raise RequestTransitionError(action, req.state)
        raise LockHeld(req.id or 0, lock.holder_name, lock.expires_at)
    assert lock is not None
    return lock


async def lock(ctx: AppContext, p: Principal, request_id: int) -> RequestView:
    """Start reporting: the caller holds the lock until it expires (renewed by every save)."""
    seconds = ctx.settings.reading_lock_seconds
    async with ctx.write_session() as session:
        req = await _load(session, p, request_id)
        check_role("lock", p.role, access.parties_of(p, req))
        if req.state == RequestState.REPORTING:
            held = await _lock_row(session, req)
            if holds(p, held):  # locking again is a renewal
                assert held is not None
                held.expires_at = utcnow() + timedelta(seconds=seconds)
                await session.commit()
                return await _view(session, p, req, True)
            if held is not None:
                raise LockHeld(req.id or 0, held.holder_name, held.expires_at)
        before = req.state
        await _cas(session, req, "lock", RequestState.REPORTING, reporter_user_id=p.user_id,
                   reporter_name=await person_name(session, p))
        await session.exec(delete(ReadingLock).where(col(ReadingLock.request_id) == req.id))
        session.add(ReadingLock(request_id=req.id or 0, holder_user_id=p.user_id,
                                holder_name=await person_name(session, p), holder_institution_id=p.institution_id,
                                expires_at=utcnow() + timedelta(seconds=seconds)))
        session.add(_event(req, p, "lock", before))
        await session.commit()
        view = await _view(session, p, req, True)
    notify(ctx)
    return view


async def take_over(ctx: AppContext, p: Principal, request_id: int) -> RequestView:
    """Take an expired lock over (audited with the previous holder); refused while it is live."""
    seconds = ctx.settings.reading_lock_seconds
    async with ctx.write_session() as session:
        req = await _load(session, p, request_id)
        _authorise(p, req, "take_over")
        held = await _lock_row(session, req)
        now = utcnow()
        previous = held.holder_name if held else ""
        if held is not None:
            result = await session.exec(
                update(ReadingLock).where(col(ReadingLock.request_id) == req.id, col(ReadingLock.expires_at) < now)
                .values(holder_user_id=p.user_id, holder_name=await person_name(session, p),
                        holder_institution_id=p.institution_id, acquired_at=now,
                        expires_at=now + timedelta(seconds=seconds))
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise LockHeld(req.id or 0, held.holder_name, held.expires_at)
            expired = aware(held.expires_at).isoformat(timespec="seconds")
        else:
            session.add(ReadingLock(request_id=req.id or 0, holder_user_id=p.user_id,
                                    holder_name=await person_name(session, p), holder_institution_id=p.institution_id,
                                    expires_at=now + timedelta(seconds=seconds)))
            expired = "no lock"
        await session.exec(update(R).where(col(R.id) == req.id).values(
            reporter_user_id=p.user_id, reporter_name=await person_name(session, p), revision=col(R.revision) + 1,
            updated_at=now))
        await session.refresh(req)
        session.add(_event(req, p, "take_over", req.state, f"lock of {previous or 'nobody'} expired ({expired})"))
        await session.commit()
        view = await _view(session, p, req, True)
    notify(ctx)
    return view


async def release(ctx: AppContext, p: Principal, request_id: int) -> RequestView:
    """Give the lock back: the holder, or an admin of the reading side."""
    async with ctx.write_session() as session:
        req = await _load(session, p, request_id)
        _authorise(p, req, "release")
        held = await _lock_row(session, req)
        if not holds(p, held) and p.role not in (Role.ADMIN, Role.INSTITUTION_ADMIN):
            raise ActionForbidden(f"only {held.holder_name if held else 'the holder'} or an admin may release the lock")
        before = req.state
        await _cas(session, req, "release", RequestState.TO_REPORT)
        await session.exec(delete(ReadingLock).where(col(ReadingLock.request_id) == req.id))
        session.add(_event(req, p, "release", before, f"lock of {held.holder_name}" if held else ""))
        await session.commit()
        view = await _view(session, p, req, True)
    notify(ctx)
    return view


def _same_content(v: ReportVersion, c: ReportContent) -> bool:
    return (v.findings, v.impression, v.fields, v.measurements, v.key_images, v.template_id) == (
        c.findings, c.impression, c.fields, [m.as_json() for m in c.measurements],
        [k.as_json() for k in c.key_images], c.template_id)


async def save_report(ctx: AppContext, p: Principal, request_id: int, content: ReportContent) -> ReportVersion:
    """Save the editor's content: a new version when it changed (autosave calls this); renews the lock."""
    async with ctx.write_session() as session:
        req = await _load(session, p, request_id)
        _authorise(p, req, "save")
        held = await _require_lock(session, p, req, "save")
        held.expires_at = utcnow() + timedelta(seconds=ctx.settings.reading_lock_seconds)
        latest = await _latest(session, req)
        if latest is not None and latest.status == "draft" and _same_content(latest, content):
            await session.commit()
            return latest
        version = ReportVersion(
            request_id=req.id or 0, number=(latest.number if latest else 0) + 1,
            findings=content.findings, impression=content.impression, fields=content.fields,
            measurements=[m.as_json() for m in content.measurements],
            key_images=[k.as_json() for k in content.key_images], template_id=content.template_id,
            author_user_id=p.user_id, author_name=await person_name(session, p), status="draft",
        )
        session.add(version)
        await session.exec(update(R).where(col(R.id) == req.id).values(
            report_version=version.number, revision=col(R.revision) + 1, updated_at=utcnow()))
        await session.refresh(req)
        session.add(_event(req, p, "save", req.state, f"version {version.number}"))
        await session.commit()
    notify(ctx)
    return version


async def _latest(session: AsyncSession, req: ReadingRequest) -> ReportVersion | None:
    return (await session.exec(
        select(ReportVersion).where(col(ReportVersion.request_id) == req.id)
        .order_by(col(ReportVersion.number).desc()).limit(1)
    )).scalar()


async def submit(ctx: AppContext, p: Principal, request_id: int) -> RequestView:
    async with ctx.write_session() as session:
        req = await _load(session, p, request_id)
        _authorise(p, req, "submit")
        await _require_lock(session, p, req, "submit")
        latest = await _latest(session, req)
        if latest is None or latest.status != "draft" or not (latest.findings.strip() or latest.impression.strip()):
            raise InvalidInput("save the report (findings or impression) before submitting it")
        before = req.state
        await _cas(session, req, "submit", RequestState.REPORTED)
        latest.status = "submitted"
        await session.exec(delete(ReadingLock).where(col(ReadingLock.request_id) == req.id))
        session.add(_event(req, p, "submit", before, f"version {latest.number}"))
        await session.commit()
        view = await _view(session, p, req, True)
    notify(ctx)
    return view


async def simple_action(ctx: AppContext, p: Principal, request_id: int, action: str, reason: str = "") -> RequestView:
    """cancel, start_review, return, send_back, resubmit, amend: the table decides; reasons recorded."""
    async with ctx.write_session() as session:
        req = await _load(session, p, request_id)
        t = check_role(action, p.role, access.parties_of(p, req))
        check_state(action, req.state)
        if t.needs_reason and not reason:
            raise InvalidInput(f"{action.replace('_', ' ')} needs a reason")
        assert t.target is not None
        before = req.state
        values: dict[str, Any] = {}
        if reason or t.needs_reason:
            values["reason"] = reason
        if action == "start_review":
            values.update(reviewer_user_id=p.user_id, reviewer_name=await person_name(session, p))
        if action == "amend":  # the approved procedure step stays COMPLETED; the amendment is a new one
            values["workitem_uid"] = new_workitem_uid()
        await _cas(session, req, action, t.target, **values)
        latest = await _latest(session, req)
        if action == "return" and latest is not None:
            latest.status = "returned"
            latest.review_comment = reason
        if action == "amend":
            session.add(ReadingLock(request_id=req.id or 0, holder_user_id=p.user_id,
                                    holder_name=await person_name(session, p), holder_institution_id=p.institution_id,
                                    expires_at=utcnow() + timedelta(seconds=ctx.settings.reading_lock_seconds)))
        if action == "cancel":
            await access.revoke_grants(session, req.id or 0)
        session.add(_event(req, p, action, before, reason))
        await session.commit()
        if action == "cancel":
            forget_decisions(ctx)  # the grants are gone: no cached "yes" may outlive them here
        view = await _view(session, p, req, True)
    notify(ctx)
    return view


async def request_assistance(ctx: AppContext, p: Principal, request_id: int, institution_id: int,
                             reason: str) -> RequestView:
    """Ask a higher hospital for assistance: it becomes the assisting hospital and sees the studies."""
    async with ctx.write_session() as session:
        req = await _load(session, p, request_id)
        _authorise(p, req, "request_assistance")
        if institution_id not in await access.ancestors(session, req.reading_institution_id):
            raise InvalidInput(f"institution {institution_id} is not a higher hospital of the reading hospital")
        old = req.assisting_institution_id
        if old is not None and old != institution_id:
            await access.revoke_grants(session, req.id or 0)  # the reading grants are made again below
        await session.exec(update(R).where(col(R.id) == req.id).values(
            assisting_institution_id=institution_id, reason=reason, revision=col(R.revision) + 1, updated_at=utcnow()))
        await session.refresh(req)
        await access.route_grants(session, req)
        session.add(_event(req, p, "request_assistance", req.state, f"institution {institution_id}: {reason}"))
        await session.commit()
        forget_decisions(ctx)
        view = await _view(session, p, req, True)
    notify(ctx)
    return view


# -- material: linked studies and attachments -----------------------------------------------------


def _check_material(p: Principal, req: ReadingRequest) -> None:
    if not (p.is_admin or Party.REQUESTER in access.parties_of(p, req)):
        raise ActionForbidden("only the requesting hospital changes the request's material")
    if req.state not in MATERIAL_STATES:
        raise StateConflict(f"the material of a reading request that is {req.state} cannot change "
                            f"(allowed while: {', '.join(sorted(MATERIAL_STATES))})", req.state)


async def link_studies(ctx: AppContext, p: Principal, request_id: int, uids: list[str]) -> RequestView:
    async with ctx.write_session() as session:
        req = await _load(session, p, request_id)
        _check_material(p, req)
        studies = await _visible_studies(session, p, uids)
        have = set((await session.exec(select(ReadingRequestStudy.study_id).where(
            col(ReadingRequestStudy.request_id) == req.id))).scalars())
        added = [s for s in studies if s.id not in have]
        for s in added:
            session.add(ReadingRequestStudy(request_id=req.id or 0, study_id=s.id or 0))
        await session.flush()
        await access.route_grants(session, req)
        await session.exec(update(R).where(col(R.id) == req.id).values(revision=col(R.revision) + 1,
                                                                           updated_at=utcnow()))
        session.add(_event(req, p, "link_studies", req.state, ", ".join(s.study_instance_uid for s in added)))
        await session.commit()
        forget_decisions(ctx)
        await session.refresh(req)
        view = await _view(session, p, req, True)
    notify(ctx)
    return view


async def unlink_study(ctx: AppContext, p: Principal, request_id: int, uid: str) -> RequestView:
    async with ctx.write_session() as session:
        req = await _load(session, p, request_id)
        _check_material(p, req)
        sid = (await session.exec(
            select(Study.id).join(ReadingRequestStudy, col(ReadingRequestStudy.study_id) == col(Study.id))
            .where(col(ReadingRequestStudy.request_id) == req.id, col(Study.study_instance_uid) == uid))).scalar()
        if sid is None:
            raise NotFoundError(f"study {uid} is not linked to reading request {request_id}")
        await session.exec(delete(ReadingRequestStudy).where(col(ReadingRequestStudy.request_id) == req.id,
                                                                col(ReadingRequestStudy.study_id) == sid))
        await access.revoke_grants(session, req.id or 0, [sid])
        session.add(_event(req, p, "unlink_study", req.state, uid))
        await session.commit()
        forget_decisions(ctx)
        view = await _view(session, p, req, True)
    notify(ctx)
    return view


def _safe_name(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    cleaned = "".join(ch for ch in name if ch.isprintable())[:200]
    if not cleaned or cleaned in (".", ".."):
        raise InvalidInput("the attachment needs a file name")
    return cleaned


async def add_attachment(ctx: AppContext, p: Principal, request_id: int, filename: str, media_type: str,
                         data: bytes) -> ReadingAttachment:
    if not data:
        raise InvalidInput("the attachment is empty")
    if len(data) > ATTACHMENT_LIMIT:
        raise InvalidInput(f"an attachment may be at most {ATTACHMENT_LIMIT} bytes")
    name = _safe_name(filename)
    async with ctx.sessions() as session:
        req = await _load(session, p, request_id)
        _check_material(p, req)
    digest = hashlib.sha256(data).hexdigest()
    key = f"reading/{request_id}/{digest}"
    await ctx.store.put_bytes(key, data)
    async with ctx.write_session() as session:
        req = await _load(session, p, request_id)
        _check_material(p, req)
        att = ReadingAttachment(request_id=request_id, filename=name, media_type=media_type[:128] or
                                "application/octet-stream", size=len(data), blob_key=key, sha256=digest,
                                uploaded_by=await person_name(session, p))
        session.add(att)
        session.add(_event(req, p, "attach", req.state, name))
        await session.commit()
    notify(ctx)
    return att


async def get_attachment(ctx: AppContext, p: Principal, request_id: int, attachment_id: int
                         ) -> tuple[ReadingAttachment, bytes]:
    async with ctx.sessions() as session:
        await _load(session, p, request_id)
        att = await session.get(ReadingAttachment, attachment_id)
        if att is None or att.request_id != request_id:
            raise NotFoundError(f"no attachment {attachment_id} on reading request {request_id}")
    return att, await ctx.store.get_bytes(att.blob_key)


async def institutions(ctx: AppContext, p: Principal) -> list[dict[str, Any]]:
    """The caller's hospital and its superiors (the choices of a request's reading hospital)."""
    async with ctx.sessions() as session:
        chain = [p.institution_id, *await access.ancestors(session, p.institution_id)]
        rows = {i.id: i for i in (await session.exec(select(Institution).where(col(Institution.id).in_(chain)))
                                  ).scalars()}
    return [{"id": i, "name": rows[i].name, "superior": n > 0, "parent_id": rows[i].parent_id}
            for n, i in enumerate(chain) if i in rows]


async def count_versions(session: AsyncSession, request_id: int) -> int:
    return int((await session.exec(select(func.count()).select_from(ReportVersion).where(
        col(ReportVersion.request_id) == request_id))).scalar() or 0)
