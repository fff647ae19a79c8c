"""QIDO-RS routes (PS3.18 §10.6): parse the query, run the search, send DICOM JSON.

An empty result is ``200`` with ``[]`` (not ``204``): every client we serve,
OHIF included, reads an empty array, while some treat 204 as an error.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dicomweb.errors import NotAcceptable
from dicomweb.qido import QueryLevel, parse_query
from server.context import AppContext
from server.services.qido import MAX_RESULTS, QidoService

DICOM_JSON = "application/dicom+json"
ACCEPTED = {DICOM_JSON, "application/json", "application/*", "*/*"}


def _media_type(request: Request) -> str:
    """``application/dicom+json`` unless the client only takes ``application/json``."""
    header = request.headers.get("accept", "").strip()
    if not header:
        return DICOM_JSON
    ranges = []
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranges.append(media.lower())
    if DICOM_JSON in ranges or "application/*" in ranges or "*/*" in ranges:
        return DICOM_JSON
    if "application/json" in ranges:
        return "application/json"
    raise NotAcceptable(f"QIDO-RS answers with {DICOM_JSON}; Accept {header!r} does not allow it")


def _forwarded(request: Request) -> tuple[str | None, str | None]:
    """Protocol and host a proxy saw (RFC 7239 ``Forwarded``, else ``X-Forwarded-*``)."""
    header = request.headers.get("forwarded")
    if header:
        proto = host = None
        for pair in header.split(",")[0].split(";"):
            name, _, value = pair.strip().partition("=")
            value = value.strip().strip('"')
            if name.lower() == "proto":
                proto = value
            elif name.lower() == "host":
                host = value
        return proto, host
    proto = request.headers.get("x-forwarded-proto")
    host = request.headers.get("x-forwarded-host")
    return (proto.split(",")[0].strip() if proto else None, host.split(",")[0].strip() if host else None)


def dicomweb_base(request: Request, ctx: AppContext) -> str:
    """Absolute URL of the DICOMweb root as the client sees it (for RetrieveURL)."""
    if ctx.settings.public_url:
        return ctx.settings.public_url.rstrip("/") + "/dicom-web"
    proto, host = _forwarded(request)
    proto = proto or request.url.scheme
    host = host or request.headers.get("host") or request.url.netloc
    return f"{proto}://{host}{request.scope.get('root_path', '')}".rstrip("/")


async def _search(request: Request, level: QueryLevel) -> Response:
    media_type = _media_type(request)
    ctx: AppContext = request.app.state.ctx
    query = parse_query(
        level,
        request.query_params.multi_items(),
        study_uid=request.path_params.get("study"),
        series_uid=request.path_params.get("series"),
    )
    result = await QidoService(ctx).search(query, dicomweb_base(request, ctx))
    headers = {}
    if result.truncated:
        headers["Warning"] = f'299 cirrus "The results are limited to the first {MAX_RESULTS} matches"'
    return Response(orjson.dumps(result.items), media_type=media_type, headers=headers)


async def search_studies(request: Request) -> Response:
    return await _search(request, QueryLevel.STUDY)


async def search_series(request: Request) -> Response:
    return await _search(request, QueryLevel.SERIES)


async def search_instances(request: Request) -> Response:
    return await _search(request, QueryLevel.INSTANCE)


routes: list[BaseRoute] = [
    Route("/studies", search_studies, methods=["GET"]),
    Route("/series", search_series, methods=["GET"]),
    Route("/instances", search_instances, methods=["GET"]),
    Route("/studies/{study}/series", search_series, methods=["GET"]),
    Route("/studies/{study}/instances", search_instances, methods=["GET"]),
    Route("/studies/{study}/series/{series}/instances", search_instances, methods=["GET"]),
]
