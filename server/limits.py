"""Per-client concurrency limits on expensive routes (rendering, transcoded frames, uploads).

One small in-process limiter: a count of requests in progress per (kind, client). The client is
the caller's principal (its user, API token or share link), or the client address for a request
that carries none. A request over its kind's limit is refused at once with 429, ``Retry-After``
and a message naming the limit (``ConcurrencyLimited``); it never queues, so one client cannot
hold the worker pool or the disk while the others wait.

``ConcurrencyLimitMiddleware`` holds a slot for rendered, thumbnail and WADO-URI requests and for
uploads until their response ends (streamed bodies included); the frame route takes one itself, only
when the request is transcoded (``hold``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from server import errors
from server.app_errors import TooManyAttempts
from server.auth.principal import Principal
from server.settings import Settings

RENDER = "render"
TRANSCODE = "transcode"
UPLOAD = "upload"
LABELS = {RENDER: "rendered images", TRANSCODE: "transcoded frames", UPLOAD: "uploads"}

_RENDER_PATH = re.compile(r"/dicom-web/studies/.+/(rendered|thumbnail)|/wado")
_UPLOAD_PATH = re.compile(r"/api/uploads(/stream)?")


class ConcurrencyLimited(TooManyAttempts):
    """A client has as many requests of a kind in progress as its limit allows (429, Retry-After)."""


def client_key(principal: Any, address: str) -> str:
    """Who a slot belongs to: the principal's account, token or share link; else the address."""
    if isinstance(principal, Principal):
        if principal.share_id is not None:
            return f"share:{principal.share_id}"
        if principal.token_id is not None:
            return f"token:{principal.token_id}"
        if principal.user_id is not None:
            return f"user:{principal.user_id}"
        return f"{principal.method.value}:{principal.institution_id}:{principal.username}"
    return f"addr:{address}"


class ConcurrencyLimiter:
    def __init__(self, limits: dict[str, int], retry_after: int = 1) -> None:
        self.limits = limits  # 0 means no limit for that kind
        self.retry_after = retry_after
        self._in_progress: dict[tuple[str, str], int] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> ConcurrencyLimiter:
        return cls(
            {RENDER: settings.max_concurrent_renders, TRANSCODE: settings.max_concurrent_transcodes,
             UPLOAD: settings.max_concurrent_uploads},
            retry_after=settings.concurrency_retry_after_seconds,
        )

    def in_progress(self, kind: str, key: str) -> int:
        return self._in_progress.get((kind, key), 0)

    def acquire(self, kind: str, key: str) -> None:
        limit = self.limits.get(kind, 0)
        slot = (kind, key)
        held = self._in_progress.get(slot, 0)
        if limit and held >= limit:
            raise ConcurrencyLimited(
                f"too many {LABELS.get(kind, kind)} in progress for this client: the limit is {limit} at a time "
                f"(CIRRUS_MAX_CONCURRENT_{kind.upper()}S); retry when one has finished", self.retry_after)
        self._in_progress[slot] = held + 1

    def release(self, kind: str, key: str) -> None:
        slot = (kind, key)
        left = self._in_progress.get(slot, 0) - 1
        if left > 0:
            self._in_progress[slot] = left
        else:
            self._in_progress.pop(slot, None)

    @asynccontextmanager
    async def hold(self, kind: str, key: str) -> AsyncIterator[None]:
        self.acquire(kind, key)
        try:
            yield
        finally:
            self.release(kind, key)


def kind_of(method: str, path: str) -> str | None:
    if method in ("GET", "HEAD") and _RENDER_PATH.fullmatch(path):
        return RENDER
    if method in ("POST", "PUT") and _UPLOAD_PATH.fullmatch(path):
        return UPLOAD
    return None


def scope_key(scope: Scope) -> str:
    client = scope.get("client")
    return client_key(scope.get("principal"), client[0] if client else "")


class ConcurrencyLimitMiddleware:
    """After authentication: holds a slot of the request's kind until its response has been sent."""

    def __init__(self, app: ASGIApp, limiter: ConcurrencyLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = kind_of(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        key = scope_key(scope)
        try:
            self.limiter.acquire(kind, key)
        except ConcurrencyLimited as exc:
            await errors.app_error_response(exc)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limiter.release(kind, key)
