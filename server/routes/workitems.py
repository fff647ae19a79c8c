"""UPS-RS routes (PS3.18 §11) under ``/dicom-web``: workitems and their WebSocket event channel.

``POST /workitems{?AffectedSOPInstanceUID}`` creates, ``GET /workitems`` searches,
``GET /workitems/{uid}`` retrieves, ``PUT`` (and the standard's ``POST``) ``/workitems/{uid}``
updates, ``PUT /workitems/{uid}/state`` changes the state, ``POST .../cancelrequest`` asks for
cancellation, ``POST/DELETE .../subscribers/{AETitle}`` (un)subscribes (the workitem UID, the
global ``1.2.840.10008.5.1.4.34.5`` or the filtered ``….5.1`` form) and ``…/suspend`` suspends.
``/subscribers/{AETitle}`` is the WebSocket channel of events (``?since=N``: every event after
sequence number N first, in order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from dicomweb.errors import BadRequest, DicomWebError
from server.app_errors import AppError, PayloadTooLarge
from server.auth import rules
from server.auth.principal import Principal
from server.context import AppContext
from server.http import DICOM_JSON, ctx_of, principal_of, public_base
from server.routes.audit_record import client_address, request_path, writer_of
from server.services.audit import AuditEntry
from server.services.audit_actions import classify, outcome_of
from server.workflow import workitem_events, workitems

log = logging.getLogger("cirrus.workitems")
MAX_BODY = 4 * 1024 * 1024


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"a workitem body is at most {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(data: object, status: int = 200, **headers: str) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=DICOM_JSON, headers=headers)


def _warning(text: str) -> dict[str, str]:
    return {"Warning": f'299 cirrus "{text}"'.replace("\n", " ")}


async def create(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    params = list(request.query_params.multi_items())
    uid = None
    for key, value in params:
        if key == "AffectedSOPInstanceUID" or key == "00001000":
            uid = value
        elif not value and key:  # ``POST /workitems?1.2.3``: the UID is the query
            uid = key
        else:
            raise BadRequest(f"unknown parameter {key!r} (only the AffectedSOPInstanceUID)")
    uid, added = await workitems.create(ctx, p, await _body(request), uid)
    location = f"{public_base(request)}/dicom-web/workitems/{uid}"
    headers = {"Location": location, "Content-Location": location}
    if added:
        headers |= _warning("B300: attributes added empty: " + ", ".join(added[:20]))
    return Response(status_code=201, headers=headers)


async def search(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    found = await workitems.search(ctx, p, list(request.query_params.multi_items()), public_base(request))
    return _json(found)


async def retrieve(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    ds = await workitems.retrieve(ctx, p, request.path_params["uid"], public_base(request))
    return _json([ds])


async def update(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    txn = request.query_params.get("transaction") or request.query_params.get("TransactionUID")
    await workitems.update_workitem(ctx, p, request.path_params["uid"], await _body(request), txn)
    return Response(status_code=200)


async def change_state(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    text = await workitems.change_state(ctx, p, request.path_params["uid"], await _body(request))
    headers = _warning(text) if text.startswith("B3") else {}
    return Response(status_code=200, headers=headers)


async def cancel_request(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    text = await workitems.request_cancel(ctx, p, request.path_params["uid"], await _body(request))
    headers = _warning(text) if text.startswith("B3") else {}
    return Response(status_code=202, headers=headers)


async def subscribe(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    await workitems.subscribe(ctx, p, request.path_params["uid"], request.path_params["ae"],
                              list(request.query_params.multi_items()))
    return Response(status_code=201)


async def unsubscribe(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    await workitems.unsubscribe(ctx, p, request.path_params["uid"], request.path_params["ae"])
    return Response(status_code=200)


async def suspend(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    await workitems.suspend(ctx, p, request.path_params["uid"], request.path_params["ae"])
    return Response(status_code=200)


# -- the WebSocket channel (PS3.18 §11.12) ----------------------------------------------------------


async def _authorize(ws: WebSocket):  # type: ignore[no-untyped-def]
    """The caller of a WebSocket upgrade, by the same resolvers and rule table as HTTP (GET)."""
    ctx: AppContext = ws.app.state.ctx
    principal = await ws.app.state.auth.resolve(ctx, ws)
    if principal is None:
        return None, "sign in, or send an API token (Authorization: Bearer)"
    refusal = rules.refusal(principal, "GET", ws.url.path)
    return (None, refusal) if refusal else (principal, "")


def _audit(ws: WebSocket, principal: object, status: int, detail: str = "") -> None:
    """The audit record of an event channel opened (101) or refused (401/403), as HTTP requests get."""
    writer = writer_of(ws.scope)
    classified = classify("GET", ws.url.path, ws.scope.get("query_string", b""))
    if writer is None or classified is None:
        return
    writer.record(AuditEntry(action=classified.action, outcome=outcome_of(status), status=status,
                             client_address=client_address(ws.scope), method="GET", path=request_path(ws.scope),
                             detail=detail).with_principal(principal if isinstance(principal, Principal) else None))


async def channel(ws: WebSocket) -> None:
    ctx: AppContext = ws.app.state.ctx
    try:
        principal, refusal = await _authorize(ws)
    except AppError as exc:
        principal, refusal = None, exc.message
    if principal is None:
        _audit(ws, None, 403 if refusal.startswith(("this credential", "the role")) else 401, refusal)
        await ws.close(code=1008, reason=refusal[:120])
        return
    ae = ws.path_params["ae"]
    try:
        workitems._ae(ae)
        raw_since = ws.query_params.get("since")
        since = int(raw_since) if raw_since else await workitem_events.last_seq(ctx)
        if since < 0:
            raise ValueError
    except (DicomWebError, ValueError):
        await ws.close(code=1008, reason="since must be a sequence number (>= 0) and the AE title 1-16 characters")
        return
    _audit(ws, principal, 101)
    await ws.accept()
    closed = asyncio.ensure_future(_until_closed(ws))
    try:
        with workitem_events.subscribe(ctx) as changed:
            while not closed.done():
                since, reports = await workitems.pending_events(ctx, principal, ae, since)
                for report in reports:
                    await ws.send_text(orjson.dumps(report).decode())
                if reports:
                    continue  # there may be more than one page
                waiter = asyncio.ensure_future(changed.wait(ctx.settings.ups_poll_seconds))
                await asyncio.wait({waiter, closed}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        closed.cancel()
        with contextlib.suppress(Exception):
            await ws.close()


async def _until_closed(ws: WebSocket) -> None:
    with contextlib.suppress(Exception):
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return


routes: list[BaseRoute] = [
    Route("/workitems", search, methods=["GET"]),
    Route("/workitems", create, methods=["POST"]),
    Route("/workitems/{uid}", retrieve, methods=["GET"]),
    Route("/workitems/{uid}", update, methods=["PUT", "POST"]),
    Route("/workitems/{uid}/state", change_state, methods=["PUT"]),
    Route("/workitems/{uid}/cancelrequest", cancel_request, methods=["POST"]),
    Route("/workitems/{uid}/subscribers/{ae}", subscribe, methods=["POST"]),
    Route("/workitems/{uid}/subscribers/{ae}", unsubscribe, methods=["DELETE"]),
    Route("/workitems/{uid}/subscribers/{ae}/suspend", suspend, methods=["POST"]),
    WebSocketRoute("/subscribers/{ae}", channel),
]
