"""Per-client concurrency and rate limits on expensive routes (rendering, transcoded frames, uploads, sign-in).

Two counts per (kind, client): requests in progress, and requests started in the current fixed window
(``RATE_WINDOW_SECONDS``). The client is the caller's principal (its user, API token or share link),
or the client address for a request that carries none (sign-in always counts by address). A request
over either limit is refused at once with 429, ``Retry-After`` and a message naming the setting
(``ConcurrencyLimited``, ``RateLimited``); it never queues, so one client cannot hold the worker pool
or the disk while the others wait.

Where the counts live (``limiter_for``):

- SQLite (the embedded default, one host): in this process (``LocalLimiter``). With several HTTP
  workers each has its own counts, so a client may reach N × the limit.
- PostgreSQL (N API processes behind a load balancer): in the database (``server.db.client_limits``),
  shared by every process; a crashed process's slots are given back by the first sweep after its
  process lease (``server.db.lease``) dies.

``ClientLimitMiddleware`` holds a slot for rendered, thumbnail and WADO-URI requests, uploads and
sign-ins until their response ends (streamed bodies included); the frame route takes one itself,
only when the request is transcoded (``hold``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from server import errors
from server.app_errors import TooManyAttempts
from server.auth.principal import Principal
from server.settings import Settings

RENDER = "render"
TRANSCODE = "transcode"
UPLOAD = "upload"
LOGIN = "login"
KINDS = (RENDER, TRANSCODE, UPLOAD, LOGIN)
LABELS = {RENDER: "rendered images", TRANSCODE: "transcoded frames", UPLOAD: "uploads", LOGIN: "sign-ins"}
CONCURRENCY_SETTINGS = {RENDER: "CIRRUS_MAX_CONCURRENT_RENDERS", TRANSCODE: "CIRRUS_MAX_CONCURRENT_TRANSCODES",
                        UPLOAD: "CIRRUS_MAX_CONCURRENT_UPLOADS", LOGIN: "CIRRUS_MAX_CONCURRENT_LOGINS"}
RATE_SETTINGS = {RENDER: "CIRRUS_RENDERS_PER_MINUTE", TRANSCODE: "CIRRUS_TRANSCODES_PER_MINUTE",
                 UPLOAD: "CIRRUS_UPLOADS_PER_MINUTE", LOGIN: "CIRRUS_LOGINS_PER_MINUTE"}
RATE_WINDOW_SECONDS = 60

_RENDER_PATH = re.compile(r"/dicom-web/studies/.+/(rendered|thumbnail)|/wado")
_UPLOAD_PATH = re.compile(r"/api/uploads(/stream)?")
_LOGIN_PATH = "/api/auth/login"

Clock = Callable[[], float]


class ConcurrencyLimited(TooManyAttempts):
    """A client has as many requests of a kind in progress as its limit allows (429, Retry-After)."""


class RateLimited(TooManyAttempts):
    """A client has started as many requests of a kind in this window as its limit allows (429)."""


@dataclass(frozen=True)
class Limits:
    concurrency: dict[str, int]  # per kind; 0 means no limit
    per_minute: dict[str, int] = field(default_factory=dict)  # per kind; 0 means no limit
    retry_after: int = 1  # of a concurrency refusal

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            {RENDER: settings.max_concurrent_renders, TRANSCODE: settings.max_concurrent_transcodes,
             UPLOAD: settings.max_concurrent_uploads, LOGIN: settings.max_concurrent_logins},
            {RENDER: settings.renders_per_minute, TRANSCODE: settings.transcodes_per_minute,
             UPLOAD: settings.uploads_per_minute, LOGIN: settings.logins_per_minute},
            retry_after=settings.concurrency_retry_after_seconds,
        )

    def concurrency_refusal(self, kind: str) -> ConcurrencyLimited:
        limit = self.concurrency.get(kind, 0)
        return ConcurrencyLimited(
            f"too many {LABELS.get(kind, kind)} in progress for this client: the limit is {limit} at a time "
            f"({CONCURRENCY_SETTINGS.get(kind, kind)}); retry when one has finished", self.retry_after)

    def rate_refusal(self, kind: str, window_end: float, now: float) -> RateLimited:
        limit = self.per_minute.get(kind, 0)
        return RateLimited(
            f"too many {LABELS.get(kind, kind)} from this client: the limit is {limit} per minute "
            f"({RATE_SETTINGS.get(kind, kind)}); retry after the window ends", max(1, math.ceil(window_end - now)))

    def window_of(self, now: float) -> int:
        """The start (epoch seconds) of the fixed window ``now`` falls in."""
        return int(now // RATE_WINDOW_SECONDS) * RATE_WINDOW_SECONDS


class ClientLimiter(Protocol):
    limits: Limits

    async def acquire(self, kind: str, key: str) -> None:
        """Count one request of ``kind`` for ``key``; raises ``RateLimited`` / ``ConcurrencyLimited``."""

    async def release(self, kind: str, key: str) -> None:
        """The request has ended: give its slot back."""

    async def in_progress(self, kind: str, key: str) -> int:
        """Requests of ``kind`` this client has in progress (all processes where the counts are shared)."""

    async def start(self) -> None:
        """With the server: background upkeep, if any."""

    async def stop(self) -> None:
        """With the server: give back what this process holds."""


@asynccontextmanager
async def hold(limiter: ClientLimiter, kind: str, key: str) -> AsyncIterator[None]:
    await limiter.acquire(kind, key)
    try:
        yield
    finally:
        await limiter.release(kind, key)


class LocalLimiter:
    """The counts in this process (SQLite; tests of the rules themselves)."""

    # Windows of clients that stopped asking are forgotten once this many are remembered.
    MAX_WINDOWS = 10_000

    def __init__(self, limits: Limits, clock: Clock = time.time) -> None:
        self.limits = limits
        self.clock = clock
        self._in_progress: dict[tuple[str, str], int] = {}
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}  # (kind, key) → (window start, count)

    async def in_progress(self, kind: str, key: str) -> int:
        return self._in_progress.get((kind, key), 0)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self._in_progress.clear()

    def _count_rate(self, kind: str, key: str) -> None:
        per_minute = self.limits.per_minute.get(kind, 0)
        if not per_minute:
            return
        now = self.clock()
        window = self.limits.window_of(now)
        start, count = self._windows.get((kind, key), (window, 0))
        count = count + 1 if start == window else 1
        if len(self._windows) >= self.MAX_WINDOWS and (kind, key) not in self._windows:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        self._windows[(kind, key)] = (window, count)
        if count > per_minute:
            raise self.limits.rate_refusal(kind, window + RATE_WINDOW_SECONDS, now)

    async def acquire(self, kind: str, key: str) -> None:
        self._count_rate(kind, key)
        limit = self.limits.concurrency.get(kind, 0)
        slot = (kind, key)
        held = self._in_progress.get(slot, 0)
        if limit and held >= limit:
            raise self.limits.concurrency_refusal(kind)
        self._in_progress[slot] = held + 1

    async def release(self, kind: str, key: str) -> None:
        slot = (kind, key)
        left = self._in_progress.get(slot, 0) - 1
        if left > 0:
            self._in_progress[slot] = left
        else:
            self._in_progress.pop(slot, None)


def client_key(principal: Any, address: str) -> str:
    """Who a slot belongs to: the principal's account, token or share link; else the address."""
    if isinstance(principal, Principal):
        if principal.share_id is not None:
            return f"share:{principal.share_id}"
        if principal.token_id is not None:
            return f"token:{principal.token_id}"
        if principal.user_id is not None:
            return f"user:{principal.user_id}"
        return f"{principal.method.value}:{principal.institution_id}:{principal.username}"[:200]
    return f"addr:{address}"


def kind_of(method: str, path: str) -> str | None:
    if method in ("GET", "HEAD") and _RENDER_PATH.fullmatch(path):
        return RENDER
    if method in ("POST", "PUT") and _UPLOAD_PATH.fullmatch(path):
        return UPLOAD
    if method == "POST" and path == _LOGIN_PATH:
        return LOGIN
    return None


def scope_key(scope: Scope, kind: str = "") -> str:
    client = scope.get("client")
    address = client[0] if client else ""
    # A sign-in is counted by where it comes from: whoever it claims to be is not known yet.
    return client_key(None if kind == LOGIN else scope.get("principal"), address)


class ClientLimitMiddleware:
    """After authentication: holds a slot of the request's kind until its response has been sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = kind_of(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        limiter: ClientLimiter = scope["app"].state.limiter
        key = scope_key(scope, kind)
        try:
            await limiter.acquire(kind, key)
        except TooManyAttempts as exc:
            await errors.app_error_response(exc)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            await limiter.release(kind, key)
