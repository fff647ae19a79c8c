"""Access grants: a study visible to an institution that does not own it.

A reading request sent to a superior hospital, an assisting hospital and a
study-level share each add a row; revoking or finishing removes it (or sets
``expires_at``). The visibility rule of every query is: the caller's institution
owns the study, or a live grant names the caller's institution for it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.db.database import utcnow


class GrantReason(StrEnum):
    READING_REQUEST = "reading_request"
    ASSISTANCE = "assistance"
    SHARE = "share"


class StudyGrant(SQLModel, table=True):
    __tablename__ = "study_grant"
    __table_args__ = (
        UniqueConstraint("study_id", "institution_id", "reason", "source_id", name="uq_study_grant"),
        Index("ix_study_grant_institution_study", "institution_id", "study_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True)
    institution_id: int = Field(foreign_key="institution.id")
    reason: str = Field(max_length=32)  # a GrantReason
    # The row that caused the grant (reading request id, share link id); 0 if none.
    source_id: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = Field(default=None)
