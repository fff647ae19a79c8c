"""STOW-RS (PS3.18 §10.5): ``POST /studies`` and ``POST /studies/{study}``.

The route picks a body reader by Content-Type and hands its parts to the ingest service, which
stores them in batches while the rest of the body is still arriving; memory stays flat whatever
the request size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dicomweb.errors import BadRequest
from dicomweb.http_warnings import stow_malformed_body, stow_partial
from dicomweb.stow import InstanceOutcome, http_status, response_json
from dicomweb.uids import uid_problem
from server.app_errors import PayloadTooLarge
from server.http import ctx_of, dicomweb_base, json_response, principal_of
from server.services import body_readers
from server.services.body_readers import PartFailure
from server.services.ingest import IngestService, Spooled


async def stow(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    study_uid = request.path_params.get("study")
    if study_uid is not None and uid_problem(study_uid):
        raise BadRequest(f"StudyInstanceUID in the URL is {uid_problem(study_uid)}")
    ctx.settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    settings = ctx.settings
    limits = body_readers.StowLimits(settings.stow_max_bytes, settings.stow_max_instance_bytes,
                                     settings.stow_max_parts)
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limits.max_bytes:
        raise PayloadTooLarge(f"request body of {declared} bytes is larger than the limit of {limits.max_bytes} bytes")
    spool = body_readers.SpoolConfig(
        settings.tmp_dir, ctx.memory.stow_budget, settings.stow_part_memory_kb * 1024, limits
    )
    reader = body_readers.dicom_reader(request.headers.get("content-type"), spool)

    async def items() -> AsyncIterator[Spooled | InstanceOutcome]:
        async for part in reader.parts(request.stream()):
            yield _part_failure(part) if isinstance(part, PartFailure) else part

    outcomes = await IngestService(ctx).ingest_stream(items(), study_uid, principal)
    malformed = reader.malformed
    if malformed and not any(o.ok for o in outcomes):
        raise BadRequest(f"malformed multipart body: {malformed}")
    if not outcomes:
        raise BadRequest("the request holds no DICOM instance")
    base = dicomweb_base(request)
    body = response_json(
        outcomes,
        lambda o: f"{base}studies/{o.study_instance_uid}/series/{o.series_instance_uid}"
        f"/instances/{o.sop_instance_uid}",
        lambda uid: f"{base}studies/{uid}",
    )
    status = http_status(outcomes)
    headers = {}
    partial = stow_partial(outcomes)
    if partial:  # §10.5.3.2: a 202 says what failed in a Warning header
        headers["Warning"] = partial
    if malformed:
        status = 202
        headers["Warning"] = ", ".join(filter(None, [partial, stow_malformed_body(len(outcomes), malformed)]))
    return json_response(body, status=status, headers=headers)


def _part_failure(part: PartFailure) -> InstanceOutcome:
    return InstanceOutcome("", "", "", "", "failed", int(part.reason), part.message)


routes: list[BaseRoute] = [
    Route("/studies", stow, methods=["POST"]),
    Route("/studies/{study}", stow, methods=["POST"]),
]

__all__ = ["routes"]
