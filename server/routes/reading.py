"""``/api/reading``: requests, worklists, the report lock, report versions, review, print.

Thin handlers: every one takes the caller from ``principal_of`` and hands it to the services of
``server/reading`` (which check roles, sides and states; an illegal transition is a 409 naming the
current state). Shapes are documented in ``server/routes/openapi_reading.py``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from server.app_errors import InvalidInput, NotFoundError, PayloadTooLarge
from server.http import ctx_of, json_response, principal_of
from server.reading import approval, key_images, live, quantities, saved_filters, service, templates, views, worklists
from server.reading.inputs import parse_content, parse_reason, parse_request
from server.reading.states import transition
from server.routes.api import _body_json
from server.routes.openapi_reading import ACTION_SEGMENTS
from server.routes.shares import share_url
from server.workflow import reports

JSON = "application/json"


def _json(data: Any, status: int = 200) -> Response:
    return json_response(data, status=status, media_type=JSON)


def _id(request: Request, name: str = "request_id") -> int:
    raw = request.path_params[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # ids are 32-bit (INTEGER on PostgreSQL)
        raise InvalidInput(f"{name.replace('_', ' ')} must be a positive integer, got {raw[:40]!r}")
    return int(raw)


def _language(request: Request) -> str:
    return reports.language(request.query_params.get("lang") or request.headers.get("accept-language"))


# -- lists ------------------------------------------------------------------------------------------


async def list_requests(request: Request) -> Response:
    flt = worklists.parse_filter(dict(request.query_params))
    p = principal_of(request)
    page = await worklists.list_requests(ctx_of(request), p, flt)
    return _json(views.page_json(page, flt.limit, flt.offset, p))


async def counts(request: Request) -> Response:
    return _json(await worklists.counts(ctx_of(request), principal_of(request)))


async def institutions(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    return _json({"superiors": await service.institutions(ctx, p),
                  "requesting": await worklists.requesting_institutions(ctx, p)})


# -- one request ------------------------------------------------------------------------------------


async def create_request(request: Request) -> Response:
    data = parse_request(await _body_json(request))
    ctx, p = ctx_of(request), principal_of(request)
    req = await service.create_request(ctx, p, data)
    view = await service.get_request(ctx, p, req.id or 0)
    return _json(views.request_json(view, p), status=201)


async def get_request(request: Request) -> Response:
    p = principal_of(request)
    view = await service.get_request(ctx_of(request), p, _id(request))
    return _json(views.request_json(view, p))


async def link_studies(request: Request) -> Response:
    body = await _body_json(request)
    uids = parse_request({"study_uids": body.get("study_uids", [])}).study_uids
    if not uids:
        raise InvalidInput("study_uids must name at least one study")
    p = principal_of(request)
    view = await service.link_studies(ctx_of(request), p, _id(request), uids)
    return _json(views.request_json(view, p))


async def unlink_study(request: Request) -> Response:
    uid = request.path_params["study"]
    p = principal_of(request)
    view = await service.unlink_study(ctx_of(request), p, _id(request), uid)
    return _json(views.request_json(view, p))


async def add_attachment(request: Request) -> Response:
    """One file as the raw body (``?filename=``, its Content-Type kept)."""
    raw = request.headers.get("content-length") or "0"
    if raw.isascii() and raw.isdigit() and int(raw) > service.ATTACHMENT_LIMIT:
        raise PayloadTooLarge(f"an attachment may be at most {service.ATTACHMENT_LIMIT} bytes")
    data = await request.body()
    media = (request.headers.get("content-type") or "application/octet-stream").split(";")[0].strip()
    att = await service.add_attachment(ctx_of(request), principal_of(request), _id(request),
                                       request.query_params.get("filename", ""), media, data)
    return _json(views.attachment_json(att), status=201)


async def get_attachment(request: Request) -> Response:
    att, data = await service.get_attachment(ctx_of(request), principal_of(request), _id(request),
                                             _id(request, "attachment_id"))
    safe = att.filename.replace('"', "'")
    return Response(data, media_type=att.media_type, headers={
        "Content-Disposition": f"inline; filename*=UTF-8''{_quote(safe)}", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox"})


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


# -- transitions ------------------------------------------------------------------------------------


Action = Callable[[Request, dict[str, Any]], Awaitable[service.RequestView]]


def _simple(action: str) -> Action:
    async def run(request: Request, body: dict[str, Any]) -> service.RequestView:
        reason = parse_reason(body, required=transition(action).needs_reason)
        return await service.simple_action(ctx_of(request), principal_of(request), _id(request), action, reason)

    return run


async def _lock(request: Request, body: dict[str, Any]) -> service.RequestView:
    return await service.lock(ctx_of(request), principal_of(request), _id(request))


async def _release(request: Request, body: dict[str, Any]) -> service.RequestView:
    return await service.release(ctx_of(request), principal_of(request), _id(request))


async def _take_over(request: Request, body: dict[str, Any]) -> service.RequestView:
    return await service.take_over(ctx_of(request), principal_of(request), _id(request))


async def _submit(request: Request, body: dict[str, Any]) -> service.RequestView:
    return await service.submit(ctx_of(request), principal_of(request), _id(request))


async def _approve(request: Request, body: dict[str, Any]) -> service.RequestView:
    comment = body.get("comment", "")
    if not isinstance(comment, str) or len(comment) > 4000:
        raise InvalidInput("comment must be a text of at most 4000 characters")
    return await approval.approve(ctx_of(request), principal_of(request), _id(request), comment, _language(request))


async def _assistance(request: Request, body: dict[str, Any]) -> service.RequestView:
    inst = body.get("institution_id")
    if not isinstance(inst, int) or isinstance(inst, bool) or inst < 1:
        raise InvalidInput("institution_id must be the id of a higher hospital")
    return await service.request_assistance(ctx_of(request), principal_of(request), _id(request), inst,
                                            parse_reason(body, required=False))


# URL segment → what it does (the state table decides whether it may).
ACTIONS: dict[str, Action] = {
    "cancel": _simple("cancel"),
    "resubmit": _simple("resubmit"),
    "send-back": _simple("send_back"),
    "start-review": _simple("start_review"),
    "return": _simple("return"),
    "amend": _simple("amend"),
    "lock": _lock,
    "release": _release,
    "take-over": _take_over,
    "submit": _submit,
    "approve": _approve,
    "request-assistance": _assistance,
}
assert sorted(ACTIONS) == sorted(ACTION_SEGMENTS), "every transition of the state table has its URL"


async def act(request: Request) -> Response:
    name = request.path_params["action"]
    run = ACTIONS.get(name)
    if run is None:
        raise NotFoundError(f"no reading action {name[:40]!r} (known: {', '.join(ACTIONS)})")
    body = await _body_json(request)
    return _json(views.request_json(await run(request, body), principal_of(request)))


# -- the report -------------------------------------------------------------------------------------


async def save_report(request: Request) -> Response:
    """Autosave: a new version when the content changed (201), else the same version (200)."""
    content = parse_content(await _body_json(request))
    rid = _id(request)
    ctx, p = ctx_of(request), principal_of(request)
    before = (await service.get_request(ctx, p, rid, with_events=False)).request.report_version
    version = await service.save_report(ctx, p, rid, content)
    return _json(views.version_json(version), status=201 if version.number > before else 200)


async def list_versions(request: Request) -> Response:
    view = await service.get_request(ctx_of(request), principal_of(request), _id(request), with_events=False)
    return _json({"versions": [views.version_json(v) for v in view.versions]})


async def diff_versions(request: Request) -> Response:
    """``/versions/{number}/diff?against=M``: the version against M (default: the one before it)."""
    view = await service.get_request(ctx_of(request), principal_of(request), _id(request), with_events=False)
    number = _id(request, "number")
    by_number = {v.number: v for v in view.versions}
    if number not in by_number:
        raise NotFoundError(f"reading request {view.request.id} has no report version {number} you may see")
    raw = request.query_params.get("against", "")
    if raw and not (raw.isascii() and raw.isdigit()):
        raise InvalidInput(f"against must be a version number, got {raw[:40]!r}")
    against = int(raw) if raw else max((n for n in by_number if n < number), default=0)
    if against and against not in by_number:
        raise NotFoundError(f"reading request {view.request.id} has no report version {against} you may see")
    return _json(worklists.version_diff(by_number.get(against), by_number[number]))


async def report_pdf(request: Request) -> Response:
    raw = request.query_params.get("version", "")
    if raw and (not (raw.isascii() and raw.isdigit()) or len(raw) > 9):
        raise InvalidInput(f"version must be a version number, got {raw[:40]!r}")
    rid = _id(request)
    pdf = await approval.report_pdf(ctx_of(request), principal_of(request), rid, int(raw) if raw else None,
                                    _language(request))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="reading-report-{rid}.pdf"'})


async def report_pdf_with_share(request: Request) -> Response:
    """The print view's PDF with the patient's share link: ``{"share": id, "code": ..., "version": n}``."""
    body = await _body_json(request)
    unknown = set(body) - {"share", "code", "version"}
    if unknown:
        raise InvalidInput(f"unknown field {sorted(unknown)[0]!r} (share, code, version)")
    share, code, number = body.get("share"), body.get("code"), body.get("version")
    if not isinstance(share, str) or not 0 < len(share) <= 64 or not isinstance(code, str) or not 0 < len(code) <= 64:
        raise InvalidInput("share (the link's id) and code (its access code) are required texts")
    if number is not None and (not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 10**9):
        raise InvalidInput("version must be a version number")
    rid = _id(request)
    ctx, p = ctx_of(request), principal_of(request)
    printed = await approval.printed_share(ctx, p, rid, share, code, share_url(request, share))
    pdf = await approval.report_pdf(ctx, p, rid, number, _language(request), printed)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="reading-report-{rid}.pdf"',
                             "Cache-Control": "no-store"})


async def add_key_image(request: Request) -> Response:
    """A viewport capture (the raw PNG body) for the report being written; its digest goes into key_images."""
    raw = request.headers.get("content-length") or "0"
    if raw.isascii() and raw.isdigit() and int(raw) > key_images.CAPTURE_LIMIT:
        raise PayloadTooLarge(f"a key image may be at most {key_images.CAPTURE_LIMIT} bytes")
    media = (request.headers.get("content-type") or "").split(";")[0].strip()
    body = await key_images.add_capture(ctx_of(request), principal_of(request), _id(request), media,
                                        await request.body())
    return _json(body, status=201)


async def get_key_image(request: Request) -> Response:
    data = await key_images.get_capture(ctx_of(request), principal_of(request), _id(request),
                                        request.path_params["digest"])
    return Response(data, media_type="image/png", headers={"X-Content-Type-Options": "nosniff",
                                                            "Cache-Control": "private, max-age=86400, immutable"})


async def get_quantities(request: Request) -> Response:
    return _json(await quantities.quantities(ctx_of(request), principal_of(request), _id(request)))


# -- templates and saved filter sets ------------------------------------------------------------------


async def list_templates(request: Request) -> Response:
    q = request.query_params
    for name in ("modality", "body_part"):
        if len(q.get(name, "")) > 64:
            raise InvalidInput(f"{name} is longer than 64 characters")
    return _json({"templates": await templates.list_templates(ctx_of(request), q.get("modality", ""),
                                                              q.get("body_part", ""))})


async def create_template(request: Request) -> Response:
    body = await _body_json(request)
    return _json(await templates.create_template(ctx_of(request), principal_of(request), body), status=201)


async def save_template(request: Request) -> Response:
    body = await _body_json(request)
    return _json(await templates.save_template(ctx_of(request), principal_of(request), request.path_params["key"],
                                               body))


async def delete_template(request: Request) -> Response:
    await templates.delete_template(ctx_of(request), principal_of(request), request.path_params["key"])
    return Response(status_code=204)


async def list_filters(request: Request) -> Response:
    return _json({"filters": await saved_filters.list_saved(ctx_of(request), principal_of(request))})


async def save_filter(request: Request) -> Response:
    saved, created = await saved_filters.save(ctx_of(request), principal_of(request), await _body_json(request))
    return _json(saved, status=201 if created else 200)


async def delete_filter(request: Request) -> Response:
    await saved_filters.remove(ctx_of(request), principal_of(request), _id(request, "filter_id"))
    return Response(status_code=204)


KEEPALIVE_SECONDS = 15.0


async def events(request: Request) -> Response:
    """Server-sent ``reading`` events: the caller's list counts whenever a request it sees changed
    (any process); ``?max_seconds=N`` ends the stream after N seconds (tests, long polling)."""
    ctx, p = ctx_of(request), principal_of(request)
    raw = request.query_params.get("max_seconds", "0") or "0"
    try:
        max_seconds = float(raw)
    except ValueError:
        raise InvalidInput(f"max_seconds must be a number, got {raw[:40]!r}") from None
    if not 0 <= max_seconds <= 86400:
        raise InvalidInput("max_seconds must be from 0 to 86400")

    async def stream() -> AsyncIterator[bytes]:
        started, last, n = time.monotonic(), "", 0
        yield b"retry: 2000\n\n"
        with live.subscribe(ctx) as changed:
            while True:
                snap = await live.snapshot(ctx, p)
                if snap["stamp"] != last:
                    last, n = snap["stamp"], n + 1
                    yield b"event: reading\nid: %d\ndata: " % n + orjson.dumps(snap) + b"\n\n"
                left = max_seconds - (time.monotonic() - started) if max_seconds else KEEPALIVE_SECONDS
                if left <= 0 or await request.is_disconnected():
                    return
                if not await changed.wait(min(left, KEEPALIVE_SECONDS)):
                    if max_seconds and time.monotonic() - started >= max_seconds:
                        return
                    yield b": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


routes: list[BaseRoute] = [
    Route("/events", events, methods=["GET"]),
    Route("/templates", list_templates, methods=["GET"]),
    Route("/templates", create_template, methods=["POST"]),
    Route("/templates/{key}", save_template, methods=["PUT"]),
    Route("/templates/{key}", delete_template, methods=["DELETE"]),
    Route("/filters", list_filters, methods=["GET"]),
    Route("/filters", save_filter, methods=["POST"]),
    Route("/filters/{filter_id}", delete_filter, methods=["DELETE"]),
    Route("/requests", list_requests, methods=["GET"]),
    Route("/requests", create_request, methods=["POST"]),
    Route("/counts", counts, methods=["GET"]),
    Route("/institutions", institutions, methods=["GET"]),
    Route("/requests/{request_id}", get_request, methods=["GET"]),
    Route("/requests/{request_id}/studies", link_studies, methods=["POST"]),
    Route("/requests/{request_id}/studies/{study}", unlink_study, methods=["DELETE"]),
    Route("/requests/{request_id}/attachments", add_attachment, methods=["POST"]),
    Route("/requests/{request_id}/attachments/{attachment_id}", get_attachment, methods=["GET"]),
    Route("/requests/{request_id}/report", save_report, methods=["PUT", "POST"]),
    Route("/requests/{request_id}/versions", list_versions, methods=["GET"]),
    Route("/requests/{request_id}/versions/{number}/diff", diff_versions, methods=["GET"]),
    Route("/requests/{request_id}/report.pdf", report_pdf, methods=["GET"]),
    Route("/requests/{request_id}/report.pdf", report_pdf_with_share, methods=["POST"]),
    Route("/requests/{request_id}/quantities", get_quantities, methods=["GET"]),
    Route("/requests/{request_id}/key-images", add_key_image, methods=["POST"]),
    Route("/requests/{request_id}/key-images/{digest}", get_key_image, methods=["GET"]),
    Route("/requests/{request_id}/{action}", act, methods=["POST"]),
]
