"""Tables of the reading workflow: requests, their linked studies and attachments, report versions,
the reporting lock, the request's history (every change, for the audit), templates and saved filters.

User ids are plain integers (the accounts tables may live elsewhere); names are copied at the time
of the action so that the history and the signed report keep them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.db.analysis import new_workitem_uid
from server.db.database import utcnow


class ReadingRequest(SQLModel, table=True):
    __tablename__ = "reading_request"
    __table_args__ = (
        Index("ix_reading_request_reading_state", "reading_institution_id", "state"),
        Index("ix_reading_request_requesting_state", "requesting_institution_id", "state"),
        Index("ix_reading_request_assisting", "assisting_institution_id"),
        Index("ix_reading_request_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The diagnosis number (诊断号): date and id, e.g. 20261202000017.
    number: str = Field(default="", max_length=32, index=True)
    state: str = Field(default="to_report", max_length=16)
    mode: str = Field(default="self", max_length=16)  # self | superior
    requesting_institution_id: int = Field(foreign_key="institution.id")
    reading_institution_id: int = Field(foreign_key="institution.id")
    assisting_institution_id: int | None = Field(default=None, foreign_key="institution.id")
    requester_user_id: int | None = Field(default=None)
    requester_name: str = Field(default="", max_length=128)
    patient_name: str = Field(default="", max_length=324)
    patient_name_upper: str = Field(default="", max_length=324, index=True)
    patient_id: str = Field(default="", max_length=64)
    patient_sex: str = Field(default="", max_length=16)
    patient_age: str = Field(default="", max_length=16)
    modality: str = Field(default="", max_length=16)
    body_part: str = Field(default="", max_length=64)
    examination: str = Field(default="", max_length=256)
    clinical_history: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    chief_complaint: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The reason of the last return / send back / cancel / assistance request.
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reporter_user_id: int | None = Field(default=None)
    reporter_name: str = Field(default="", max_length=128)
    reviewer_user_id: int | None = Field(default=None)
    reviewer_name: str = Field(default="", max_length=128)
    approved_at: datetime | None = Field(default=None)
    report_version: int = Field(default=0)  # number of the newest report version (0: none)
    revision: int = Field(default=0)  # bumped on every change (optimistic checks, live updates)
    # The request seen as a UPS workitem (server.reading.workitems); a new UID when an approved
    # report is amended (a UPS never leaves COMPLETED).
    workitem_uid: str = Field(default_factory=new_workitem_uid, max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReadingRequestStudy(SQLModel, table=True):
    __tablename__ = "reading_request_study"
    __table_args__ = (UniqueConstraint("request_id", "study_id", name="uq_reading_request_study"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="reading_request.id", index=True)
    study_id: int = Field(foreign_key="study.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class ReadingAttachment(SQLModel, table=True):
    __tablename__ = "reading_attachment"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="reading_request.id", index=True)
    filename: str = Field(max_length=256)
    media_type: str = Field(default="application/octet-stream", max_length=128)
    size: int = Field(default=0)
    blob_key: str = Field(max_length=256)
    sha256: str = Field(default="", max_length=64)
    uploaded_by: str = Field(default="", max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class ReportVersion(SQLModel, table=True):
    __tablename__ = "reading_report_version"
    __table_args__ = (UniqueConstraint("request_id", "number", name="uq_reading_report_version"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="reading_request.id", index=True)
    number: int = Field(default=1)
    findings: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    impression: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Structured fields of the template (name → text), measurements and key image references.
    fields: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    measurements: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    key_images: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    template_id: str = Field(default="", max_length=64)
    author_user_id: int | None = Field(default=None)
    author_name: str = Field(default="", max_length=128)
    # draft (saved while reporting) | submitted | approved
    status: str = Field(default="draft", max_length=16)
    reviewer_name: str = Field(default="", max_length=128)
    review_comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    signed_at: datetime | None = Field(default=None)
    # The DICOM objects written into the study on approval.
    sr_sop_instance_uid: str = Field(default="", max_length=64)
    pdf_sop_instance_uid: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class ReadingLock(SQLModel, table=True):
    """Who writes the report now; one row per request while it is reporting."""

    __tablename__ = "reading_lock"

    request_id: int = Field(foreign_key="reading_request.id", primary_key=True)
    holder_user_id: int | None = Field(default=None)
    holder_name: str = Field(default="", max_length=128)
    holder_institution_id: int = Field(foreign_key="institution.id")
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(default_factory=utcnow, index=True)


class ReadingEvent(SQLModel, table=True):
    """The request's history: every action that changed it, by whom, from which state to which."""

    __tablename__ = "reading_event"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="reading_request.id", index=True)
    action: str = Field(max_length=32)
    from_state: str = Field(default="", max_length=16)
    to_state: str = Field(default="", max_length=16)
    actor_user_id: int | None = Field(default=None)
    actor_name: str = Field(default="", max_length=128)
    actor_institution_id: int | None = Field(default=None)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)


class ReportTemplate(SQLModel, table=True):
    """A template edited by an admin (the built-in ones live in ``server.reading.templates``)."""

    __tablename__ = "reading_report_template"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=128)
    modality: str = Field(default="", max_length=16)
    body_part: str = Field(default="", max_length=64)
    findings: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    impression: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    fields: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_by: str = Field(default="", max_length=128)
    updated_at: datetime = Field(default_factory=utcnow)


class SavedFilter(SQLModel, table=True):
    __tablename__ = "reading_saved_filter"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_reading_saved_filter"),)

    id: int | None = Field(default=None, primary_key=True)
    # "user:<id>" (or "user:<name>" for callers without a user id).
    owner: str = Field(max_length=160, index=True)
    name: str = Field(max_length=64)
    filters: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
