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

Shared counts (PostgreSQL): ``client_rate`` holds one row per (kind, client), the start of its current
window and the requests counted in it; counting a request is one upsert returning the new count, and
the row stays locked until the transaction ends, which serialises the requests of that one client (no
one else) while it checks its slots in ``client_slot`` (per kind, client and process lease key). The
slots of a process that died (``kill -9``) are found — its advisory lock can be taken — and deleted
when they stand in the way of a request, or by the next sweep of any live process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col
from starlette.types import ASGIApp, Receive, Scope, Send

from server import errors
from server.app_errors import TooManyAttempts
from server.auth.principal import Principal
from server.db.client_limits import ClientRate, ClientSlot
from server.db.lease import holder_alive
from server.settings import Settings

log = logging.getLogger("cirrus.limits")

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
SWEEP_SECONDS = 30.0


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


class SharedLimiter:
    """The counts in PostgreSQL (``server.limits.ClientLimiter``)."""

    def __init__(self, limits: Limits, engine: AsyncEngine, lease_key: int, clock: Clock = time.time) -> None:
        self.limits = limits
        self.engine = engine
        self.lease_key = lease_key
        self.clock = clock
        self._sweeper: asyncio.Task[None] | None = None

    def _limited(self, kind: str) -> tuple[int, int]:
        return self.limits.per_minute.get(kind, 0), self.limits.concurrency.get(kind, 0)

    async def acquire(self, kind: str, key: str) -> None:
        per_minute, concurrency = self._limited(kind)
        if not per_minute and not concurrency:
            return
        now = self.clock()
        window = self.limits.window_of(now)
        counted = pg_insert(ClientRate).values(kind=kind, client=key, window_start=window, count=1)
        same_window = col(ClientRate.window_start) == counted.excluded.window_start
        counted = counted.on_conflict_do_update(
            index_elements=["kind", "client"],
            # the same window: one more; a new window: this is its first request
            set_={"count": case((same_window, col(ClientRate.count) + 1), else_=1),
                  "window_start": counted.excluded.window_start},
        ).returning(col(ClientRate.count))
        refusal: TooManyAttempts | None = None
        async with self.engine.begin() as conn:  # refusals count too: hammering does not get through sooner
            count = (await conn.execute(counted)).scalar_one()
            if per_minute and count > per_minute:
                refusal = self.limits.rate_refusal(kind, window + RATE_WINDOW_SECONDS, now)
            elif concurrency:
                refusal = await self._take_slot(conn, kind, key, concurrency)
        if refusal is not None:
            raise refusal

    async def _take_slot(self, conn: AsyncConnection, kind: str, key: str, concurrency: int) -> TooManyAttempts | None:
        """One more slot of this process, or the refusal (the client's ``client_rate`` row is locked)."""
        slots = (await conn.execute(
            select(col(ClientSlot.lease_key), col(ClientSlot.held))
            .where(col(ClientSlot.kind) == kind, col(ClientSlot.client) == key))).all()
        if sum(h for _, h in slots) >= concurrency:
            # Before refusing: slots of a process that died are not in progress (its lock is free).
            dead = [k for k, h in slots if k != self.lease_key and h > 0 and not await holder_alive(conn, k)]
            if dead:
                await conn.execute(delete(ClientSlot).where(col(ClientSlot.lease_key).in_(dead)))
                log.info("gave back the request slots of %d process(es) that ended", len(dead))
            if sum(h for k, h in slots if k not in dead) >= concurrency:
                return self.limits.concurrency_refusal(kind)
        taken = pg_insert(ClientSlot).values(kind=kind, client=key, lease_key=self.lease_key, held=1)
        await conn.execute(taken.on_conflict_do_update(
            index_elements=["kind", "client", "lease_key"], set_={"held": col(ClientSlot.held) + 1}))
        return None

    async def release(self, kind: str, key: str) -> None:
        if not self.limits.concurrency.get(kind, 0):
            return
        async with self.engine.begin() as conn:
            await conn.execute(update(ClientSlot).where(
                col(ClientSlot.kind) == kind, col(ClientSlot.client) == key,
                col(ClientSlot.lease_key) == self.lease_key, col(ClientSlot.held) > 0,
            ).values(held=col(ClientSlot.held) - 1))

    async def in_progress(self, kind: str, key: str) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(
                select(func.coalesce(func.sum(col(ClientSlot.held)), 0))
                .where(col(ClientSlot.kind) == kind, col(ClientSlot.client) == key))).scalar_one())

    async def sweep(self) -> int:
        """Delete the slots of processes that are gone, empty slots and past windows; the slots deleted."""
        async with self.engine.begin() as conn:
            keys = (await conn.execute(select(col(ClientSlot.lease_key)).distinct()
                                       .where(col(ClientSlot.lease_key) != self.lease_key))).scalars().all()
            dead = [k for k in keys if not await holder_alive(conn, k)]
            gone = 0
            if dead:
                gone = (await conn.execute(delete(ClientSlot).where(col(ClientSlot.lease_key).in_(dead)))).rowcount
                log.info("gave back %d request slot(s) of %d process(es) that ended", gone, len(dead))
            await conn.execute(delete(ClientSlot).where(col(ClientSlot.held) <= 0))
            past = self.limits.window_of(self.clock()) - RATE_WINDOW_SECONDS
            await conn.execute(delete(ClientRate).where(col(ClientRate.window_start) < past))
        return int(gone or 0)

    async def start(self) -> None:
        await self.sweep()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="client-limit-sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        with contextlib.suppress(Exception):  # this process's own slots: nothing of it runs any more
            async with self.engine.begin() as conn:
                await conn.execute(delete(ClientSlot).where(col(ClientSlot.lease_key) == self.lease_key))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception as exc:  # the database is away for a moment: the next sweep tries again
                log.warning("sweeping client limit slots failed: %s", exc)


def limiter_for(settings: Settings, engine: AsyncEngine, lease_key: int | None) -> ClientLimiter:
    """Shared counts on PostgreSQL (unless ``limits_shared=process``), this process's elsewhere."""
    limits = Limits.from_settings(settings)
    shared = settings.limits_shared == "database" or (
        settings.limits_shared == "auto" and engine.dialect.name == "postgresql")
    if shared and engine.dialect.name == "postgresql" and lease_key is not None:
        return SharedLimiter(limits, engine, lease_key)
    return LocalLimiter(limits)


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
