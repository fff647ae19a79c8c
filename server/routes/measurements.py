"""``POST /api/studies/{study}/measurements``: the viewer's measurements stored as a TID 1500 SR.

The body is ``{"measurements": [{"tool", "uid", "label", "series_instance_uid", "sop_instance_uid",
"frame", "points": [[column, row], ...], "values": {...}, "units": {...}}]}`` in DICOM pixel
coordinates; the answer names the new SR instance. The viewer reads the SR back via DICOMweb
(QIDO for the study's measurement series, then the newest instance's metadata). Mounted under
``/api``; documented in ``openapi_measurements.py``; logic in ``server/measurements``.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.app_errors import InvalidInput
from server.http import ctx_of, json_response, path_uids, principal_of
from server.measurements import report, service

MAX_BODY = 4 * 1024 * 1024


async def save_measurements(request: Request) -> Response:
    study, _, _ = path_uids(request)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidInput(f"a measurement report is at most {MAX_BODY} bytes of JSON")
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidInput('request body must be {"measurements": [...]}')
    saved = await service.save(ctx_of(request), principal_of(request), study, report.parse_measurements(body))
    return json_response({
        "study_instance_uid": saved.study_instance_uid, "series_instance_uid": saved.series_instance_uid,
        "sop_instance_uid": saved.sop_instance_uid, "instance_number": saved.instance_number,
        "count": saved.count,
    }, media_type="application/json")


async def mark_key_image(request: Request) -> Response:
    """``{"series_instance_uid", "sop_instance_uid", "frame"?, "note"?}``: a Key Object Selection in the study."""
    study, _, _ = path_uids(request)
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidInput('request body must be {"series_instance_uid": ..., "sop_instance_uid": ...}')
    series = report.require_uid(body.get("series_instance_uid"), "series_instance_uid", "key image")
    sop = report.require_uid(body.get("sop_instance_uid"), "sop_instance_uid", "key image")
    frame = body.get("frame", 1)
    if isinstance(frame, bool) or not isinstance(frame, int) or frame < 1:
        raise InvalidInput("key image: frame must be a frame number (1 or more)")
    note = body.get("note") or ""
    if not isinstance(note, str):
        raise InvalidInput("key image: note must be a text")
    saved = await service.mark_key_image(ctx_of(request), principal_of(request), study, series, sop, frame, note)
    return json_response({
        "study_instance_uid": saved.study_instance_uid, "series_instance_uid": saved.series_instance_uid,
        "sop_instance_uid": saved.sop_instance_uid, "instance_number": saved.instance_number,
    }, media_type="application/json")


routes: list[BaseRoute] = [
    Route("/studies/{study}/measurements", save_measurements, methods=["POST"]),
    Route("/studies/{study}/key-images", mark_key_image, methods=["POST"]),
]
