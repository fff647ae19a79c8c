"""``cirrus worker``: run analysis workers against the shared database and object store."""

from __future__ import annotations

import argparse
import asyncio
import signal

from server.commands.common import add_data_dir, settings_from
from server.context import open_context
from server.workflow.background import AnalysisBackground


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("worker", help=help_text)
    p.add_argument("--concurrency", type=int, default=1, help="jobs run at the same time (default 1)")
    p.add_argument(
        "--lease",
        type=float,
        default=30.0,
        help="lease in seconds; a job whose worker stops heart-beating for this long is queued again",
    )
    p.add_argument("--poll", type=float, default=1.0, help="seconds between queue polls when idle")
    p.add_argument(
        "--no-detector",
        action="store_true",
        help="do not also run the stability detector (API processes run it too)",
    )
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def main() -> None:
        async with open_context(settings) as ctx:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            analysis = AnalysisBackground(
                ctx,
                max(1, args.concurrency),
                lease_seconds=args.lease,
                poll_seconds=args.poll,
                run_detector=not args.no_detector,
            )
            await analysis.start()
            print(f"cirrus worker: {args.concurrency} worker(s), lease {args.lease:g} s", flush=True)
            try:
                await stop.wait()
            finally:
                await analysis.stop()

    asyncio.run(main())
    return 0
