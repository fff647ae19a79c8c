"""PACS pull: ``/api/pull/...`` (sources, rules and their test, the queue, "pull now", "why not")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dicomweb.errors import UnsupportedMediaType
from server.app_errors import InvalidInput
from server.http import ctx_of, json_response, principal_of
from server.pull import hint_service, service
from server.pull.hints import parse_csv, parse_json
from server.routes.api import _body_json, _declared_length

JSON = "application/json"


def _id(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not raw.isdigit():
        raise InvalidInput(f"{name} id {raw!r} is not a number")
    return int(raw)


async def sources(request: Request) -> Response:
    rows = await service.list_sources(ctx_of(request), principal_of(request))
    return json_response({"sources": [service.source_json(s) for s in rows]}, media_type=JSON)


async def create_source(request: Request) -> Response:
    row = await service.save_source(ctx_of(request), principal_of(request), await _body_json(request))
    return json_response(service.source_json(row), status=201, media_type=JSON)


async def update_source(request: Request) -> Response:
    row = await service.save_source(ctx_of(request), principal_of(request), await _body_json(request),
                                    _id(request, "source"))
    return json_response(service.source_json(row), media_type=JSON)


async def delete_source(request: Request) -> Response:
    await service.delete_source(ctx_of(request), principal_of(request), _id(request, "source"))
    return Response(status_code=204)


async def rules(request: Request) -> Response:
    rows = await service.list_rules(ctx_of(request), principal_of(request))
    return json_response({"rules": [service.rule_json(r, n) for r, n in rows]}, media_type=JSON)


async def create_rule(request: Request) -> Response:
    row, name = await service.save_rule(ctx_of(request), principal_of(request), await _body_json(request))
    return json_response(service.rule_json(row, name), status=201, media_type=JSON)


async def update_rule(request: Request) -> Response:
    row, name = await service.save_rule(ctx_of(request), principal_of(request), await _body_json(request),
                                        _id(request, "rule"))
    return json_response(service.rule_json(row, name), media_type=JSON)


async def delete_rule(request: Request) -> Response:
    await service.delete_rule(ctx_of(request), principal_of(request), _id(request, "rule"))
    return Response(status_code=204)


async def test_rule(request: Request) -> Response:
    verdict = await service.test_rule(ctx_of(request), principal_of(request), _id(request, "rule"),
                                      await _body_json(request))
    return json_response(verdict, media_type=JSON)


async def queue(request: Request) -> Response:
    rows = await service.queue(ctx_of(request), principal_of(request), request.query_params.get("state"))
    return json_response({"studies": [service.study_json(r) for r in rows]}, media_type=JSON)


async def request_pull(request: Request) -> Response:
    row = await service.request_pull(ctx_of(request), principal_of(request), await _body_json(request))
    return json_response(service.study_json(row), status=202, media_type=JSON)


async def why(request: Request) -> Response:
    q = request.query_params
    body = await service.why_not(ctx_of(request), principal_of(request), q.get("study", "").strip(),
                                 q.get("accession", "").strip())
    return json_response(body, media_type=JSON)


MAX_HINT_UPLOAD = 8 * 1024 * 1024


async def hints(request: Request) -> Response:
    rows, total = await hint_service.listing(ctx_of(request), principal_of(request))
    return json_response({"hints": [hint_service.hint_json(h) for h in rows], "total": total}, media_type=JSON)


async def upload_hints(request: Request) -> Response:
    """The RIS/HIS orders as CSV (``text/csv``) or JSON (``{"orders": [...]}``); ``?replace=true``
    drops the institution's earlier orders first."""
    _declared_length(request, MAX_HINT_UPLOAD)
    replace = request.query_params.get("replace", "false").lower()
    if replace not in ("true", "false"):
        raise InvalidInput("replace must be true or false")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("text/csv", "text/plain"):
        raw = await request.body()
        if len(raw) > MAX_HINT_UPLOAD:
            raise InvalidInput(f"the CSV is larger than {MAX_HINT_UPLOAD} bytes")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("the CSV is not UTF-8") from None
        orders = parse_csv(text)
    elif kind in ("application/json", ""):
        orders = parse_json(await _body_json(request))
    else:
        raise UnsupportedMediaType(f"send text/csv or application/json, not {kind!r}")
    result = await hint_service.upload(ctx_of(request), principal_of(request), orders, replace == "true")
    return json_response(result, media_type=JSON)


routes: list[BaseRoute] = [
    Route("/pull/sources", sources, methods=["GET"]),
    Route("/pull/sources", create_source, methods=["POST"]),
    Route("/pull/sources/{source}", update_source, methods=["PUT"]),
    Route("/pull/sources/{source}", delete_source, methods=["DELETE"]),
    Route("/pull/rules", rules, methods=["GET"]),
    Route("/pull/rules", create_rule, methods=["POST"]),
    Route("/pull/rules/{rule}", update_rule, methods=["PUT"]),
    Route("/pull/rules/{rule}", delete_rule, methods=["DELETE"]),
    Route("/pull/rules/{rule}/test", test_rule, methods=["POST"]),
    Route("/pull/queue", queue, methods=["GET"]),
    Route("/pull/requests", request_pull, methods=["POST"]),
    Route("/pull/why", why, methods=["GET"]),
    Route("/pull/hints", hints, methods=["GET"]),
    Route("/pull/hints", upload_hints, methods=["POST"]),
]
