"""PACS pull as the HTTP API sees it: sources, rules, the queue, manual requests, "why not".

Who may do what (the role part is ``server/auth/rules.py``): alliance administrators manage
sources and every rule; institution administrators manage their institution's rules and see the
queue and the decision log of their institution's pulls; staff request a pull for their own
institution. Every function takes ``(ctx, principal, ...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, or_
from sqlmodel import col, func, select

from server.app_errors import Forbidden, InvalidInput, NotFoundError, StateConflict
from server.auth.principal import Principal, Role
from server.context import AppContext
from server.db.archive import Institution, Study
from server.db.database import utcnow
from server.db.pull import PullEvent, PullRule, PullSource, PullStudy
from server.dimse.ae_table import ae_title
from server.pull import hint_service
from server.pull.matching import compile_rule, judge
from server.pull.states import SUMMARIES, PullState
from server.pull.worker import log_event, stored_count

RETRIEVE_METHODS = ("move", "get")
MOVE_MODES = ("sync", "async")


# -- input ------------------------------------------------------------------------------------

def _str(body: Mapping[str, Any], name: str, default: str | None = None, max_length: int = 255) -> str:
    value = body.get(name, default)
    if value is None:
        raise InvalidInput(f"{name} is required")
    if not isinstance(value, str) or len(value) > max_length:
        raise InvalidInput(f"{name} must be a string of at most {max_length} characters")
    return value.strip()


def _int(body: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}")
    return value


def _bool(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false")
    return value


def _known(body: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")


SOURCE_FIELDS = ("name", "ae_title", "host", "port", "find_study", "find_series", "retrieve", "move_mode",
                 "utc_offset_minutes", "mirror_group", "enabled")
RULE_FIELDS = ("name", "institution", "priority", "enabled", "days_back", "study_filter", "series_filter",
               "receive_filter", "repull_new_series")


def _require_admin(principal: Principal) -> None:
    if principal.role != Role.ADMIN:
        raise Forbidden("only alliance administrators manage pull sources")


# -- sources ----------------------------------------------------------------------------------

def source_json(s: PullSource) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "ae_title": s.ae_title, "host": s.host, "port": s.port,
            "find_study": s.find_study, "find_series": s.find_series, "retrieve": s.retrieve, "move_mode": s.move_mode,
            "utc_offset_minutes": s.utc_offset_minutes, "mirror_group": s.mirror_group, "enabled": s.enabled,
            "last_polled_at": s.last_polled_at.isoformat() if s.last_polled_at else None,
            "last_error": s.last_error}


def _source_values(body: Mapping[str, Any], old: PullSource | None) -> dict[str, Any]:
    _known(body, SOURCE_FIELDS)
    cur = source_json(old) if old else {}
    values = {
        "name": _str(body, "name", cur.get("name"), 64),
        "ae_title": ae_title(_str(body, "ae_title", cur.get("ae_title"), 16)),
        "host": _str(body, "host", cur.get("host")),
        "port": _int(body, "port", cur.get("port", 104), 1, 65535),
        "find_study": _bool(body, "find_study", cur.get("find_study", True)),
        "find_series": _bool(body, "find_series", cur.get("find_series", True)),
        "retrieve": _str(body, "retrieve", cur.get("retrieve", "move"), 8).lower(),
        "move_mode": _str(body, "move_mode", cur.get("move_mode", "sync"), 8).lower(),
        "utc_offset_minutes": _int(body, "utc_offset_minutes", cur.get("utc_offset_minutes", 0), -720, 840),
        "mirror_group": _str(body, "mirror_group", cur.get("mirror_group", ""), 64),
        "enabled": _bool(body, "enabled", cur.get("enabled", True)),
    }
    if not values["name"] or not values["host"]:
        raise InvalidInput("name and host may not be empty")
    if values["retrieve"] not in RETRIEVE_METHODS:
        raise InvalidInput("retrieve must be 'move' (C-MOVE to our receiver) or 'get' (C-GET)")
    if values["move_mode"] not in MOVE_MODES:
        raise InvalidInput("move_mode must be 'sync' (wait for the C-MOVE's final response) or 'async' "
                           "(completion judged by the counts of what arrives)")
    return values


async def list_sources(ctx: AppContext, principal: Principal) -> list[PullSource]:
    async with ctx.sessions() as session:
        return list((await session.exec(select(PullSource).order_by(col(PullSource.id)))).all())


async def _source(session: Any, source_id: int) -> PullSource:
    row = await session.get(PullSource, source_id)
    if row is None:
        raise NotFoundError(f"no pull source {source_id}")
    return row  # type: ignore[no-any-return]


async def save_source(ctx: AppContext, principal: Principal, body: Mapping[str, Any],
                      source_id: int | None = None) -> PullSource:
    _require_admin(principal)
    async with ctx.write_session() as session:
        old = await _source(session, source_id) if source_id is not None else None
        values = _source_values(body, old)
        clash = (await session.exec(select(PullSource).where(PullSource.name == values["name"]))).first()
        if clash is not None and clash.id != source_id:
            raise StateConflict(f"a pull source named {values['name']!r} exists")
        row = old or PullSource(**values)
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
        await session.commit()
        await session.refresh(row)
        return row


async def delete_source(ctx: AppContext, principal: Principal, source_id: int) -> None:
    _require_admin(principal)
    async with ctx.write_session() as session:
        await _source(session, source_id)
        await session.exec(delete(PullSource).where(col(PullSource.id) == source_id))  # type: ignore[call-overload]
        await session.commit()


# -- rules ------------------------------------------------------------------------------------

def rule_json(r: PullRule, institution: str) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "institution": institution, "priority": r.priority, "enabled": r.enabled,
            "days_back": r.days_back, "study_filter": r.study_filter, "series_filter": r.series_filter,
            "receive_filter": r.receive_filter, "repull_new_series": r.repull_new_series}


def _may_manage(principal: Principal, institution_id: int) -> bool:
    return principal.role == Role.ADMIN or (principal.role == Role.INSTITUTION_ADMIN
                                            and principal.institution_id == institution_id)


async def list_rules(ctx: AppContext, principal: Principal) -> list[tuple[PullRule, str]]:
    query = select(PullRule, Institution.name).join(Institution, col(Institution.id) == PullRule.institution_id)
    if principal.role != Role.ADMIN:
        query = query.where(PullRule.institution_id == principal.institution_id)
    async with ctx.sessions() as session:
        return [(r, n) for r, n in (await session.exec(query.order_by(col(PullRule.priority).desc(),
                                                                      col(PullRule.id)))).all()]


async def _rule(session: Any, principal: Principal, rule_id: int) -> PullRule:
    row = await session.get(PullRule, rule_id)
    if row is None or not _may_manage(principal, row.institution_id):
        raise NotFoundError(f"no pull rule {rule_id}")
    return row  # type: ignore[no-any-return]


async def save_rule(ctx: AppContext, principal: Principal, body: Mapping[str, Any],
                    rule_id: int | None = None) -> tuple[PullRule, str]:
    async with ctx.write_session() as session:
        old = await _rule(session, principal, rule_id) if rule_id is not None else None
        _known(body, RULE_FIELDS)
        inst_name = body.get("institution")
        if inst_name is None:
            inst_id = old.institution_id if old else principal.institution_id
            inst = await session.get(Institution, inst_id)
        else:
            named = _str(body, "institution")
            inst = (await session.exec(select(Institution).where(Institution.name == named))).first()
        if inst is None or inst.id is None:
            raise InvalidInput(f"no institution named {inst_name!r}")
        if not _may_manage(principal, inst.id):
            raise Forbidden("an institution administrator manages the rules of their own institution only")
        values = {
            "name": _str(body, "name", old.name if old else None, 64),
            "priority": _int(body, "priority", old.priority if old else 0, -1000, 1000),
            "enabled": _bool(body, "enabled", old.enabled if old else True),
            "days_back": _int(body, "days_back", old.days_back if old else 0, 0, 30),
            "study_filter": _str(body, "study_filter", old.study_filter if old else "", 2000),
            "series_filter": _str(body, "series_filter", old.series_filter if old else "", 2000),
            "receive_filter": _str(body, "receive_filter", old.receive_filter if old else "", 2000),
            "repull_new_series": _bool(body, "repull_new_series", old.repull_new_series if old else False),
        }
        if not values["name"]:
            raise InvalidInput("name may not be empty")
        compile_rule(id=0, name=values["name"], institution_id=inst.id, days_back=values["days_back"],
                     study_filter=values["study_filter"], series_filter=values["series_filter"],
                     receive_filter=values["receive_filter"])
        clash = (await session.exec(select(PullRule).where(PullRule.name == values["name"]))).first()
        if clash is not None and clash.id != rule_id:
            raise StateConflict(f"a pull rule named {values['name']!r} exists")
        row = old or PullRule(institution_id=inst.id, **values)
        for key, value in values.items():
            setattr(row, key, value)
        row.institution_id = inst.id
        session.add(row)
        await session.commit()
        await session.refresh(row)
        return row, inst.name


async def delete_rule(ctx: AppContext, principal: Principal, rule_id: int) -> None:
    async with ctx.write_session() as session:
        await _rule(session, principal, rule_id)
        await session.exec(delete(PullRule).where(col(PullRule.id) == rule_id))  # type: ignore[call-overload]
        await session.commit()


async def test_rule(ctx: AppContext, principal: Principal, rule_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's verdict on a study: the attributes given (``study``, ``series``) or those the
    last poll saw of ``study_uid``."""
    _known(body, ("study", "series", "study_uid"))
    async with ctx.sessions() as session:
        row = await _rule(session, principal, rule_id)
        if "study_uid" in body:
            uid = _str(body, "study_uid", max_length=64)
            seen = (await session.exec(select(PullStudy).where(PullStudy.study_instance_uid == uid))).first()
            if seen is None or not seen.seen_attributes:
                raise NotFoundError(f"no source poll has seen study {uid!r}")
            study, series = seen.seen_attributes.get("study") or {}, seen.seen_attributes.get("series")
        else:
            study, series = body.get("study"), body.get("series")
    if not isinstance(study, dict) or (series is not None and not (
            isinstance(series, list) and all(isinstance(s, dict) for s in series))):
        raise InvalidInput("give study (an object of DICOM keyword → value) and optionally series (a list of "
                           "such objects), or study_uid")
    rule = compile_rule(id=row.id or 0, name=row.name, institution_id=row.institution_id, priority=row.priority,
                        days_back=row.days_back, study_filter=row.study_filter, series_filter=row.series_filter,
                        receive_filter=row.receive_filter)
    verdict = judge(rule, study, series)
    return {"rule": row.name, "taken": verdict.taken, "reason": verdict.reason,
            "series": [{"series_uid": s.series_instance_uid, "taken": s.taken, "reason": s.reason}
                       for s in verdict.series]}


