"""``cirrus token``: mint (printed once), list and revoke API tokens."""

from __future__ import annotations

import argparse
import asyncio

from server.app_errors import AppError
from server.auth import accounts, api_tokens
from server.auth.secrets import SCOPE_LEVELS
from server.commands.common import add_data_dir, settings_from
from server.context import open_context


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("token", help=help_text)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    create = verbs.add_parser("create", help="mint a token for a user (printed once, stored hashed)")
    create.add_argument("--user", required=True, help="username")
    create.add_argument("--scope", default="write", choices=list(SCOPE_LEVELS),
                        help="read < stow < write < admin (default: write)")
    create.add_argument("--expires", help="lifetime such as 30d, 12h or 90m (default: no expiry)")
    create.add_argument("--name", default="", help="what it is for (shown in lists)")
    verbs.add_parser("list", help="list tokens (never their secrets)")
    revoke = verbs.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def main() -> int:
        async with open_context(settings) as ctx:
            if args.verb == "create":
                user = await accounts.user_by_name(ctx, args.user)
                expires = api_tokens.expiry_after(args.expires) if args.expires else None
                token, secret = await api_tokens.create_token(ctx, None, int(user.id or 0), scope=args.scope,
                                                              name=args.name, expires_at=expires)
                print(secret)
                print(f"token {token.id} of {user.username} ({args.scope}"
                      f"{', expires ' + expires.isoformat(timespec='minutes') if expires else ''}): shown once")
            elif args.verb == "revoke":
                await api_tokens.revoke_token(ctx, None, args.id)
                print(f"revoked token {args.id}")
            else:
                print(f"{'id':>4}  {'prefix':<12}  {'user':<20}  {'scope':<6}  {'expires':<17}  {'state':<8}  name")
                for t, username in await api_tokens.list_tokens(ctx, None):
                    j = api_tokens.token_json(t, username)
                    state = "revoked" if t.revoked_at else "active"
                    expires = (j["expires_at"] or "-")[:16]
                    print(f"{t.id:>4}  {t.prefix:<12}  {username:<20}  {j['scope']:<6}  {expires:<17}  {state:<8}  "
                          f"{t.name}")
        return 0

    try:
        return asyncio.run(main())
    except AppError as exc:
        print(f"cirrus token: {exc.message}")
        return 2
