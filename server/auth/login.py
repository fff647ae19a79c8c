"""Sign-in with username and password, throttled per account and per client address.

An account is locked for ``login_lockout_seconds`` after ``login_max_failures`` failures in a row;
a client address after ``login_address_max_failures`` failures within that period (whatever the
usernames it tried). A locked sign-in answers 429 without checking the password.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from server.app_errors import TooManyAttempts, Unauthenticated
from server.auth.passwords import verify_password_async
from server.context import AppContext
from server.db.accounts import LoginThrottle, User
from server.db.database import aware, utcnow

log = logging.getLogger("cirrus.auth")

WRONG = "wrong username or password"


def _locked(until: datetime | None, now: datetime, what: str) -> None:
    if until is not None and aware(until) > now:
        seconds = math.ceil((aware(until) - now).total_seconds())
        raise TooManyAttempts(f"too many failed sign-ins for this {what}: try again in {math.ceil(seconds / 60)} "
                              "minute(s)", retry_after=seconds)


async def check_password(ctx: AppContext, username: str, password: str, address: str,
                         now: datetime | None = None) -> User:
    """The active user with this username and password; ``Unauthenticated`` or ``TooManyAttempts``."""
    now = now or utcnow()
    settings = ctx.settings
    address = address[:64]
    async with ctx.sessions() as s:
        throttle = await s.get(LoginThrottle, address)
        user = (await s.exec(select(User).where(col(User.username) == username[:64]))).scalars().first()
    if throttle is not None:
        _locked(throttle.locked_until, now, "client address")
    if user is not None:
        _locked(user.locked_until, now, "account")
    usable = user is not None and user.active
    ok = await verify_password_async(user.password_hash if usable and user else None, password)
    if ok and user is not None:
        if user.failed_logins or user.locked_until:
            async with ctx.write() as conn:
                await conn.execute(update(User).where(col(User.id) == user.id)
                                   .values(failed_logins=0, locked_until=None))
        return user
    lockout = timedelta(seconds=settings.login_lockout_seconds)
    async with ctx.write() as conn:
        if user is not None:
            failures = user.failed_logins + 1
            locked = now + lockout if failures >= settings.login_max_failures else None
            await conn.execute(update(User).where(col(User.id) == user.id).values(
                failed_logins=0 if locked else col(User.failed_logins) + 1, locked_until=locked))
            if locked:
                log.warning("account %r locked after %d failed sign-ins", user.username, failures)
        insert = pg_insert if ctx.engine.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(insert(LoginThrottle).values(address=address, failures=0, window_start=now)
                           .on_conflict_do_nothing(index_elements=["address"]))
        row = (await conn.execute(select(LoginThrottle).where(col(LoginThrottle.address) == address))).one()
        fresh = aware(row.window_start) + lockout <= now
        failures = 1 if fresh else row.failures + 1
        locked = now + lockout if failures >= settings.login_address_max_failures else None
        await conn.execute(update(LoginThrottle).where(col(LoginThrottle.address) == address).values(
            failures=0 if locked else failures, window_start=now if fresh or locked else row.window_start,
            locked_until=locked))
        if locked:
            log.warning("client address %s locked after %d failed sign-ins", address, failures)
    raise Unauthenticated(WRONG)
