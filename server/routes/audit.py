"""``/api/audit``: administrators query and export the audit log (JSON, CSV, DICOM audit XML)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.app_errors import Forbidden, InvalidInput
from server.http import ctx_of, json_response, principal_of
from server.services import audit, audit_atna
from server.services.audit import AuditAction, AuditOutcome

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
SOURCE_ID = "Cirrus"


def _admin(request: Request) -> None:
    if not principal_of(request).is_admin:
        raise Forbidden("the audit log is for administrators")


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 date or date and time, got {raw[:40]!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise InvalidInput(f"{name} must be an integer from {lo} to {hi}, got {raw[:40]!r}")
    return int(raw)


def _filter(request: Request) -> audit.AuditFilter:
    q = request.query_params
    actions = tuple(a.strip() for a in q.get("action", "").split(",") if a.strip())
    unknown = set(actions) - {a.value for a in AuditAction}
    if unknown:
        raise InvalidInput(f"unknown action {sorted(unknown)[0]!r}; known: {', '.join(AuditAction)}")
    outcome = q.get("outcome", "")
    if outcome and outcome not in {o.value for o in AuditOutcome}:
        raise InvalidInput(f"unknown outcome {outcome[:40]!r}; known: {', '.join(AuditOutcome)}")
    return audit.AuditFilter(
        actor=q.get("actor", ""), study_uid=q.get("study", ""), patient_id=q.get("patient", ""),
        actions=actions, outcome=outcome, since=_time(request, "since"), until=_time(request, "until"),
    )


async def list_audit(request: Request) -> Response:
    _admin(request)
    flt = _filter(request)
    limit = _int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int(request, "offset", 0, 0, 10**12)
    total, rows = await audit.search(ctx_of(request), flt, limit, offset)
    body = {"total": total, "limit": limit, "offset": offset, "records": [audit.record_json(r) for r in rows]}
    return json_response(body, media_type="application/json")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


async def export_csv(request: Request) -> Response:
    _admin(request)
    rows = await audit.export_rows(ctx_of(request), _filter(request))
    return Response(audit.to_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="cirrus-audit-{_stamp()}.csv"'})


async def export_xml(request: Request) -> Response:
    _admin(request)
    rows = await audit.export_rows(ctx_of(request), _filter(request))
    body = audit_atna.to_xml(rows, SOURCE_ID, socket.gethostname())
    return Response(body, media_type="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="cirrus-audit-{_stamp()}.xml"'})


routes: list[BaseRoute] = [
    Route("/api/audit", list_audit, methods=["GET"]),
    Route("/api/audit/export.csv", export_csv, methods=["GET"]),
    Route("/api/audit/export.xml", export_xml, methods=["GET"]),
]
