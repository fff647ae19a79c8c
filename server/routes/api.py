"""JSON API under ``/api``: uploads, analysis jobs, reports, live events, OpenAPI.

Thin handlers: parsing and responses here, logic in ``server/workflow``. Every handler takes the
caller (``principal_of``) and the services put its tenant rule into their SQL; roles and token
scopes were checked before the route ran (``server.auth.rules``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from server.app_errors import InvalidInput, PayloadTooLarge
from server.http import ctx_of, json_response, path_uids, principal_of
from server.routes.openapi import OPENAPI
from server.services import body_readers, uploads
from server.services.archives import new_workdir, remove_workdir
from server.workflow import analyse, dce_report, detector, jobs, report_panels, reports, worker

JSON = "application/json"
KEEPALIVE_SECONDS = 15.0


def _json(data: Any, status: int = 200) -> Response:
    return json_response(data, status=status, media_type=JSON)


def _job_id(request: Request) -> int:
    raw = request.path_params["job_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # ids are 32-bit (INTEGER on PostgreSQL)
        raise InvalidInput(f"job id must be a positive integer, got {raw[:40]!r}")
    return int(raw)


async def _body_json(request: Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    return data


# -- uploads -----------------------------------------------------------------------------------


def _declared_length(request: Request, limit: int) -> None:
    raw = request.headers.get("content-length") or "0"
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidInput(f"Content-Length must be a number of bytes, got {raw[:40]!r}")
    if int(raw) > limit:
        raise PayloadTooLarge(f"upload larger than the limit of {limit} bytes")


async def _receive_and_store(request: Request, reader: body_readers.UploadBodyReader) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    workdir = new_workdir(ctx.settings.tmp_dir)
    try:
        inputs = [f async for f in reader.files(request.stream(), workdir)]
        if not inputs:
            raise InvalidInput("the form holds no files (send them as file fields)")
        report = await uploads.ingest_inputs(ctx, inputs, principal=principal)
    finally:
        remove_workdir(workdir)
    result = report.as_json()
    opened = []
    if request.query_params.get("analyse", "1") != "0":
        opened = await detector.evaluate_now(ctx, list(report.studies))
    result["jobs"] = [jobs.job_json(j, brief=True) for j in opened]
    return _json(result, status=_upload_status(result))


async def post_upload(request: Request) -> Response:
    """multipart/form-data with one or more files (ZIPs or DICOM files), or one file as the raw body."""
    limit = ctx_of(request).settings.max_upload_bytes
    _declared_length(request, limit)
    name = request.query_params.get("filename") or "upload"
    reader = body_readers.upload_reader(request.headers.get("content-type"), name, limit)
    return await _receive_and_store(request, reader)


async def post_upload_stream(request: Request) -> Response:
    """One file (ZIP or DICOM) as the raw body, streamed to disk; for large uploads."""
    limit = ctx_of(request).settings.max_upload_bytes
    _declared_length(request, limit)
    name = request.query_params.get("filename") or "upload"
    return await _receive_and_store(request, body_readers.RawFileReader(name, limit))


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
    total, rows = await jobs.list_jobs(ctx, principal_of(request), flt)
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
    job = await jobs.get_job(ctx, principal_of(request), _job_id(request))
    return _json(jobs.job_json(job, await jobs.results_of(ctx, job.id or 0)))


async def set_parameters(request: Request) -> Response:
    ctx, p = ctx_of(request), principal_of(request)
    body = await _body_json(request)
    # {"parameters": {...}, "units": {"pld": "ms"}, "remember": true}, or the parameters alone.
    values = body.get("parameters", {k: v for k, v in body.items() if k not in ("units", "remember")})
    if not isinstance(values, dict):
        raise InvalidInput("parameters must be a JSON object")
    remember = body.get("remember", False)
    if not isinstance(remember, bool):
        raise InvalidInput("remember must be true or false")
    job = await jobs.set_parameters(ctx, p, _job_id(request), values, body.get("units"), remember)
    return _json(jobs.job_json(job))


def _action(fn):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> Response:
        ctx, p = ctx_of(request), principal_of(request)
        job = await fn(ctx, p, _job_id(request))
        return _json(jobs.job_json(job))

    return handler


async def start_job(request: Request) -> Response:
    p = principal_of(request)
    urgent = request.query_params.get("urgent", "0").lower() in ("1", "true", "yes")
    job = await jobs.start(ctx_of(request), p, _job_id(request), urgent=urgent)
    return _json(jobs.job_json(job))


async def delete_job(request: Request) -> Response:
    p = principal_of(request)
    await jobs.delete(ctx_of(request), p, _job_id(request))
    return Response(status_code=204)


async def analyse_study(request: Request) -> Response:
    """Run the analysis detection of one study now: its jobs, the new ones, or why there are none."""
    study, _, _ = path_uids(request)
    result = await analyse.analyse_study(ctx_of(request), principal_of(request), study)
    return _json(result.as_json())


async def retry_detection(request: Request) -> Response:
    result = await analyse.retry_detection(ctx_of(request), principal_of(request), _job_id(request))
    return _json(result.as_json())


async def set_diagnosis(request: Request) -> Response:
    p = principal_of(request)
    body = await _body_json(request)
    text = body.get("diagnostic_text", body.get("text", ""))
    if not isinstance(text, str):
        raise InvalidInput("diagnostic_text must be a string")
    job = await jobs.set_diagnostic_text(ctx_of(request), p, _job_id(request), text)
    return _json(jobs.job_json(job))


async def report_pdf(request: Request) -> Response:
    ctx = ctx_of(request)
    job = await jobs.finished_job(ctx, principal_of(request), _job_id(request))
    lang = reports.language(request.query_params.get("lang") or request.headers.get("accept-language"))
    figures = await reports.load_figures(ctx, job.id or 0, job.version)
    pdf = await asyncio.to_thread(dce_report.build_pdf_for, job, figures, lang)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="asl-report-{job.id}-v{job.version}.pdf"'},
    )


async def store_report(request: Request) -> Response:
    """Store the current PDF report (with the edited diagnostic text) in the study."""
    ctx, p = ctx_of(request), principal_of(request)
    job = await jobs.finished_job(ctx, p, _job_id(request))
    lang = reports.language(request.query_params.get("lang") or request.headers.get("accept-language"))
    return _json(await worker.store_report(ctx, job, lang), status=201)


async def report_csv(request: Request) -> Response:
    job = await jobs.finished_job(ctx_of(request), principal_of(request), _job_id(request))
    return Response(
        job.regional_csv,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="asl-regions-{job.id}-v{job.version}.csv"'},
    )


async def panel_csv(request: Request) -> Response:
    """One disease panel of the newest result as CSV (regions, left/right CBF, relative CBF, asymmetry)."""
    job = await jobs.finished_job(ctx_of(request), principal_of(request), _job_id(request))
    name = request.path_params["panel"]
    return Response(
        report_panels.panel_csv_of(job.id or 0, job.statistics or {}, name),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="asl-panel-{name}-{job.id}-v{job.version}.csv"'},
    )


# -- live progress (server-sent events) --------------------------------------------------------


async def events(request: Request) -> Response:
    """Server-sent events: one ``job`` event per change of a job the caller sees (from any process).

    ``?job=ID`` limits the stream to one job; ``?max_seconds=N`` ends it
    after N seconds (long-poll style clients and tests).
    """
    ctx, p = ctx_of(request), principal_of(request)
    job_filter = request.query_params.get("job")
    try:
        max_seconds = float(request.query_params.get("max_seconds", "0") or 0)
        job_id = int(job_filter) if job_filter else None
    except ValueError:
        raise InvalidInput("job must be an integer and max_seconds a number") from None
    if job_id is not None and not -2**31 <= job_id < 2**31:  # checked before the stream starts
        raise InvalidInput("job must be a job's id")

    async def stream() -> AsyncIterator[bytes]:
        started = time.monotonic()
        seen: dict[int, Any] = {}
        yield b"retry: 2000\n\n"
        with jobs.subscribe(ctx) as changed:
            while True:
                for job in await jobs.recent_jobs(ctx, p, job_id):
                    stamp = (job.updated_at, job.state, job.progress, job.revision)
                    if seen.get(job.id or 0) != stamp:
                        seen[job.id or 0] = stamp
                        data = orjson.dumps(jobs.job_json(job, brief=True))
                        yield b"event: job\nid: %d\ndata: " % (job.id or 0) + data + b"\n\n"
                left = max_seconds - (time.monotonic() - started) if max_seconds else KEEPALIVE_SECONDS
                if left <= 0 or await request.is_disconnected():
                    return
                # Woken by a job change (this process or another); a quiet period sends a keep-alive.
                if not await changed.wait(min(left, KEEPALIVE_SECONDS)):
                    if max_seconds and time.monotonic() - started >= max_seconds:
                        return
                    yield b": keep-alive\n\n"

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
    Route("/jobs/{job_id}/retry-detection", retry_detection, methods=["POST"]),
    Route("/studies/{study}/analyse", analyse_study, methods=["POST"]),
    Route("/jobs/{job_id}/diagnosis", set_diagnosis, methods=["POST", "PUT"]),
    Route("/jobs/{job_id}/report.pdf", report_pdf, methods=["GET"]),
    Route("/jobs/{job_id}/report", store_report, methods=["POST"]),
    Route("/jobs/{job_id}/report.csv", report_csv, methods=["GET"]),
    Route("/jobs/{job_id}/panels/{panel}.csv", panel_csv, methods=["GET"]),
    Route("/events", events, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
