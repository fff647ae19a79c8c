"""Callers for the tenancy tests, built in ONE place: real accounts and API tokens.

Each caller is a user of the test database with an API token (``tests/auth_helpers.py``, the same
services the routes and the CLI use), sent as ``Authorization: Bearer`` through the real
authentication middleware, so 401 and 403 come from the app itself. A caller without credentials
is ``anon``.

The share principal is a real share link of the tests' study, its code exchanged for a ``shr_``
token (``tests/server/test_tenancy.py``'s ground).
"""

from __future__ import annotations

from typing import Any

from server.app import create_app
from server.auth.principal import Role
from server.context import AppContext
from server.settings import Settings
from tests.auth_helpers import bearer, create_user, token_for

# name -> (role, institution key, token scope); institution "A", "B" or "default"
CALLERS: dict[str, tuple[Role, str, str]] = {
    "admin": (Role.ADMIN, "default", "admin"),
    "doc_a": (Role.REPORTING_DOCTOR, "A", "write"),
    "ro_a": (Role.READ_ONLY, "A", "read"),
    "doc_b": (Role.REPORTING_DOCTOR, "B", "write"),
    "iadm_b": (Role.INSTITUTION_ADMIN, "B", "admin"),
}


def tenancy_app(settings: Settings) -> Any:
    """The app as it runs: the real authentication middleware and resolvers (share tokens included)."""
    return create_app(settings)


async def make_callers(ctx: AppContext, institutions: dict[str, int]) -> dict[str, dict[str, Any]]:
    """name -> {"headers", "user_id", "institution_id"} for every caller of ``CALLERS``."""
    out: dict[str, dict[str, Any]] = {}
    for name, (role, inst, scope) in CALLERS.items():
        institution = ctx.institution_id if inst == "default" else institutions[inst]
        user = await create_user(ctx, role, institution, username=f"t-{name}")
        out[name] = {"headers": bearer(await token_for(ctx, user, scope=scope)), "user_id": user.id,
                     "institution_id": institution}
    return out
