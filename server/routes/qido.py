"""QIDO-RS routes (PS3.18 §10.6): parse the query, run the search, send DICOM JSON.

An empty result is ``200`` with ``[]`` (not ``204``): every client we serve,
OHIF included, reads an empty array, while some treat 204 as an error.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dicomweb.http_warnings import additional_results, ignored_parameters
from dicomweb.media import Offer, negotiate, parse_accept
from dicomweb.multipart import new_boundary, related_content_type
from dicomweb.qido import QueryLevel, parse_query
from dicomweb.xml_model import DICOM_XML, multipart_xml
from server.http import DICOM_JSON, content_location, ctx_of, dicomweb_base, json_response, principal_of
from server.services.qido import QidoService

# application/dicom+json first (what */* gets); plain application/json for clients that only take it.
# DICOM XML is multipart/related with one NativeDicomModel document per result (PS3.18 §10.6.3.3).
OFFERS = [Offer(DICOM_JSON, multipart=False), Offer("application/json", multipart=False), Offer(DICOM_XML)]


async def _search(request: Request, level: QueryLevel) -> Response:
    choice = negotiate(parse_accept(request.headers.get("accept")), OFFERS)
    query = parse_query(
        level,
        request.query_params.multi_items(),
        study_uid=request.path_params.get("study"),
        series_uid=request.path_params.get("series"),
        unsupported=ctx_of(request).settings.qido_unsupported,
    )
    result = await QidoService(ctx_of(request)).search(query, dicomweb_base(request), principal_of(request))
    warnings = [ignored_parameters(query.ignored)]
    if result.truncated:
        warnings.append(additional_results(None))  # §8.3.4.4.1; at most MAX_RESULTS per answer
    headers = {"Content-Location": content_location(request)}
    if any(warnings):
        headers["Warning"] = ", ".join(w for w in warnings if w)
    if choice.offer.part_type == DICOM_XML:
        boundary = new_boundary()
        return Response(multipart_xml(result.items, boundary), media_type=related_content_type(DICOM_XML, boundary),
                        headers=headers)
    return json_response(result.items, media_type=choice.offer.part_type, headers=headers)


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
