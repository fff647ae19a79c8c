"""Protocol presets under ``/api/presets``: administrators list, edit and delete them.

A preset is made from a job (``POST /api/jobs/{job_id}/parameters`` with ``"remember": true``);
``PATCH /api/presets/{preset_id}`` takes ``{"values": {...}, "units": {"pld": "ms"}}`` like a job's
parameters. Mounted under ``/api``; documented in ``openapi_presets.py``.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.app_errors import InvalidInput
from server.http import ctx_of, json_response, principal_of
from server.workflow import presets

JSON = "application/json"


def _preset_id(request: Request) -> int:
    raw = request.path_params["preset_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # ids are 32-bit (INTEGER on PostgreSQL)
        raise InvalidInput(f"preset id must be a positive integer, got {raw[:40]!r}")
    return int(raw)


async def list_presets(request: Request) -> Response:
    rows = await presets.list_presets(ctx_of(request), principal_of(request))
    return json_response({"presets": [presets.preset_json(r) for r in rows]}, media_type=JSON)


async def get_preset(request: Request) -> Response:
    row = await presets.get_preset(ctx_of(request), principal_of(request), _preset_id(request))
    return json_response(presets.preset_json(row), media_type=JSON)


async def patch_preset(request: Request) -> Response:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict) or "values" not in body:
        raise InvalidInput('request body must be {"values": {...}, "units": {...}}')
    row = await presets.update_preset(ctx_of(request), principal_of(request), _preset_id(request),
                                      body["values"], body.get("units"))
    return json_response(presets.preset_json(row), media_type=JSON)


async def delete_preset(request: Request) -> Response:
    await presets.delete_preset(ctx_of(request), principal_of(request), _preset_id(request))
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/presets", list_presets, methods=["GET"]),
    Route("/presets/{preset_id}", get_preset, methods=["GET"]),
    Route("/presets/{preset_id}", patch_preset, methods=["PATCH"]),
    Route("/presets/{preset_id}", delete_preset, methods=["DELETE"]),
]
