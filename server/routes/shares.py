"""Share links: staff create, list, revoke and print them; the patient exchanges the code and reads.

``/api/studies/{study}/shares`` and ``/api/shares/{id}`` (QR, revoke) are for staff of the owning
institution; ``/api/shares/{id}/exchange`` is public (the code is the credential, the lockout guards
it); ``/api/shares/{id}/view`` and ``/documents/{sop}`` take the exchanged ``Bearer shr_...`` token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.app_errors import AppError, NotFoundError
from server.errors import status_for
from server.http import ctx_of, json_response, path_uids, principal_of, public_base
from server.routes.api import _body_json
from server.routes.audit_record import writer_of
from server.services.audit import record_share_exchange
from server.shares import patient, qr, service
from server.shares.service import ShareAccess

JSON = "application/json"
NO_STORE = {"Cache-Control": "no-store"}


def share_url(request: Request, public_id: str) -> str:
    return f"{public_base(request)}/s/{public_id}"


def _client_address(request: Request) -> str:
    return request.client.host if request.client else ""


async def create(request: Request) -> Response:
    study, _, _ = path_uids(request)
    inp = service.parse_create(await _body_json(request))
    link, code = await service.create_share(ctx_of(request), principal_of(request), study, inp)
    url = share_url(request, link.public_id)
    body = {**service.link_json(link, study, url), "code": code,
            "qr_png": f"/api/shares/{link.public_id}/qr.png", "qr_svg": f"/api/shares/{link.public_id}/qr.svg"}
    return json_response(body, status=201, media_type=JSON, headers=NO_STORE)


async def list_for_study(request: Request) -> Response:
    study, _, _ = path_uids(request)
    links = await service.list_shares(ctx_of(request), principal_of(request), study)
    return json_response({"shares": [service.link_json(link, study, share_url(request, link.public_id))
                                     for link in links]}, media_type=JSON)


async def revoke(request: Request) -> Response:
    link = await service.revoke_share(ctx_of(request), principal_of(request), request.path_params["share"])
    _, study = await service.staff_link(ctx_of(request), principal_of(request), link.public_id)
    return json_response(service.link_json(link, study, share_url(request, link.public_id)), media_type=JSON)


async def _qr(request: Request, kind: str) -> Response:
    link, _ = await service.staff_link(ctx_of(request), principal_of(request), request.path_params["share"])
    url = share_url(request, link.public_id)
    if kind == "png":
        return Response(qr.qr_png(url), media_type="image/png", headers=NO_STORE)
    return Response(qr.qr_svg(url), media_type="image/svg+xml", headers=NO_STORE)


async def qr_png(request: Request) -> Response:
    return await _qr(request, "png")


async def qr_svg(request: Request) -> Response:
    return await _qr(request, "svg")


async def exchange(request: Request) -> Response:
    public_id, address = request.path_params["share"], _client_address(request)
    attempt = service.ExchangeAttempt()
    try:
        body = await _body_json(request)
        token, access = await service.exchange(ctx_of(request), public_id, body.get("code"), address, attempt)
    except Exception as exc:
        record_share_exchange(writer_of(request.scope), public_id=public_id, share_id=attempt.share_id,
                              study_uid=attempt.study_uid, status=status_for(exc), client_address=address,
                              reason=attempt.reason or (exc.message if isinstance(exc, AppError) else "error"))
        raise
    record_share_exchange(writer_of(request.scope), public_id=public_id, share_id=access.share_id,
                          study_uid=access.study_uid, status=200, client_address=address,
                          principal=access.principal)
    return json_response({"token": token, "token_type": "Bearer", "expires_at": access.expires_at.isoformat(),
                          "study_uid": access.study_uid, "series_uid": access.series_uid,
                          "allow_download": access.allow_download}, media_type=JSON, headers=NO_STORE)


def _access(request: Request) -> ShareAccess:
    """The share the request's token opens; it must be the share named in the path."""
    access = request.scope.get("share")
    if not isinstance(access, ShareAccess) or access.public_id != request.path_params["share"]:
        raise NotFoundError("open the share link and enter its access code first")
    return access


async def view(request: Request) -> Response:
    data = await patient.view(ctx_of(request), _access(request))
    return json_response(data, media_type=JSON, headers=NO_STORE)


async def document(request: Request) -> Response:
    pdf = await patient.document(ctx_of(request), _access(request), request.path_params["sop"])
    return Response(pdf, media_type="application/pdf", headers={
        **NO_STORE, "Content-Disposition": 'inline; filename="report.pdf"', "X-Content-Type-Options": "nosniff"})


routes: list[BaseRoute] = [
    Route("/studies/{study}/shares", create, methods=["POST"]),
    Route("/studies/{study}/shares", list_for_study, methods=["GET"]),
    Route("/shares/{share}", revoke, methods=["DELETE"]),
    Route("/shares/{share}/qr.png", qr_png, methods=["GET"]),
    Route("/shares/{share}/qr.svg", qr_svg, methods=["GET"]),
    Route("/shares/{share}/exchange", exchange, methods=["POST"]),
    Route("/shares/{share}/view", view, methods=["GET"]),
    Route("/shares/{share}/documents/{sop}", document, methods=["GET"]),
]
