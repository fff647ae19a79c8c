"""``cirrus pull``: the PACS pull worker and its C-STORE receiver as their own process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from server.commands.common import add_data_dir, settings_from
from server.context import open_context
from server.pull.running import running_pull
from server.workflow.background import AnalysisBackground


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("pull", help=help_text)
    p.add_argument("--port", type=int, help="receiver port (default: $CIRRUS_PULL_PORT or 11113; 0 picks one)")
    p.add_argument("--ae", dest="ae_title", help="our AE title (default: $CIRRUS_PULL_AE_TITLE or CIRRUS_PULL)")
    p.add_argument("--poll", type=float, help="seconds between polls (default: $CIRRUS_PULL_POLL_SECONDS or 30)")
    p.add_argument("--no-detector", action="store_true",
                   help="do not run the analysis detector here (an API process or `cirrus worker` runs it)")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.port is not None:
        settings.pull_port = args.port
    if args.ae_title:
        settings.pull_ae_title = args.ae_title
    if args.poll:
        settings.pull_poll_seconds = args.poll
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)

    async def main() -> None:
        async with open_context(settings) as ctx:
            # Pulled studies enter the ingest of this process: its detector sees them.
            analysis = AnalysisBackground(ctx, 0, run_detector=not args.no_detector)
            await analysis.start()
            try:
                async with running_pull(ctx) as worker:
                    stop = asyncio.Event()
                    loop = asyncio.get_running_loop()
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        loop.add_signal_handler(sig, stop.set)
                    print(f"cirrus pull: {settings.pull_ae_title} receiving on {settings.pull_host}:"
                          f"{worker.receiver.port}", flush=True)
                    await stop.wait()
            finally:
                await analysis.stop()

    asyncio.run(main())
    return 0
