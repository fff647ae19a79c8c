"""``cirrus ae``: the DIMSE AE table (calling AEs allowed and their institution, C-MOVE destinations)."""

from __future__ import annotations

import argparse
import asyncio

from server.app_errors import AppError
from server.commands.common import add_data_dir, settings_from
from server.context import open_context
from server.dimse.ae_table import add_ae, list_aes, remove_ae


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ae", help=help_text)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    add = verbs.add_parser("add", help="add (or replace) a remote AE")
    add.add_argument("title", help="the remote AE title (1-16 characters)")
    add.add_argument("--institution", help="owning institution by name (default: $CIRRUS_INSTITUTION)")
    add.add_argument("--host", help="host of a C-MOVE destination")
    add.add_argument("--port", type=int, help="port of a C-MOVE destination")
    add.add_argument("--no-calls", action="store_true",
                     help="only a C-MOVE destination: associations it requests are rejected")
    add.add_argument("--max-associations", type=int, default=0,
                     help="concurrent associations it may hold (0: no limit of its own)")
    add.add_argument("--description", default="", help="free text shown by `cirrus ae list`")
    verbs.add_parser("list", help="list the AE table")
    rm = verbs.add_parser("remove", help="remove a remote AE")
    rm.add_argument("title")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def main() -> int:
        async with open_context(settings) as ctx:
            if args.verb == "add":
                entry = await add_ae(
                    ctx, args.title, institution=args.institution or settings.institution,
                    accepts_calls=not args.no_calls, host=args.host, port=args.port,
                    max_associations=args.max_associations, description=args.description,
                )
                print(f"added {entry.ae_title} ({entry.institution})")
            elif args.verb == "remove":
                await remove_ae(ctx, args.title)
                print(f"removed {args.title.strip()}")
            else:
                print(f"{'AE title':<16}  {'institution':<24}  {'calls':<5}  {'destination':<28}  max")
                for e in await list_aes(ctx):
                    dest = f"{e.host}:{e.port}" if e.is_destination else "-"
                    print(f"{e.ae_title:<16}  {e.institution:<24}  {'yes' if e.accepts_calls else 'no':<5}  "
                          f"{dest:<28}  {e.max_associations or '-'}")
        return 0

    try:
        return asyncio.run(main())
    except AppError as exc:
        print(f"cirrus ae: {exc.message}")
        return 2
