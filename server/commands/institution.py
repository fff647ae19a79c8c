"""``cirrus institution``: create and list the institutions (hospitals) of the alliance."""

from __future__ import annotations

import argparse
import asyncio

from server.app_errors import AppError
from server.auth import accounts
from server.commands.common import add_data_dir, settings_from
from server.context import open_context


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("institution", help=help_text)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    create = verbs.add_parser("create", help="create an institution")
    create.add_argument("name")
    create.add_argument("--parent", type=int, help="id of its superior institution (the hospital reading for it)")
    verbs.add_parser("list", help="list institutions")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def main() -> int:
        async with open_context(settings) as ctx:
            if args.verb == "create":
                inst = await accounts.create_institution(ctx, None, args.name, args.parent)
                print(f"created institution {inst.name} (id {inst.id})")
            else:
                print(f"{'id':>4}  {'name':<32}  parent")
                for inst in await accounts.list_institutions(ctx, None):
                    print(f"{inst.id:>4}  {inst.name:<32}  {inst.parent_id if inst.parent_id is not None else '-'}")
        return 0

    try:
        return asyncio.run(main())
    except AppError as exc:
        print(f"cirrus institution: {exc.message}")
        return 2
