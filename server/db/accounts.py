"""Accounts: users, browser sessions, API tokens and the per-address login throttle.

Secrets are never stored: passwords as argon2id hashes, session ids and API tokens as SHA-256
digests (both are high-entropy random strings, so a fast hash is enough). The raw values exist
only in the client's cookie jar or in the one answer that printed them.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.db.database import utcnow


class User(SQLModel, table=True):
    # ``user`` is a reserved word in PostgreSQL.
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=128)
    password_hash: str = Field(max_length=255)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    role: str = Field(max_length=32)  # a server.auth.principal.Role
    active: bool = Field(default=True)
    # Consecutive failed sign-ins; at the limit the account is locked until ``locked_until``.
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)
    password_changed_at: datetime = Field(default_factory=utcnow)


class AuthSession(SQLModel, table=True):
    """A browser session: the cookie holds the random id, the row its SHA-256 digest."""

    __tablename__ = "auth_session"

    id: str = Field(primary_key=True, max_length=64)  # sha256 hex of the cookie value
    user_id: int = Field(foreign_key="app_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    client_address: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime  # absolute end, whatever the activity
    revoked: bool = Field(default=False)


class ApiToken(SQLModel, table=True):
    """An API token ``cirrus_<random>``: the digest finds it, the prefix names it in lists."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=16)  # the first characters of the token, shown in lists
    secret_hash: str = Field(max_length=64, unique=True)  # sha256 hex of the whole token
    user_id: int = Field(foreign_key="app_user.id", index=True)
    name: str = Field(default="", max_length=128)
    scopes: str = Field(max_length=64)  # comma-separated server.auth.principal.Scope values
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None)
    last_used_at: datetime | None = Field(default=None)


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins of one client address within a window (the per-address lockout)."""

    __tablename__ = "login_throttle"

    address: str = Field(primary_key=True, max_length=64)
    failures: int = Field(default=0)
    window_start: datetime = Field(default_factory=utcnow)
    locked_until: datetime | None = Field(default=None)
