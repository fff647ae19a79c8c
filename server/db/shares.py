"""Tables of patient share links (the "electronic film").

A ``ShareLink`` opens one study (or one series of it) to whoever holds its URL and access
code, read-only, until it expires or is revoked. The code is stored as an argon2id hash and
shown once. Exchanging the code yields a short-lived ``ShareToken`` (stored as a SHA-256
digest; the token itself is 256 random bits). ``ShareThrottle`` counts wrong codes per link
and per client address for the lockout.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.db.database import utcnow


class ShareLink(SQLModel, table=True):
    __tablename__ = "share_link"

    id: int | None = Field(default=None, primary_key=True)
    # What the URL carries (``/s/{public_id}``): random, not guessable, not the row id.
    public_id: str = Field(max_length=32, unique=True)
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    # Set when only one series of the study is shared.
    series_instance_uid: str | None = Field(default=None, max_length=64)
    institution_id: int = Field(foreign_key="institution.id")
    created_by_user_id: int | None = Field(default=None)
    created_by_name: str = Field(default="", max_length=128)
    code_kind: str = Field(default="digits", max_length=16)  # a codes.CodeKind
    code_hash: str = Field(max_length=256)
    allow_download: bool = Field(default=False)
    expires_at: datetime = Field()
    revoked_at: datetime | None = Field(default=None)
    last_opened_at: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)


class ShareToken(SQLModel, table=True):
    __tablename__ = "share_token"

    id: int | None = Field(default=None, primary_key=True)
    share_id: int = Field(foreign_key="share_link.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)  # SHA-256 hex of the bearer token
    expires_at: datetime = Field()
    client_address: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class ShareThrottle(SQLModel, table=True):
    """Wrong access codes of one key (``link:<id>`` or ``addr:<client address>``) in a window."""

    __tablename__ = "share_throttle"

    key: str = Field(max_length=128, primary_key=True)
    failures: int = Field(default=0)
    window_started_at: datetime = Field(default_factory=utcnow)
    locked_until: datetime | None = Field(default=None)
