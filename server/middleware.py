"""ASGI middleware of the HTTP layer that is not about errors: request-body timeouts, forwarded
headers from trusted proxies only, security headers.

A client that opens a request and then sends its body slowly (or not at all) would hold a
connection, a spool file and a worker's memory for ever; each ``receive`` of a body chunk waits at
most ``body_timeout_seconds``, then the request fails with 408 (``RequestTimeout``).
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any
from urllib.parse import parse_qsl

from dicomweb.charset import choose_charset
from dicomweb.media import parse_accept
from server.app_errors import RequestTimeout


class BodyTimeoutMiddleware:
    def __init__(self, app: Any, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def timed_receive() -> Any:
            nonlocal body_done
            if body_done:
                return await receive()  # after the body: waits for the disconnect, no deadline
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                raise RequestTimeout(
                    f"the request body stalled: nothing received for {self.timeout:g} seconds"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed_receive, send)


def trusted(peer: str | None, proxies: list[str]) -> bool:
    """Whether ``peer`` (an IP address) is one of ``proxies`` (addresses, CIDR networks or ``*``)."""
    if not proxies or peer is None:
        return False
    if "*" in proxies:
        return True
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer in proxies  # a non-IP peer name (a test client, a unix socket)
    for entry in proxies:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


class ProxyHeadersMiddleware:
    """Honour ``Forwarded`` / ``X-Forwarded-*`` only from the configured proxies.

    From a trusted peer, the client address and scheme come from the forwarded headers and
    ``scope["cirrus.trusted_proxy"]`` tells ``server.http.public_base`` it may use the forwarded
    host and prefix; from anyone else they are ignored (a forged host cannot steer BulkDataURIs).
    """

    def __init__(self, app: Any, proxies: list[str]) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            is_trusted = trusted(client[0] if client else None, self.proxies)
            scope["cirrus.trusted_proxy"] = is_trusted
            if is_trusted:
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
                proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto
                forwarded_for = headers.get("x-forwarded-for", "").split(",")[0].strip()
                if forwarded_for:
                    scope["client"] = (forwarded_for, 0)
        await self.app(scope, receive, send)


APP_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self' blob: data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
APP_TYPES = (b"text/html", b"text/javascript", b"application/javascript")


class SecurityHeadersMiddleware:
    """Security headers on every answer: CSP (the app's policy for HTML, deny-all for the rest),
    no framing, no MIME sniffing, no referrer to other sites, HSTS when the request came over TLS."""

    def __init__(self, app: Any, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = self.hsts or scope.get("scheme") == "https"

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                extra = {
                    b"x-content-type-options": b"nosniff",
                    b"x-frame-options": b"DENY",
                    b"referrer-policy": b"same-origin",
                    # Documents and scripts (web workers take their policy from their own script) get
                    # the app's policy; data answers a deny-all one.
                    b"content-security-policy": (APP_CSP if content_type.startswith(APP_TYPES) else API_CSP
                                                 ).encode(),
                }
                if tls:
                    extra[b"strict-transport-security"] = b"max-age=31536000"
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class CharsetMiddleware:
    """PS3.18 §8.8 on the DICOMweb routes: ``Accept-Charset``, the ``charset`` query parameter, or
    Accept media ranges whose ``charset`` parameters all exclude UTF-8 are answered 406 naming what
    was asked (``dicomweb.charset``). Answers stay unlabelled JSON (RFC 8259 defines no charset
    parameter for JSON, and dicomweb-client compares the STOW answer's Content-Type exactly)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            query = [v for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                                             keep_blank_values=True) if k.lower() == "charset"]
            ranges = parse_accept(headers[b"accept"]) if b"accept" in headers else []
            choose_charset(headers.get(b"accept-charset"), query, [r.charset for r in ranges])
        await self.app(scope, receive, send)
