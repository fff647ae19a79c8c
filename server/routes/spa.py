"""Serve the built browser app at ``/`` with a single-page-app fallback."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

PLACEHOLDER = """<!doctype html><html><head><meta charset="utf-8"><title>Cirrus</title></head>
<body><h1>Cirrus PACS</h1><p>DICOMweb: <a href="/dicom-web">/dicom-web</a>.
The browser app is not built yet: run <code>make run</code>.</p></body></html>"""


def routes(static_dir: Path) -> list[BaseRoute]:
    index = static_dir / "index.html"

    async def spa(request: Request) -> Response:
        path = request.path_params.get("path", "")
        if path.startswith(("dicom-web", "api/", "wado")):
            raise HTTPException(404, f"no such resource: /{path}")
        if not index.exists():
            return HTMLResponse(PLACEHOLDER)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    result: list[BaseRoute] = []
    assets = static_dir / "assets"
    if assets.is_dir():
        result.append(Mount("/assets", app=StaticFiles(directory=assets), name="assets"))
    static_files = StaticFiles(directory=static_dir, check_dir=False)

    async def root_file(request: Request) -> Response:
        name = request.path_params["path"]
        candidate = static_dir / name
        if "/" not in name and candidate.is_file():
            return await static_files.get_response(name, request.scope)
        return await spa(request)

    result += [Route("/", spa), Route("/{path:path}", root_file)]
    return result
