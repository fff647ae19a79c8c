"""``cirrus serve``: run the HTTP server (embedded default: SQLite + files).

Without ``--workers`` (or ``CIRRUS_HTTP_WORKERS``) it runs one HTTP worker process per CPU core:
the app keeps no state of its own between requests (caches are per process and only hold
immutable data or data re-validated against the index), so N processes answer as one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import timedelta

import uvicorn

from server.app import create_app
from server.auth import open_lab
from server.auth.accounts import ensure_first_admin
from server.commands.common import add_data_dir, settings_from
from server.context import open_context
from server.db.migrate import upgrade
from server.services.sweep import sweep_orphans
from server.settings import Settings


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help=help_text)
    p.add_argument("--host", help="bind address (default: $CIRRUS_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: $CIRRUS_PORT or 8080)")
    p.add_argument(
        "--workers", type=int, help="HTTP worker processes (default: $CIRRUS_HTTP_WORKERS, else one per CPU core)"
    )
    p.add_argument("--migrate", action="store_true", help="upgrade the schema before serving")
    p.add_argument("--certfile", help="TLS certificate (PEM): serve HTTPS without a proxy ($CIRRUS_CERTFILE)")
    p.add_argument("--keyfile", help="TLS private key (PEM) for --certfile ($CIRRUS_KEYFILE)")
    add_data_dir(p)
    p.set_defaults(func=run)


async def _sweep_alone(settings: Settings) -> None:
    """Before any worker starts: the default institution and the first admin (no start-up race
    between workers; its generated password printed once, here) and, on SQLite, removal of
    half-stored instances (no process can be mid-write now)."""
    async with open_context(settings) as ctx:
        await ensure_first_admin(ctx)
        if ctx.engine.dialect.name == "sqlite":
            await sweep_orphans(ctx, grace=timedelta(0))


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if args.migrate:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.resolved_database_url)
    if args.certfile:
        settings.certfile = args.certfile
    if args.keyfile:
        settings.keyfile = args.keyfile
    if settings.access_control_off and (refusal := open_lab.refusal_to_serve(settings.host)):
        raise SystemExit(refusal)
    if bool(settings.certfile) != bool(settings.keyfile):
        raise SystemExit("cirrus serve: --certfile and --keyfile go together")
    settings.http_workers = args.workers or settings.resolved_http_workers
    server_options = uvicorn_options(settings)
    if settings.http_workers > 1:
        # On SQLite this host's processes are the only writers: sweep once here, at once, so a
        # resend after a crash succeeds; the workers then only sweep what is old (see sweep_orphans).
        asyncio.run(_sweep_alone(settings))
        # Worker processes build their own app from the environment: hand the resolved settings over.
        os.environ.update({
            "CIRRUS_DATA_DIR": str(settings.data_dir),
            "CIRRUS_HTTP_WORKERS": str(settings.http_workers),
            "CIRRUS_CERTFILE": settings.certfile,
            "CIRRUS_KEYFILE": settings.keyfile,
        })
        uvicorn.run("server.app:create_app", factory=True, workers=settings.http_workers, **server_options)
        return 0
    app = create_app(settings)
    uvicorn.run(app, **server_options)
    return 0


HEALTHCHECK_SECONDS = 30


def uvicorn_options(settings: Settings) -> dict[str, object]:
    """Listening address, TLS and the connection-level limits of uvicorn (see README, Hard limits)."""
    options: dict[str, object] = {
        "host": settings.host, "port": settings.port, "log_level": "info", "access_log": False,
        "timeout_keep_alive": settings.keep_alive_seconds,
        # With several HTTP workers uvicorn's supervisor kills a worker that does not answer its ping
        # within this many seconds (default 5). On a loaded machine a busy worker's pong thread can miss
        # that (it needs the GIL), and the kill resets every connection the worker holds: browsers then
        # see network errors (suspected cause of the viewer's failed codec .wasm downloads under load).
        "timeout_worker_healthcheck": HEALTHCHECK_SECONDS,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        # Forwarded headers are judged by the app (server.middleware.ProxyHeadersMiddleware).
        "proxy_headers": False,
    }
    if settings.certfile:
        options.update(ssl_certfile=settings.certfile, ssl_keyfile=settings.keyfile)
    return options
