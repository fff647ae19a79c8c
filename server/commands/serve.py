"""``cirrus serve``: run the HTTP server (embedded default: SQLite + files)."""

from __future__ import annotations

import argparse
import os

import uvicorn

from server.app import create_app
from server.commands.common import add_data_dir, settings_from
from server.db.migrate import upgrade


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help=help_text)
    p.add_argument("--host", help="bind address (default: $CIRRUS_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: $CIRRUS_PORT or 8080)")
    p.add_argument("--workers", type=int, help="HTTP worker processes (default: $CIRRUS_HTTP_WORKERS or 1)")
    p.add_argument("--migrate", action="store_true", help="upgrade the schema before serving")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if args.migrate:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.resolved_database_url)
    if args.workers:
        settings.http_workers = args.workers
    if settings.http_workers > 1:
        # Worker processes build their own app from the environment: hand the resolved settings over.
        os.environ.update({
            "CIRRUS_DATA_DIR": str(settings.data_dir),
            "CIRRUS_HTTP_WORKERS": str(settings.http_workers),
            # One port cannot serve N processes: run `cirrus dimse` beside them instead.
            "CIRRUS_DIMSE_EMBEDDED": "false",
        })
        uvicorn.run("server.app:create_app", factory=True, host=settings.host, port=settings.port,
                    workers=settings.http_workers, log_level="info", access_log=False)
        return 0
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
    return 0
