"""Users and institutions: creation, changes, listing, and the first administrator.

Who may do what: the administrator everything; an institution administrator manages the users of
their own institution (never an administrator, never another institution). The callers of the
HTTP routes pass their principal; the CLI acts as the system (``principal=None``).
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from server.app_errors import Forbidden, InvalidInput, NotFoundError, StateConflict
from server.auth.passwords import check_policy, hash_password_async
from server.auth.principal import Principal, Role
from server.context import AppContext
from server.db.accounts import AuthSession, User
from server.db.archive import Institution
from server.db.database import utcnow

log = logging.getLogger("cirrus.auth")

FIRST_ADMIN = "admin"
# Letters (of any script: 张医生 is a fine username), digits and . _ @ -.
_USERNAME = re.compile(r"^\w[\w.@-]{0,63}$")


@dataclass(frozen=True)
class UserView:
    user: User
    institution_name: str

    def as_json(self) -> dict[str, Any]:
        u = self.user
        return {
            "id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
            "institution_id": u.institution_id, "institution_name": self.institution_name,
            "active": u.active, "locked_until": _iso(u.locked_until), "created_at": _iso(u.created_at),
            "password_changed_at": _iso(u.password_changed_at),
        }

    def brief_json(self) -> dict[str, Any]:
        """The signed-in user as ``/api/auth/login`` and ``/api/auth/me`` answer it."""
        u = self.user
        return {"id": u.id, "username": u.username, "role": u.role, "institution_id": u.institution_id,
                "institution_name": self.institution_name, "display_name": u.display_name}


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def role_of(value: Any) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"role must be one of {', '.join(Role)}, got {str(value)[:40]!r}") from None


def _check_username(username: Any) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InvalidInput("username must be 1 to 64 letters, digits or . _ @ -, starting with a letter or digit")
    return username


def _may_manage(principal: Principal | None, institution_id: int, role: Role | str) -> None:
    """Refuse unless ``principal`` may manage a user of ``institution_id`` with ``role``."""
    if principal is None or principal.role is Role.ADMIN:
        return
    if principal.role is Role.INSTITUTION_ADMIN and principal.institution_id == institution_id \
            and Role(role) is not Role.ADMIN:
        return
    raise Forbidden("only an administrator (or an institution administrator, within their institution) may do this")


async def institution_name(ctx: AppContext, institution_id: int) -> str:
    async with ctx.sessions() as s:
        inst = await s.get(Institution, institution_id)
    if inst is None:
        raise NotFoundError(f"no institution {institution_id}")
    return inst.name


async def view_of(ctx: AppContext, user: User) -> UserView:
    return UserView(user, await institution_name(ctx, user.institution_id))


async def create_user(ctx: AppContext, principal: Principal | None, username: Any, password: Any, *,
                      role: Any, institution_id: Any, display_name: Any = "") -> UserView:
    username = _check_username(username)
    role = role_of(role)
    if not isinstance(institution_id, int) or isinstance(institution_id, bool):
        raise InvalidInput("institution_id must be an integer")
    if not isinstance(password, str):
        raise InvalidInput("password must be a text")
    if not isinstance(display_name, str) or len(display_name) > 128:
        raise InvalidInput("display_name must be a text of at most 128 characters")
    _may_manage(principal, institution_id, role)
    check_policy(password, username)
    name = await institution_name(ctx, institution_id)
    hashed = await hash_password_async(password)
    async with ctx.write_session() as s:
        taken = (await s.exec(select(User.id).where(col(User.username) == username))).first()
        if taken is not None:
            raise StateConflict(f"the username {username!r} is taken")
        user = User(username=username, display_name=display_name, password_hash=hashed,
                    institution_id=institution_id, role=role.value)
        s.add(user)
        await s.commit()
    log.info("user %s created (role %s, institution %s)", username, role.value, institution_id)
    return UserView(user, name)


async def get_user(ctx: AppContext, user_id: int) -> User:
    async with ctx.sessions() as s:
        user = await s.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    return user


async def user_by_name(ctx: AppContext, username: str) -> User:
    async with ctx.sessions() as s:
        user = (await s.exec(select(User).where(col(User.username) == username))).scalars().first()
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


async def list_users(ctx: AppContext, principal: Principal | None) -> list[UserView]:
    query = select(User, Institution.name).join(Institution, col(Institution.id) == col(User.institution_id))
    if principal is not None and principal.role is not Role.ADMIN:
        if principal.role is not Role.INSTITUTION_ADMIN:
            raise Forbidden("only administrators list users")
        query = query.where(col(User.institution_id) == principal.institution_id)
    async with ctx.sessions() as s:
        rows = (await s.exec(query.order_by(col(User.id)))).all()
    return [UserView(user, name) for user, name in rows]


async def update_user(ctx: AppContext, principal: Principal | None, user_id: int, changes: dict[str, Any]
                      ) -> UserView:
    """Change role, active, display name or password (a new password signs the user out everywhere)."""
    allowed = {"role", "active", "password", "display_name", "unlock"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(allowed))})")
    user = await get_user(ctx, user_id)
    _may_manage(principal, user.institution_id, user.role)
    values: dict[str, Any] = {}
    if "role" in changes:
        role = role_of(changes["role"])
        _may_manage(principal, user.institution_id, role)
        if principal is not None and principal.user_id == user_id and role is not Role(user.role):
            raise Forbidden("you cannot change your own role")
        values["role"] = role.value
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise InvalidInput("active must be true or false")
        if principal is not None and principal.user_id == user_id and not changes["active"]:
            raise Forbidden("you cannot deactivate yourself")
        values["active"] = changes["active"]
    if "display_name" in changes:
        if not isinstance(changes["display_name"], str) or len(changes["display_name"]) > 128:
            raise InvalidInput("display_name must be a text of at most 128 characters")
        values["display_name"] = changes["display_name"]
    if changes.get("unlock"):
        values.update(failed_logins=0, locked_until=None)
    if "password" in changes:
        if not isinstance(changes["password"], str):
            raise InvalidInput("password must be a text")
        check_policy(changes["password"], user.username)
        values.update(password_hash=await hash_password_async(changes["password"]),
                      password_changed_at=utcnow(), failed_logins=0, locked_until=None)
    if values:
        async with ctx.write() as conn:
            await conn.execute(update(User).where(col(User.id) == user_id).values(**values))
            if "password" in values or values.get("active") is False:
                await conn.execute(update(AuthSession).where(col(AuthSession.user_id) == user_id).values(revoked=True))
    return await view_of(ctx, await get_user(ctx, user_id))


async def set_password(ctx: AppContext, username: str, password: str) -> None:
    user = await user_by_name(ctx, username)
    await update_user(ctx, None, int(user.id or 0), {"password": password})


# -- institutions ------------------------------------------------------------------------------


def institution_json(inst: Institution) -> dict[str, Any]:
    return {"id": inst.id, "name": inst.name, "parent_id": inst.parent_id, "created_at": _iso(inst.created_at)}


async def list_institutions(ctx: AppContext, principal: Principal | None) -> list[Institution]:
    query = select(Institution).order_by(col(Institution.id))
    if principal is not None and principal.role is not Role.ADMIN:
        query = query.where(col(Institution.id) == principal.institution_id)
    async with ctx.sessions() as s:
        return list((await s.exec(query)).scalars().all())


async def create_institution(ctx: AppContext, principal: Principal | None, name: Any, parent_id: Any = None
                             ) -> Institution:
    if principal is not None and principal.role is not Role.ADMIN:
        raise Forbidden("only an administrator creates institutions")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 128:
        raise InvalidInput("name must be a text of 1 to 128 characters")
    if parent_id is not None and (not isinstance(parent_id, int) or isinstance(parent_id, bool)
                                  or not 0 < parent_id < 2**31):  # ids are INTEGER on PostgreSQL
        raise InvalidInput("parent_id must be an integer or null")
    async with ctx.write_session() as s:
        if parent_id is not None and await s.get(Institution, parent_id) is None:
            raise InvalidInput(f"no institution {parent_id} to be the parent")
        taken = (await s.exec(select(Institution.id).where(col(Institution.name) == name.strip()))).first()
        if taken is not None:
            raise StateConflict(f"an institution called {name.strip()!r} exists")
        inst = Institution(name=name.strip(), parent_id=parent_id)
        s.add(inst)
        await s.commit()
    return inst


# -- first start --------------------------------------------------------------------------------


async def ensure_first_admin(ctx: AppContext) -> bool:
    """Create ``admin`` when no user exists (True if this process created it).

    The password is CIRRUS_ADMIN_PASSWORD, or generated and printed once on the console (never
    logged). Several processes may start at once: the unique username lets one insert win.
    """
    async with ctx.sessions() as s:
        if (await s.exec(select(func.count()).select_from(User))).scalar_one():
            return False
    given = ctx.settings.admin_password
    password = given or secrets.token_urlsafe(15)
    if given:
        try:
            check_policy(given, FIRST_ADMIN)
        except InvalidInput as exc:
            raise InvalidInput(f"CIRRUS_ADMIN_PASSWORD is refused: {exc.message}") from None
    hashed = await hash_password_async(password)
    insert = pg_insert if ctx.engine.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    async with ctx.write() as conn:
        if (await conn.execute(select(func.count()).select_from(User))).scalar_one():
            return False
        result = await conn.execute(
            insert(User).values(
                username=FIRST_ADMIN, display_name="Administrator", password_hash=hashed,
                institution_id=ctx.institution_id, role=Role.ADMIN.value, active=True, failed_logins=0,
                created_at=now, password_changed_at=now,
            ).on_conflict_do_nothing(index_elements=["username"])
        )
    if not result.rowcount:
        return False
    log.warning("created the first account %r (role admin)", FIRST_ADMIN)
    if not given:
        bar = "=" * 72
        print(f"\n{bar}\n  Cirrus: first start, account created\n    username: {FIRST_ADMIN}\n"
              f"    password: {password}\n  (shown once; change it with `cirrus user passwd {FIRST_ADMIN}`)\n{bar}\n",
              file=sys.stderr, flush=True)
    return True
