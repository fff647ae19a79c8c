"""``cirrus worker``: run analysis workers against the shared database and object store."""

from __future__ import annotations

import argparse

from server.commands.common import add_data_dir, settings_from


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("worker", help="run analysis workers (separate from the API processes)")
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
    import asyncio
    import signal

    settings = settings_from(args)

    async def main() -> None:
        from server.context import open_context

        async with open_context(settings) as ctx:
            await serve_until_stopped(ctx)

    async def serve_until_stopped(ctx) -> None:  # type: ignore[no-untyped-def]
        from server.workflow.runtime import start_background, stop_background

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await start_background(
            ctx,
            max(1, args.concurrency),
            lease_seconds=args.lease,
            poll_seconds=args.poll,
            run_detector=not args.no_detector,
        )
        print(f"cirrus worker: {args.concurrency} worker(s), lease {args.lease:g} s", flush=True)
        try:
            await stop.wait()
        finally:
            await stop_background(ctx)

    asyncio.run(main())
    return 0
