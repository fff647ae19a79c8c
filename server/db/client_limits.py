"""Per-client limit counts kept in PostgreSQL, shared by every API process (``server.limits``).

``client_rate`` holds one row per (kind, client): the start of its current fixed window and the
requests counted in it. ``client_slot`` holds the requests in progress per (kind, client, process),
the process named by its lease key (``server.db.lease``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String
from sqlmodel import Field, SQLModel


class ClientRate(SQLModel, table=True):
    __tablename__ = "client_rate"

    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    client: str = Field(sa_column=Column(String(200), primary_key=True))
    window_start: int = Field(sa_column=Column(BigInteger, nullable=False))
    count: int = Field(default=0)


class ClientSlot(SQLModel, table=True):
    __tablename__ = "client_slot"

    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    client: str = Field(sa_column=Column(String(200), primary_key=True))
    lease_key: int = Field(sa_column=Column(BigInteger, primary_key=True))
    held: int = Field(default=0)
