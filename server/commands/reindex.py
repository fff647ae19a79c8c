"""``cirrus reindex``: backfill the QIDO-RS attribute rows of instances stored before the index's
attribute lists changed (``server/services/reindex.py``). Safe to run on a live database, and again."""

from __future__ import annotations

import argparse
import asyncio

from server.commands.common import add_data_dir, settings_from
from server.context import open_context
from server.services.reindex import reindex


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("reindex", help=help_text)
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def main() -> str:
        async with open_context(settings) as ctx:
            return str(await reindex(ctx))

    print(asyncio.run(main()))
    return 0
