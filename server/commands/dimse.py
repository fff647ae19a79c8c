"""``cirrus dimse``: the DICOM SCP as its own process (stateless; several may share a database)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal

from server.commands.common import add_data_dir, settings_from
from server.context import open_context
from server.dimse.running import running_scp


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("dimse", help=help_text)
    p.add_argument("--host", help="bind address (default: $CIRRUS_DIMSE_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: $CIRRUS_DIMSE_PORT or 11112; 0 picks a free one)")
    p.add_argument("--ae", dest="ae_title", help="our AE title (default: $CIRRUS_DIMSE_AE_TITLE or CIRRUS)")
    p.add_argument("--accept-any", action="store_true",
                   help="accept calling AEs missing from the AE table (lab setups; default institution)")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.host:
        settings.dimse_host = args.host
    if args.port is not None:
        settings.dimse_port = args.port
    if args.ae_title:
        settings.dimse_ae_title = args.ae_title
    if args.accept_any:
        settings.dimse_accept_any = True
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)

    async def main() -> None:
        async with open_context(settings) as ctx, running_scp(ctx) as server:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            # pynetdicom's server runs a full gc.collect() every 30 s or so; the objects of start-up
            # (modules, SQLAlchemy metadata, pydicom dictionaries) live as long as the process, so
            # they are moved out of the collector's view and those pauses stay short.
            gc.freeze()
            print(f"cirrus dimse: {settings.dimse_ae_title} on {settings.dimse_host}:{server.port}", flush=True)
            await stop.wait()

    asyncio.run(main())
    return 0
