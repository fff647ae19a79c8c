"""JSON API under ``/api``: uploads, analysis jobs, reports, live events, OpenAPI.

Thin handlers: parsing and responses here, logic in ``server/workflow``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from dicomweb.errors import BadRequest
from dicomweb.multipart import MultipartDecoder, PartData, PartEnd, PartStart, parse_media_type
from server.errors import error_response
from server.http import ctx_of, json_response, multipart_events
from server.services.uploads import new_workdir, remove_workdir
from server.workflow import intake, jobs, reports, runtime, worker  # noqa: F401  (runtime registers hooks)
from server.workflow.models import AnalysisJob
from server.workflow.openapi import OPENAPI

JSON = "application/json"


def _json(data: Any, status: int = 200) -> Response:
    return json_response(data, status=status, media_type=JSON)


def _job_id(request: Request) -> int:
    raw = request.path_params["job_id"]
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"job id must be an integer, got {raw!r}") from None


async def _body_json(request: Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return data


# -- uploads -----------------------------------------------------------------------------------


def _too_large(ctx_limit: int) -> Response:
    return error_response(413, f"upload larger than the limit of {ctx_limit} bytes")


def _part_filename(disposition: str, index: int) -> str | None:
    """File name of a form-data part (RFC 7578 / RFC 5987); ``None`` for plain fields."""
    params: dict[str, str] = {}
    for piece in disposition.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    if "filename*" in params:
        charset, _, rest = params["filename*"].partition("'")
        _, _, encoded = rest.partition("'")
        return unquote(encoded, encoding=charset or "utf-8", errors="replace") or f"file-{index}"
    if "filename" in params:
        return params["filename"] or f"file-{index}"
    return None


async def post_upload(request: Request) -> Response:
    """multipart/form-data with one or more files (ZIPs or DICOM files), streamed to disk."""
    ctx = ctx_of(request)
    limit = ctx.settings.max_upload_bytes
    if int(request.headers.get("content-length") or 0) > limit:
        return _too_large(limit)
    media = parse_media_type(request.headers.get("content-type", "application/octet-stream"))
    if media.type != "multipart/form-data":
        return await post_upload_stream(request)
    boundary = media.params.get("boundary")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary parameter")
    decoder = MultipartDecoder(boundary)
    workdir = new_workdir(ctx.settings.tmp_dir)
    try:
        inputs: list[tuple[str, Path]] = []
        total = 0
        out = None
        index = 0

        try:
            async for ev in multipart_events(request, decoder):
                if isinstance(ev, PartStart):
                    index += 1
                    headers = {k.lower(): v for k, v in ev.headers.items()}
                    name = _part_filename(headers.get("content-disposition", ""), index)
                    if name is not None:
                        target = workdir / f"part-{index:06d}"
                        out = open(target, "wb")  # noqa: SIM115  (closed at PartEnd or below)
                        inputs.append((name, target))
                elif isinstance(ev, PartData) and out is not None:
                    total += len(ev.data)
                    if total > limit:
                        return _too_large(limit)
                    out.write(ev.data)
                elif isinstance(ev, PartEnd) and out is not None:
                    out.close()
                    out = None
        finally:
            if out is not None:
                out.close()
        if not inputs:
            raise BadRequest("the form holds no files (send them as file fields)")
        result = await intake.upload(ctx, inputs, analyse=request.query_params.get("analyse", "1") != "0")
    finally:
        remove_workdir(workdir)
    return _json(result, status=_upload_status(result))


async def post_upload_stream(request: Request) -> Response:
    """One file (ZIP or DICOM) as the raw body, streamed to disk; for large uploads."""
    ctx = ctx_of(request)
    limit = ctx.settings.max_upload_bytes
    if int(request.headers.get("content-length") or 0) > limit:
        return _too_large(limit)
    name = request.query_params.get("filename") or "upload"
    workdir = new_workdir(ctx.settings.tmp_dir)
    try:
        fd, tmp = tempfile.mkstemp(dir=workdir)
        total = 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    return _too_large(limit)
                out.write(chunk)
        if total == 0:
            raise BadRequest("the upload is empty")
        result = await intake.upload(
            ctx, [(name, Path(tmp))], analyse=request.query_params.get("analyse", "1") != "0"
        )
    finally:
        remove_workdir(workdir)
    return _json(result, status=_upload_status(result))


def _upload_status(result: dict[str, Any]) -> int:
    """200 when anything was stored (or already there); otherwise 422 with the reason."""
    if result["stored"] or result["duplicates"]:
        return 200
    if result["failed"]:
        first = result["failed"][0]
        result["error"] = f"no instance could be stored ({len(result['failed'])} rejected; " \
                          f"{first['name']}: {first['reason']})"
    elif result["skipped"]:
        skipped = result["skipped"]
        result["error"] = f"no DICOM files in the upload ({len(skipped)} skipped: {skipped[0]['reason']})"
    else:
        result["error"] = "no files in the upload"
    return 422


# -- jobs --------------------------------------------------------------------------------------


async def list_jobs(request: Request) -> Response:
    ctx = ctx_of(request)
    flt = jobs.parse_filter(dict(request.query_params))
    total, rows = await jobs.list_jobs(ctx, flt)
    return _json(
        {
            "total": total,
            "limit": flt.limit,
            "offset": flt.offset,
            "jobs": [jobs.job_json(j, brief=True) for j in rows],
        }
    )


async def get_job(request: Request) -> Response:
    ctx = ctx_of(request)
    job = await jobs.get_job(ctx, _job_id(request))
    return _json(jobs.job_json(job, await jobs.results_of(ctx, job.id or 0)))


async def set_parameters(request: Request) -> Response:
    ctx = ctx_of(request)
    body = await _body_json(request)
    values = body.get("parameters", body)
    if not isinstance(values, dict):
        raise BadRequest("parameters must be a JSON object")
    job = await jobs.set_parameters(ctx, _job_id(request), values)
    return _json(jobs.job_json(job))


def _action(fn):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> Response:
        ctx = ctx_of(request)
        job = await fn(ctx, _job_id(request))
        return _json(jobs.job_json(job))

    return handler


async def start_job(request: Request) -> Response:
    urgent = request.query_params.get("urgent", "0").lower() in ("1", "true", "yes")
    job = await jobs.start(ctx_of(request), _job_id(request), urgent=urgent)
    return _json(jobs.job_json(job))


async def delete_job(request: Request) -> Response:
    await jobs.delete(ctx_of(request), _job_id(request))
    return Response(status_code=204)


async def set_diagnosis(request: Request) -> Response:
    body = await _body_json(request)
    text = body.get("diagnostic_text", body.get("text", ""))
    if not isinstance(text, str):
        raise BadRequest("diagnostic_text must be a string")
    job = await jobs.set_diagnostic_text(ctx_of(request), _job_id(request), text)
    return _json(jobs.job_json(job))


async def _finished_job(request: Request) -> AnalysisJob:
    job = await jobs.get_job(ctx_of(request), _job_id(request))
    if job.version < 1:
        raise jobs.JobConflict(f"analysis job {job.id} has no result yet (it is {job.state})")
    return job


async def report_pdf(request: Request) -> Response:
    ctx = ctx_of(request)
    job = await _finished_job(request)
    lang = reports.language(request.query_params.get("lang") or request.headers.get("accept-language"))
    figures = await reports.load_figures(ctx, job.id or 0, job.version)
    pdf = await asyncio.to_thread(reports.build_pdf, job, figures, lang)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="asl-report-{job.id}-v{job.version}.pdf"'},
    )


async def store_report(request: Request) -> Response:
    """Store the current PDF report (with the edited diagnostic text) in the study."""
    ctx = ctx_of(request)
    job = await _finished_job(request)
    lang = reports.language(request.query_params.get("lang") or request.headers.get("accept-language"))
    return _json(await worker.store_report(ctx, job, lang), status=201)


async def report_csv(request: Request) -> Response:
    job = await _finished_job(request)
    return Response(
        job.regional_csv,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="asl-regions-{job.id}-v{job.version}.csv"'},
    )


# -- live progress (server-sent events) --------------------------------------------------------


async def events(request: Request) -> Response:
    """Server-sent events: one ``job`` event per job change (from any process).

    ``?job=ID`` limits the stream to one job; ``?max_seconds=N`` ends it
    after N seconds (long-poll style clients and tests).
    """
    ctx = ctx_of(request)
    job_filter = request.query_params.get("job")
    try:
        max_seconds = float(request.query_params.get("max_seconds", "0") or 0)
        job_id = int(job_filter) if job_filter else None
    except ValueError:
        raise BadRequest("job must be an integer and max_seconds a number") from None

    async def stream():  # type: ignore[no-untyped-def]
        started = time.monotonic()
        seen: dict[int, Any] = {}
        last_ping = started
        yield b"retry: 2000\n\n"
        while True:
            stmt = select(AnalysisJob).where(AnalysisJob.institution_id == ctx.institution_id)
            if job_id is not None:
                stmt = stmt.where(AnalysisJob.id == job_id)
            else:
                stmt = stmt.order_by(col(AnalysisJob.updated_at).desc()).limit(200)
            async with ctx.sessions() as s:
                rows = (await s.exec(stmt)).all()
            for job in rows:
                stamp = (job.updated_at, job.state, job.progress, job.revision)
                if seen.get(job.id or 0) != stamp:
                    seen[job.id or 0] = stamp
                    data = orjson.dumps(jobs.job_json(job, brief=True))
                    yield b"event: job\nid: %d\ndata: " % (job.id or 0) + data + b"\n\n"
            now = time.monotonic()
            if max_seconds and now - started >= max_seconds:
                return
            if now - last_ping > 15:
                last_ping = now
                yield b": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def openapi(request: Request) -> Response:
    return _json(OPENAPI)


routes: list[BaseRoute] = [
    Route("/uploads", post_upload, methods=["POST"]),
    Route("/uploads/stream", post_upload_stream, methods=["POST", "PUT"]),
    Route("/jobs", list_jobs, methods=["GET"]),
    Route("/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/jobs/{job_id}", delete_job, methods=["DELETE"]),
    Route("/jobs/{job_id}/parameters", set_parameters, methods=["POST"]),
    Route("/jobs/{job_id}/start", start_job, methods=["POST"]),
    Route("/jobs/{job_id}/cancel", _action(jobs.cancel), methods=["POST"]),
    Route("/jobs/{job_id}/rerun", _action(jobs.rerun), methods=["POST"]),
    Route("/jobs/{job_id}/diagnosis", set_diagnosis, methods=["POST", "PUT"]),
    Route("/jobs/{job_id}/report.pdf", report_pdf, methods=["GET"]),
    Route("/jobs/{job_id}/report", store_report, methods=["POST"]),
    Route("/jobs/{job_id}/report.csv", report_csv, methods=["GET"]),
    Route("/events", events, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
