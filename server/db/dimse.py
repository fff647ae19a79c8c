"""The DIMSE application entity table: who may call the SCP, and where C-MOVE may send.

One row per remote AE title. ``accepts_calls`` allow-lists it as a calling AE whose
associations are accepted; the studies it stores are owned by ``institution_id`` and
its queries see what that institution sees. ``host``/``port`` make it a C-MOVE
destination (Move Destination is an AE title, resolved here, PS3.4 C.4.2.1.3).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.db.database import utcnow


class RemoteAE(SQLModel, table=True):
    __tablename__ = "dimse_ae"

    id: int | None = Field(default=None, primary_key=True)
    # AE title as sent (AE VR: at most 16 characters, no backslash), without padding spaces.
    ae_title: str = Field(max_length=16, unique=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    accepts_calls: bool = Field(default=True)
    host: str | None = Field(default=None, max_length=255)
    port: int | None = Field(default=None)
    # Concurrent associations this AE may hold open; 0 means no limit of its own.
    max_associations: int = Field(default=0)
    description: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow)
