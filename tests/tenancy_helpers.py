"""Callers for the tenancy tests, built in ONE place: real accounts and API tokens.

Each caller is a user of the test database with an API token (``tests/auth_helpers.py``, the same
services the routes and the CLI use), sent as ``Authorization: Bearer`` through the real
authentication middleware, so 401 and 403 come from the app itself. A caller without credentials
is ``anon``.

Share principals have no credential of their own until the share links of branch ``shares`` land:
``ShareHeaderResolver`` plugs into the middleware's ordered resolvers (the extension point shares
use) and turns ``x-cirrus-test-share: <institution>,<study uid>`` into the share principal the
share resolver will make. It is the only stand-in here; replace it with a real share token then.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from server.app import create_app
from server.auth.middleware import Authenticator
from server.auth.principal import AuthMethod, Principal, Role, Scope
from server.context import AppContext
from server.settings import Settings
from tests.auth_helpers import bearer, create_user, token_for

SHARE_HEADER = "x-cirrus-test-share"

# name -> (role, institution key, token scope); institution "A", "B" or "default"
CALLERS: dict[str, tuple[Role, str, str]] = {
    "admin": (Role.ADMIN, "default", "admin"),
    "doc_a": (Role.REPORTING_DOCTOR, "A", "write"),
    "ro_a": (Role.READ_ONLY, "A", "read"),
    "doc_b": (Role.REPORTING_DOCTOR, "B", "write"),
    "iadm_b": (Role.INSTITUTION_ADMIN, "B", "admin"),
}


class ShareHeaderResolver:
    """The share principal of a test header (until branch ``shares`` brings real share tokens)."""

    async def __call__(self, ctx: AppContext, conn: HTTPConnection) -> Principal | None:
        raw = conn.headers.get(SHARE_HEADER)
        if not raw:
            return None
        institution, study_uid = raw.split(",", 1)
        return Principal(method=AuthMethod.SHARE, institution_id=int(institution), role=Role.READ_ONLY,
                         username="share", share_id=1, share_study_uid=study_uid, scopes=frozenset({Scope.READ}))


def tenancy_app(settings: Settings) -> Any:
    """The app with the real middleware and, last in its resolver list, ``ShareHeaderResolver``."""
    auth = Authenticator(settings)
    auth.resolvers.append(ShareHeaderResolver())
    return create_app(settings, authenticator=auth)


async def make_callers(ctx: AppContext, institutions: dict[str, int]) -> dict[str, dict[str, Any]]:
    """name -> {"headers", "user_id", "institution_id"} for every caller of ``CALLERS``."""
    out: dict[str, dict[str, Any]] = {}
    for name, (role, inst, scope) in CALLERS.items():
        institution = ctx.institution_id if inst == "default" else institutions[inst]
        user = await create_user(ctx, role, institution, username=f"t-{name}")
        out[name] = {"headers": bearer(await token_for(ctx, user, scope=scope)), "user_id": user.id,
                     "institution_id": institution}
    return out


def share_headers(institution_id: int, study_uid: str) -> dict[str, str]:
    return {SHARE_HEADER: f"{institution_id},{study_uid}"}
