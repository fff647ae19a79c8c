"""HTTP helpers shared by the routes: the public base URL behind proxies, path UIDs, JSON responses."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from dicomweb.errors import BadRequest
from dicomweb.uids import uid_problem
from server.app_errors import Unauthenticated
from server.auth.principal import Principal
from server.context import AppContext

DICOM_JSON = "application/dicom+json"


def ctx_of(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def principal_of(request: Request) -> Principal:
    """The caller, as resolved once by the authentication middleware (``scope["principal"]``).

    Routes pass it to the services, which put the tenant rule into their SQL. ``create_app``
    always installs the middleware (``server.auth.middleware``), which refuses unauthenticated
    requests before any non-public route runs; there is no fallback (DIMSE and the workers build
    their own principals and never come here).
    """
    found = request.scope.get("principal")
    if isinstance(found, Principal):
        return found
    raise Unauthenticated("sign in, or send an API token (Authorization: Bearer)")


def _forwarded(header: str) -> dict[str, str]:
    """First element of an RFC 7239 ``Forwarded`` header as a dict."""
    first = header.split(",")[0]
    out = {}
    for pair in first.split(";"):
        k, _, v = pair.partition("=")
        if k.strip():
            out[k.strip().lower()] = v.strip().strip('"')
    return out


def public_base(request: Request) -> str:
    """Absolute base URL of the server as the client sees it, without a trailing slash.

    Order: CIRRUS_PUBLIC_URL, ``Forwarded``, ``X-Forwarded-Proto/Host/Prefix`` (only from a trusted
    proxy, ``CIRRUS_TRUSTED_PROXIES``), the request (its Host header is checked against
    ``CIRRUS_ALLOWED_HOSTS`` when that is set).
    """
    settings = ctx_of(request).settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    h = request.headers
    if not request.scope.get("cirrus.trusted_proxy", False):
        # Forwarded headers from anyone but a configured proxy are ignored (server.middleware).
        return f"{request.url.scheme}://{h.get('host') or request.url.netloc}"
    proto = host = None
    prefix = h.get("x-forwarded-prefix", "").rstrip("/")
    if "forwarded" in h:
        fwd = _forwarded(h["forwarded"])
        proto, host = fwd.get("proto"), fwd.get("host")
    proto = proto or h.get("x-forwarded-proto", "").split(",")[0].strip() or request.url.scheme
    host = host or h.get("x-forwarded-host", "").split(",")[0].strip() or h.get("host") or request.url.netloc
    return f"{proto}://{host}{prefix}"


def dicomweb_base(request: Request) -> str:
    """Base of DICOMweb resources with a trailing slash, e.g. ``https://h/dicom-web/``."""
    return public_base(request) + "/dicom-web/"


def content_location(request: Request) -> str:
    """The URL of the resource an answer represents, as the client sees it (PS3.18 §8.4.2)."""
    query = request.url.query
    return public_base(request) + request.url.path + (f"?{query}" if query else "")


def path_uids(request: Request) -> tuple[str, str | None, str | None]:
    """(study, series, instance) UIDs from the path, each validated (400 naming the bad one)."""
    p = request.path_params
    for name in ("study", "series", "instance"):
        if name in p and uid_problem(p[name]):
            raise BadRequest(f"{name} UID in the URL is {uid_problem(p[name])}")
    return p["study"], p.get("series"), p.get("instance")


def json_response(data: Any, status: int = 200, media_type: str = DICOM_JSON,
                  headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=media_type, headers=headers)
