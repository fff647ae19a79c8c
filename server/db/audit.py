"""The audit log: one row per audited request or sign-in, never changed or removed.

Append-only is the database's rule, not only the application's: migration 0015 adds triggers
that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on ``audit_log``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from server.db.database import utcnow


class AuditAction(StrEnum):
    QUERY = "query"  # QIDO searches, job and worklist lists
    VIEW = "view"  # metadata, rendered frames, thumbnails, reports on screen
    DOWNLOAD = "download"  # DICOM objects, bulk data, PDF and CSV exports
    UPLOAD = "upload"  # STOW-RS, uploads
    SHARE = "share"  # share links created or revoked
    CHANGE = "change"  # job actions, reports, reading workflow, settings
    DELETE = "delete"
    LOGIN = "login"
    LOGOUT = "logout"
    FAILED_LOGIN = "failed_login"
    ADMIN = "admin"  # users, tokens, institutions, the audit log itself


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"  # 401 / 403
    NOT_FOUND = "not_found"  # 404 (also another tenant's study)
    REFUSED = "refused"  # other 4xx
    ERROR = "error"  # 5xx or the request broke off


class AuditRecord(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_study_at", "study_uid", "at"),
        Index("ix_audit_log_patient_at", "patient_id", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    # Who: the user (or token owner) by id and name, empty when unauthenticated.
    actor_user_id: int | None = Field(default=None)
    actor: str = Field(default="", max_length=128)
    # On whose behalf: the principal's institution (and, for share links, the patient's study).
    acting_for_institution_id: int | None = Field(default=None)
    token_id: int | None = Field(default=None)
    share_id: int | None = Field(default=None)
    auth_method: str = Field(default="", max_length=16)  # an AuthMethod, or "" when none
    client_address: str = Field(default="", max_length=64)
    action: str = Field(max_length=32)  # an AuditAction
    outcome: str = Field(max_length=16)  # an AuditOutcome
    status: int = Field(default=0)  # HTTP status (0 when not an HTTP request)
    patient_id: str = Field(default="", max_length=64)
    study_uid: str = Field(default="", max_length=64)
    method: str = Field(default="", max_length=8)
    path: str = Field(default="", max_length=512)
    detail: str = Field(default="", max_length=512)  # e.g. why a sign-in failed