# -- queue, requests, why not -----------------------------------------------------------------

def study_json(row: PullStudy) -> dict[str, Any]:
    return {"study_uid": row.study_instance_uid, "accession_number": row.accession_number,
            "state": row.state, "urgent": row.urgent, "priority": row.priority, "rule_id": row.rule_id,
            "source_id": row.source_id, "modalities": row.modalities, "description": row.study_description,
            "exam_at": row.exam_at.isoformat() if row.exam_at else None, "remote_count": row.remote_count,
            "expected_count": row.expected_count, "received_count": row.received_count,
            "skipped_count": row.skipped_count, "series_uids": row.series_uids, "attempts": row.attempts,
            "last_error": row.last_error, "updated_at": row.updated_at.isoformat()}


def _tenant(query: Any, principal: Principal) -> Any:
    if principal.role == Role.ADMIN:
        return query
    return query.where(PullStudy.institution_id == principal.institution_id)


async def queue(ctx: AppContext, principal: Principal, state: str | None, limit: int = 200) -> list[PullStudy]:
    """The pull queue in the order the worker takes it, then the rest (most recent first)."""
    query = select(PullStudy)
    if state:
        try:
            query = query.where(PullStudy.state == PullState(state))
        except ValueError:
            raise InvalidInput(f"state must be one of {', '.join(s.value for s in PullState)}") from None
    query = _tenant(query, principal).order_by(
        col(PullStudy.state).in_([PullState.COMPLETE, PullState.INCOMPLETE, PullState.REJECTED, PullState.FAILED]),
        col(PullStudy.urgent).desc(), col(PullStudy.priority).desc(), col(PullStudy.exam_at).is_(None),
        col(PullStudy.exam_at), col(PullStudy.id)).limit(limit)
    async with ctx.sessions() as session:
        return list((await session.exec(query)).all())


