"""The one place that maps errors to HTTP responses: the protocol's (``dicomweb.errors``) and
the application's (``server.app_errors``).

A 500 never echoes internals: the message is generic and the traceback is logged.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from dicomweb import errors as dw
from dicomweb.allow import MethodTable
from server import app_errors as app
from server.storage import BlobNotFound

log = logging.getLogger("cirrus")

STATUS_BY_ERROR: list[tuple[type[Exception], int]] = [
    (dw.NotFound, 404),
    (BlobNotFound, 404),
    (dw.NotAcceptable, 406),
    (dw.UnsupportedMediaType, 415),
    (dw.Conflict, 409),
    (dw.Unprocessable, 422),
    (dw.BadRequest, 400),
    (app.NotFoundError, 404),
    (app.Unauthenticated, 401),
    (app.LockedOut, 423),
    (app.TooManyAttempts, 429),
    (app.Forbidden, 403),
    (app.StateConflict, 409),
    (app.PayloadTooLarge, 413),
    (app.Gone, 410),
    (app.RequestTimeout, 408),
    (app.UnusableInput, 422),
    (app.InvalidInput, 400),
]


def status_for(exc: Exception) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(status: int, message: str, **extra: object) -> Response:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    status = status_for(exc)
    if status == 500:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal server error")
    if isinstance(exc, dw.DicomWebError | app.AppError):
        message = exc.message
    else:
        message = f"not found: {exc}"
    if isinstance(exc, dw.NotAcceptable) and exc.available:  # PS3.18 §8.5: list the available media types
        return error_response(status, message, available=list(exc.available))
    if isinstance(exc, app.InvalidInput) and exc.problems:
        return error_response(status, message, problems=exc.problems)
    if isinstance(exc, app.StateConflict) and exc.current_state:
        return error_response(status, message, state=exc.current_state)
    response = error_response(status, message)
    response.headers.update(auth_headers(exc))
    if isinstance(exc, app.RequestTimeout | app.PayloadTooLarge):
        response.headers["Connection"] = "close"  # the rest of the body is not read: end the connection
    return response


def auth_headers(exc: Exception) -> dict[str, str]:
    """Headers an authentication refusal carries (RFC 6750 §3, RFC 6585 §4)."""
    if isinstance(exc, app.Unauthenticated):
        return {"WWW-Authenticate": 'Bearer realm="cirrus"'}
    if isinstance(exc, app.TooManyAttempts):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def app_error_response(exc: app.AppError) -> Response:
    """The answer to an application error raised outside the routes (the authentication middleware)."""
    response = error_response(status_for(exc), exc.message)
    response.headers.update(auth_headers(exc))
    return response


def route_templates(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, frozenset[str]]]:
    """(path template, methods) of every HTTP route, mounts walked (what the 405 Allow is built from)."""
    out: list[tuple[str, frozenset[str]]] = []
    for route in routes:
        if isinstance(route, Mount):
            out += route_templates(list(route.routes), prefix + route.path)
        elif isinstance(route, Route) and route.methods:
            out.append((prefix + route.path, frozenset(route.methods)))
    return out


def websocket_templates(routes: list[BaseRoute], prefix: str = "") -> list[str]:
    """Path templates of every WebSocket route, mounts walked (listed in the capabilities document)."""
    out: list[str] = []
    for route in routes:
        if isinstance(route, Mount):
            out += websocket_templates(list(route.routes), prefix + route.path)
        elif isinstance(route, WebSocketRoute):
            out.append(prefix + route.path)
    return out


def method_table(request: Request) -> MethodTable:
    """The app's whole route table as a :class:`MethodTable`, built once per app."""
    table = getattr(request.app.state, "method_table", None)
    if table is None:
        table = MethodTable.build(route_templates(list(request.app.routes)))
        request.app.state.method_table = table
    return table  # type: ignore[no-any-return]


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # PS3.18 §8.5 / RFC 7231 §6.5.5: every method of the resource, not only the first route's.
        allow = method_table(request).allow_header(request.url.path)
        if allow:
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"} | {"Allow": allow}
    return JSONResponse(
        {"error": exc.detail, "status": exc.status_code}, status_code=exc.status_code, headers=headers
    )


EXCEPTION_HANDLERS = {
    dw.DicomWebError: handle_domain_error,
    app.AppError: handle_domain_error,
    BlobNotFound: handle_domain_error,
    HTTPException: handle_http_exception,
}


class CatchAllMiddleware:
    """Turn any escaped exception into a 500 *inside* the CORS layer.

    Starlette's own 500 handler sits outside user middleware, so without this
    an internal error would reach a browser with no CORS headers.
    """

    def __init__(self, app):  # type: ignore[no-untyped-def]
        self.app = app

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message):  # type: ignore[no-untyped-def]
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = error_response(500, "internal server error")
            await response(scope, receive, send)
