"""``cirrus user``: create users, set passwords, list them (acts as the system: no caller to check)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from server.app_errors import AppError
from server.auth import accounts
from server.auth.principal import Role
from server.commands.common import add_data_dir, settings_from
from server.context import open_context


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("user", help=help_text)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    create = verbs.add_parser("create", help="create a user (the password is asked for, or read from stdin)")
    create.add_argument("name", help="username")
    create.add_argument("--institution", type=int, help="institution id (default: the default institution)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--display-name", default="", help="name shown in the app and on reports")
    create.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    passwd = verbs.add_parser("passwd", help="set a user's password (ends their sessions; unlocks the account)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    verbs.add_parser("list", help="list users")
    add_data_dir(p)
    p.set_defaults(func=run)


def read_password(from_stdin: bool) -> str:
    """From stdin's first line, or asked twice on the terminal (never echoed, never logged)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("cirrus user: the passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    password = read_password(args.password_stdin) if args.verb in ("create", "passwd") else ""

    async def main() -> int:
        async with open_context(settings) as ctx:
            if args.verb == "create":
                view = await accounts.create_user(
                    ctx, None, args.name, password, role=args.role,
                    institution_id=args.institution if args.institution is not None else ctx.institution_id,
                    display_name=args.display_name)
                print(f"created user {view.user.username} (id {view.user.id}, {view.user.role}, "
                      f"{view.institution_name})")
            elif args.verb == "passwd":
                await accounts.set_password(ctx, args.name, password)
                print(f"password of {args.name} changed")
            else:
                print(f"{'id':>4}  {'username':<24}  {'role':<18}  {'institution':<24}  state")
                for v in await accounts.list_users(ctx, None):
                    u = v.user
                    state = "active" if u.active else "inactive"
                    if u.locked_until:
                        state += ", locked"
                    print(f"{u.id:>4}  {u.username:<24}  {u.role:<18}  {v.institution_name:<24}  {state}")
        return 0

    try:
        return asyncio.run(main())
    except AppError as exc:
        print(f"cirrus user: {exc.message}")
        return 2