async def request_pull(ctx: AppContext, principal: Principal, body: Mapping[str, Any]) -> PullStudy:
    """"Pull this study now", for the caller's institution: queued before every rule's pull."""
    _known(body, ("study_uid", "accession_number"))
    uid = _str(body, "study_uid", "", 64)
    accession = _str(body, "accession_number", "", 64)
    if bool(uid) == bool(accession):
        raise InvalidInput("give exactly one of study_uid and accession_number")
    async with ctx.write_session() as session:
        where = PullStudy.study_instance_uid == uid if uid else PullStudy.accession_number == accession
        row = (await session.exec(select(PullStudy).where(where))).first()
        if row is None and accession:
            raise NotFoundError(f"no source poll has seen accession number {accession!r}: give the study_uid")
        if row is not None and row.institution_id not in (None, principal.institution_id) and \
                principal.role != Role.ADMIN:
            raise NotFoundError(f"study {uid or accession!r} is pulled for another institution")
        if row is not None and row.state in (PullState.PULLING, PullState.RECEIVED):
            raise StateConflict("the study is being pulled now")
        row = row or PullStudy(study_instance_uid=uid)
        row.state, row.urgent, row.attempts = PullState.REQUESTED, True, 0
        row.institution_id = row.institution_id or principal.institution_id
        row.updated_at = utcnow()
        session.add(row)
        await session.commit()
        await session.refresh(row)
    await log_event(ctx, row.study_instance_uid, "requested", f"pull requested by {principal.username or 'a user'}")
    return row


