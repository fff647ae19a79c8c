"""Worklists of the reading workflow: which requests a caller sees in each list, filtered and paged.

A list is a side of the request plus a set of states (``LISTS``); the filters (time, last digit of
the diagnosis number, requesting hospital, state, keyword) are parsed into ``WorklistFilter`` and
become one SQL ``WHERE`` together with the visibility rule (``access.request_visible``), so nothing
is filtered after the query. ``counts`` answers every list's size for the caller in one pass each.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlmodel import col

from server.app_errors import InvalidInput
from server.auth.principal import Principal
from server.context import AppContext
from server.db.archive import Institution
from server.db.database import utcnow
from server.db.reading import ReadingLock, ReadingRequest, ReportVersion
from server.reading import access
from server.reading.states import RequestState

R = ReadingRequest
S = RequestState


@dataclass(frozen=True)
class ListSpec:
    side: str  # reader | requester | assisting | any
    states: frozenset[RequestState]  # empty: every state


LISTS: dict[str, ListSpec] = {
    "to_report": ListSpec("reader", frozenset({S.TO_REPORT, S.RETURNED})),
    "reporting": ListSpec("reader", frozenset({S.REPORTING})),
    "reported": ListSpec("reader", frozenset({S.REPORTED})),
    "in_review": ListSpec("reader", frozenset({S.IN_REVIEW})),
    "review": ListSpec("reader", frozenset({S.REPORTED, S.IN_REVIEW})),
    "approved": ListSpec("any", frozenset({S.APPROVED})),
    "cancelled": ListSpec("any", frozenset({S.CANCELLED})),
    "mine": ListSpec("requester", frozenset()),
    "assistance": ListSpec("assisting", frozenset()),
    "all": ListSpec("any", frozenset()),
}
PRESETS = ("all", "today", "2days", "week", "custom")
MAX_LIMIT = 200


@dataclass(frozen=True)
class WorklistFilter:
    list: str = "all"
    states: tuple[str, ...] = ()
    preset: str = "all"
    date_from: str = ""  # YYYY-MM-DD (custom range, inclusive)
    date_to: str = ""
    digit: str = ""  # last digit of the diagnosis number
    requesting_institution_id: int | None = None
    keyword: str = ""
    exact: bool = False
    # The caller's offset from UTC in minutes (browser's -getTimezoneOffset()): "today" is the caller's day.
    tz_minutes: int = 0
    limit: int = 50
    offset: int = 0


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}, got {raw[:40]!r}")
    return int(raw)


def _day(value: str, name: str) -> str:
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise InvalidInput(f"{name} must be a date YYYY-MM-DD, got {value[:40]!r}") from None
    return value


def parse_filter(params: dict[str, str]) -> WorklistFilter:
    """Query parameters of ``GET /api/reading/requests`` (a bad one is a 400 naming it)."""
    known = {"list", "state", "preset", "from", "to", "digit", "requesting", "q", "exact", "tz", "limit", "offset"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidInput(f"unknown filter {unknown[0]!r} (known: {', '.join(sorted(known))})")
    name = params.get("list", "all") or "all"
    if name not in LISTS:
        raise InvalidInput(f"list must be one of {', '.join(LISTS)}, got {name[:40]!r}")
    states = tuple(s for s in (params.get("state") or "").split(",") if s)
    for s in states:
        if s not in {v.value for v in RequestState}:
            raise InvalidInput(f"state {s[:40]!r} is not a reading state ({', '.join(v.value for v in RequestState)})")
    preset = params.get("preset", "all") or "all"
    if preset not in PRESETS:
        raise InvalidInput(f"preset must be one of {', '.join(PRESETS)}, got {preset[:40]!r}")
    date_from = _day(params["from"], "from") if params.get("from") else ""
    date_to = _day(params["to"], "to") if params.get("to") else ""
    digit = params.get("digit", "")
    if digit and not (len(digit) == 1 and digit.isascii() and digit.isdigit()):
        raise InvalidInput(f"digit must be one digit 0-9, got {digit[:40]!r}")
    requesting = params.get("requesting", "")
    if requesting and not (requesting.isascii() and requesting.isdigit()):
        raise InvalidInput(f"requesting must be an institution id, got {requesting[:40]!r}")
    keyword = (params.get("q") or "").strip()
    if len(keyword) > 128:
        raise InvalidInput("q is longer than 128 characters")
    tz = params.get("tz", "") or "0"
    if not (tz.lstrip("-").isascii() and tz.lstrip("-").isdigit()) or abs(int(tz)) > 14 * 60:
        raise InvalidInput(f"tz must be minutes east of UTC (-840 to 840), got {tz[:40]!r}")
    return WorklistFilter(
        tz_minutes=int(tz),
        list=name, states=states, preset=preset, date_from=date_from, date_to=date_to, digit=digit,
        requesting_institution_id=int(requesting) if requesting else None, keyword=keyword,
        exact=(params.get("exact") or "0").lower() in ("1", "true", "yes"),
        limit=_int(params, "limit", 50, 1, MAX_LIMIT), offset=_int(params, "offset", 0, 0, 10**9),
    )


def _side(p: Principal, side: str) -> ColumnElement[bool]:
    if p.is_admin or side == "any":
        return true()
    inst = p.institution_id
    if side == "reader":
        return access.reader_side(p)
    if side == "requester":
        return col(R.requesting_institution_id) == inst
    return col(R.assisting_institution_id) == inst


def _list_condition(p: Principal, name: str) -> ColumnElement[bool]:
    spec = LISTS[name]
    cond = and_(access.request_visible(p), _side(p, spec.side))
    if spec.states:
        cond = and_(cond, col(R.state).in_(sorted(s.value for s in spec.states)))
    return cond


def _local_midnight(now: datetime, tz_minutes: int) -> datetime:
    """The start of the caller's day (in UTC), the caller ``tz_minutes`` east of UTC."""
    shift = timedelta(minutes=tz_minutes)
    return datetime.combine((now + shift).date(), time(0), tzinfo=now.tzinfo) - shift


