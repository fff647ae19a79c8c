"""Application factory: settings in, a Starlette app out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Mount, Route

from server import errors
from server.auth.accounts import ensure_first_admin
from server.auth.middleware import Authenticator, AuthMiddleware
from server.auth.open_lab import OpenLabMiddleware
from server.context import open_context
from server.limits import ClientLimitMiddleware, Limits, LocalLimiter, limiter_for
from server.middleware import (
    BodyTimeoutMiddleware,
    CharsetMiddleware,
    ProxyHeadersMiddleware,
    SecurityHeadersMiddleware,
)
from server.routes import (
    accounts,
    api,
    api_dce,
    api_presets,
    audit,
    measurements,
    pull,
    qido,
    reading,
    rendered,
    shares,
    spa,
    stow,
    wado,
    workitems,
)
from server.routes.audit_record import AuditMiddleware
from server.services.audit import AuditWriter, ingest_listener
from server.services.sweep import sweep_orphans
from server.settings import Settings
from server.shares.middleware import ShareGuardMiddleware
from server.workflow import job_workitems, workitem_events
from server.workflow import workitems as workitem_service
from server.workflow.background import AnalysisBackground, analysis_host

log = logging.getLogger("cirrus")

# Pixel data and DICOM objects are large and mostly incompressible: gzip JSON only.
GZIP_EXCLUDED = (
    "multipart/related",
    "application/dicom",
    "application/octet-stream",
    "application/pdf",
    "application/zip",
    "text/event-stream",
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/jls",
    "image/jp2",
    "image/jpx",
    "image/dicom-rle",
)

EXPOSED_HEADERS = ["ETag", "Content-Type", "Content-Length", "Content-Location", "Location", "Warning"]


def cors_middleware(origins: list[str]) -> list[Middleware]:
    """CORS for the configured origins: none configured, none sent (same origin only). Listed
    origins may send credentials and change state; ``*`` lets any origin read, never write."""
    if not origins:
        return []
    wildcard = "*" in origins
    return [Middleware(
        CORSMiddleware,
        allow_origins=["*"] if wildcard else origins,
        allow_methods=["GET", "HEAD", "OPTIONS"] if wildcard else ["GET", "POST", "PUT", "PATCH", "DELETE",
                                                                   "OPTIONS", "HEAD"],
        allow_credentials=not wildcard,
        allow_headers=["*"] if wildcard else ["Authorization", "Content-Type", "Accept", "X-CSRF-Token",
                                              "If-None-Match", "Cache-Control"],
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )]


def frontend_dir(settings: Settings) -> Path:
    if settings.static_dir:
        return Path(settings.static_dir)
    return Path(__file__).resolve().parents[1] / "viewer-frontend" / "dist"


def _embedded_scp(ctx, audit):  # type: ignore[no-untyped-def]
    # Imported only when asked for: pynetdicom is not needed by a plain API process.
    from server.dimse.running import running_scp

    return running_scp(ctx, audit)


def _embedded_pull(ctx):  # type: ignore[no-untyped-def]
    from server.pull.running import running_pull

    return running_pull(ctx)


def _access_control(auth: Authenticator, settings: Settings) -> list[Middleware]:
    return [
        # Outside authentication, so refused credentials (401) are audited too.
        Middleware(AuditMiddleware),
        Middleware(errors.CatchAllMiddleware),
        Middleware(BodyTimeoutMiddleware, timeout=settings.body_timeout_seconds),
        # Every request is authenticated before any route runs (server/auth/rules.py: what needs what).
        Middleware(AuthMiddleware, authenticator=auth),
        # A share principal (``Bearer shr_...``) is held to its one study, read-only (server/shares).
        Middleware(ShareGuardMiddleware),
    ]


def _open_lab(settings: Settings) -> list[Middleware]:
    """``CIRRUS_ACCESS_CONTROL_OFF`` (benchmarks, lab): every loopback request is the administrator."""
    log.warning("ACCESS CONTROL IS OFF (CIRRUS_ACCESS_CONTROL_OFF): every request from this machine acts as "
                "the administrator, nothing is audited; for benchmarks and lab use only")
    return [Middleware(errors.CatchAllMiddleware),
            Middleware(BodyTimeoutMiddleware, timeout=settings.body_timeout_seconds), Middleware(OpenLabMiddleware)]


def create_app(settings: Settings | None = None, authenticator: Authenticator | None = None) -> Starlette:
    settings = settings or Settings()
    auth = authenticator or Authenticator(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with analysis_host(settings.data_dir) as host:
            async with open_context(settings) as ctx:
                await sweep_orphans(ctx)
                await ensure_first_admin(ctx)
                # The detector always runs in API processes (they see the ingest); analysis workers
                # only when the embedded default asks for them (``cirrus worker`` runs them apart),
                # and only in one of the HTTP worker processes — as does the embedded DIMSE SCP.
                analysis = AnalysisBackground(ctx, settings.workers if host else 0)
                await analysis.start()
                app.state.ctx = ctx
                # Per-client limits: shared through the database on PostgreSQL (server/db/client_limits.py).
                app.state.limiter = limiter_for(settings, ctx.engine, ctx.lease.key)
                await app.state.limiter.start()
                app.state.audit = AuditWriter(ctx, settings.audit_queue_size, settings.audit_batch_size)
                app.state.audit.start()
                ctx.ingest_listeners.append(ingest_listener)
                # Render workers start beside the server's own start-up, not inside a viewer's first request.
                warming = asyncio.create_task(ctx.renderer.warm()) if settings.render_prewarm else None
                try:
                    embedded = settings.dimse_embedded and host
                    pulling = settings.pull_embedded and host
                    async with _embedded_scp(ctx, app.state.audit) if embedded else contextlib.nullcontext(), \
                            _embedded_pull(ctx) if pulling else contextlib.nullcontext(), \
                            job_workitems.running_reporter(ctx), workitem_events.status_reported(ctx), \
                            workitem_service.running_purge(ctx):
                        yield
                finally:
                    if warming is not None and not warming.done():
                        warming.cancel()
                    await analysis.stop()
                    ctx.ingest_listeners.remove(ingest_listener)
                    await app.state.audit.stop()
                    await app.state.limiter.stop()

    dicomweb_routes = [*stow.routes, *qido.routes, *rendered.routes, *wado.routes, *workitems.routes]
    routes = [
        Route("/dicom-web", wado.capabilities, methods=["GET", "OPTIONS"],
              middleware=[Middleware(CharsetMiddleware)]),
        Mount("/dicom-web", routes=dicomweb_routes, middleware=[Middleware(CharsetMiddleware)]),
        Mount("/api/reading", routes=reading.routes),
        *audit.routes,
        Mount("/api", routes=[*accounts.routes, *shares.routes, *pull.routes, *api.routes, *api_dce.routes,
                               *api_presets.routes, *measurements.routes]),
        *rendered.uri_routes,
        *spa.routes(frontend_dir(settings)),
    ]
    middleware = [
        # Client address and scheme from trusted proxies only, first: lockouts and the audit log use them.
        Middleware(ProxyHeadersMiddleware, proxies=settings.trusted_proxy_list),
        Middleware(SecurityHeadersMiddleware, hsts=settings.public_url.startswith("https:")),
        *([Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_host_list)]
          if settings.allowed_host_list else []),
        *cors_middleware(settings.cors_origin_list),
        *(_open_lab(settings) if settings.access_control_off else _access_control(auth, settings)),
        # Per-client concurrency and rate of rendering, uploads and sign-ins (server/limits.py); after
        # auth: keyed by principal.
        Middleware(ClientLimitMiddleware),
        Middleware(GZipMiddleware, minimum_size=1024, exclude_content_types=GZIP_EXCLUDED),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=errors.EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.auth = auth
    app.state.limiter = LocalLimiter(Limits.from_settings(settings))  # until the lifespan has the database
    return app