def why_summary(row: PullStudy | None, events: list[PullEvent]) -> tuple[str, dict[str, str]]:
    if row is None:
        return "unseen", {}
    if row.state == PullState.REJECTED:
        reasons = [e.detail for e in events if e.kind == "rejected"]
        return ("rejected", {"reason": reasons[-1]}) if reasons else ("rejected_no_rule", {})
    if row.state == PullState.INCOMPLETE:
        return "incomplete", {"error": row.last_error}
    if row.state == PullState.COMPLETE:
        return "complete", {"count": str(row.received_count)}
    if row.state == PullState.QUERIED:
        return "waiting", {}
    if row.last_error:
        return "state_error", {"state": str(row.state), "error": row.last_error}
    return "state", {"state": str(row.state)}


async def why_not(ctx: AppContext, principal: Principal, study_uid: str, accession: str) -> dict[str, Any]:
    """Everything the pull knows of a study: stored here or not, its state, every query that saw it,
    every rule that rejected it and why, every attempt."""
    if bool(study_uid) == bool(accession):
        raise InvalidInput("give exactly one of study (a StudyInstanceUID) and accession")
    async with ctx.sessions() as session:
        where = PullStudy.study_instance_uid == study_uid if study_uid else PullStudy.accession_number == accession
        row = (await session.exec(_tenant(select(PullStudy).where(where), principal))).first()
        uid = row.study_instance_uid if row else study_uid
        if not uid:
            raise NotFoundError(f"no source poll has seen accession number {accession!r}")
        query = select(PullEvent).where(PullEvent.study_instance_uid == uid)
        if principal.role != Role.ADMIN:
            own = select(PullRule.id).where(PullRule.institution_id == principal.institution_id)
            query = query.where(or_(col(PullEvent.rule_id).is_(None), col(PullEvent.rule_id).in_(own)))
        events = list((await session.exec(query.order_by(col(PullEvent.id)))).all())
        local = (await session.exec(select(func.count()).select_from(Study).where(
            Study.study_instance_uid == uid))).one()
    stored = await stored_count(ctx, uid, []) if local else 0
    code, params = why_summary(row, events)
    hints = await hint_service.orders_seen(ctx, principal, row.accession_number, row.patient_id) if row else []
    summary = SUMMARIES[code].format(**params)
    return {"study_uid": uid, "stored_instances": stored, "summary": summary, "summary_code": code,
            "summary_params": params, "hints": hints,
            "pull": study_json(row) if row else None,
            "events": [{"at": e.created_at.isoformat(), "kind": e.kind, "detail": e.detail, "rule_id": e.rule_id,
                        "source_id": e.source_id} for e in events]}