def _since(preset: str, now: datetime, tz_minutes: int) -> datetime | None:
    midnight = _local_midnight(now, tz_minutes)
    return {"today": midnight, "2days": midnight - timedelta(days=1), "week": midnight - timedelta(days=6)}.get(preset)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def condition(p: Principal, f: WorklistFilter, now: datetime | None = None) -> ColumnElement[bool]:
    """The SQL condition of a filtered worklist (visibility included)."""
    now = now or utcnow()
    cond = _list_condition(p, f.list)
    if f.states:
        cond = and_(cond, col(R.state).in_(f.states))
    since = _since(f.preset, now, f.tz_minutes)
    shift = timedelta(minutes=f.tz_minutes)
    if since is not None:
        cond = and_(cond, col(R.created_at) >= since)
    if f.preset == "custom":
        if f.date_from:
            start = datetime.fromisoformat(f.date_from).replace(tzinfo=now.tzinfo) - shift
            cond = and_(cond, col(R.created_at) >= start)
        if f.date_to:
            end = datetime.fromisoformat(f.date_to).replace(tzinfo=now.tzinfo) + timedelta(days=1) - shift
            cond = and_(cond, col(R.created_at) < end)
    if f.digit:
        cond = and_(cond, col(R.number).like(f"%{f.digit}"))
    if f.requesting_institution_id is not None:
        cond = and_(cond, col(R.requesting_institution_id) == f.requesting_institution_id)
    if f.keyword:
        upper = f.keyword.upper()
        if f.exact:
            cond = and_(cond, or_(col(R.number) == f.keyword, col(R.patient_name_upper) == upper,
                                  col(R.patient_id) == f.keyword))
        else:
            like = f"%{_escape_like(upper)}%"
            cond = and_(cond, or_(col(R.number).like(f"%{_escape_like(f.keyword)}%", escape="\\"),
                                  col(R.patient_name_upper).like(like, escape="\\"),
                                  col(R.patient_id).like(f"%{_escape_like(f.keyword)}%", escape="\\")))
    return cond


@dataclass
class Page:
    total: int
    requests: list[ReadingRequest]
    locks: dict[int, ReadingLock]
    institutions: dict[int, str]


async def list_requests(ctx: AppContext, p: Principal, f: WorklistFilter) -> Page:
    where = condition(p, f)
    async with ctx.sessions() as session:
        total = int((await session.exec(select(func.count()).select_from(R).where(where))).scalar() or 0)
        rows = list((await session.exec(
            select(R).where(where).order_by(col(R.created_at).desc(), col(R.id).desc()).offset(f.offset).limit(f.limit)
        )).scalars())
        ids = [r.id for r in rows]
        locks = {lk.request_id: lk for lk in (await session.exec(
            select(ReadingLock).where(col(ReadingLock.request_id).in_(ids)))).scalars()} if ids else {}
        inst_ids = {i for r in rows for i in (r.requesting_institution_id, r.reading_institution_id,
                                               r.assisting_institution_id) if i}
        names = dict((await session.exec(select(Institution.id, Institution.name).where(
            col(Institution.id).in_(inst_ids)))).all()) if inst_ids else {}
    return Page(total, rows, locks, names)


async def counts(ctx: AppContext, p: Principal) -> dict[str, int]:
    """The size of every list for the caller (the worklist tabs' badges)."""
    out: dict[str, int] = {}
    async with ctx.sessions() as session:
        for name in LISTS:
            out[name] = int((await session.exec(
                select(func.count()).select_from(R).where(_list_condition(p, name)))).scalar() or 0)
    return out


async def requesting_institutions(ctx: AppContext, p: Principal) -> list[dict[str, Any]]:
    """Hospitals that sent the caller requests (the worklist's requesting-hospital filter)."""
    async with ctx.sessions() as session:
        ids = list((await session.exec(select(R.requesting_institution_id).where(
            access.request_visible(p)).distinct())).scalars())
        rows = (await session.exec(select(Institution.id, Institution.name).where(
            col(Institution.id).in_(ids)).order_by(col(Institution.name)))).all() if ids else []
    return [{"id": i, "name": n} for i, n in rows]


# -- version diff ---------------------------------------------------------------------------------


def diff_lines(before: str, after: str) -> list[dict[str, str]]:
    """A line diff: each line with op ``=`` (kept), ``-`` (removed) or ``+`` (added)."""
    a, b = before.splitlines(), after.splitlines()
    out: list[dict[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out += [{"op": "=", "text": line} for line in a[i1:i2]]
            continue
        out += [{"op": "-", "text": line} for line in a[i1:i2]]
        out += [{"op": "+", "text": line} for line in b[j1:j2]]
    return out


def version_diff(before: ReportVersion | None, after: ReportVersion) -> dict[str, Any]:
    def measures(v: ReportVersion | None) -> str:
        return "\n".join(f"{m['name']}: {m['value']:g} {m.get('unit_label') or m['unit']}"
                         for m in (v.measurements if v else []))

    return {
        "from": before.number if before else 0,
        "to": after.number,
        "findings": diff_lines(before.findings if before else "", after.findings),
        "impression": diff_lines(before.impression if before else "", after.impression),
        "measurements": diff_lines(measures(before), measures(after)),
    }


__all__ = ["LISTS", "Page", "WorklistFilter", "condition", "counts", "diff_lines", "list_requests", "parse_filter",
           "requesting_institutions", "version_diff"]
