"""Protocol presets: parameters a person entered once for a protocol, reused for its later studies.

One row per institution and protocol key (``quant.ProtocolKey.key``: manufacturer, protocol name,
sequence name and station, case and spacing ignored). ``values`` holds the parameters in the
engine's units (times in seconds).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.db.database import utcnow


class ProtocolPreset(SQLModel, table=True):
    __tablename__ = "protocol_preset"
    __table_args__ = (UniqueConstraint("institution_id", "protocol_key", name="uq_protocol_preset_key"),)

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(default=1, index=True)
    protocol_key: str = Field(max_length=512)
    manufacturer: str = Field(default="", max_length=64)
    protocol: str = Field(default="", max_length=128)
    sequence: str = Field(default="", max_length=128)
    station: str = Field(default="", max_length=64)
    values: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(default="", max_length=128)
    updated_by: str = Field(default="", max_length=128)
    times_used: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
