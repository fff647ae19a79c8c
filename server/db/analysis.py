"""Tables of the analysis workflow.

``analysis_job``: one row per ASL acquisition found in a study (unique on
study + acquisition key, so a detector running twice never opens two jobs).
``analysis_result``: one row per derived-series version a job wrote; a re-run
adds a version and marks the previous one superseded.
``analysis_watch``: one row per study whose instances changed; the stability
detector evaluates it once no instance arrived for the quiet period. Kept in
the database so that a restart (or another API process) loses nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.db.database import utcnow


def new_workitem_uid() -> str:
    """A UUID-derived UID (PS3.5 B.2): the SOP Instance UID of a job's workitem."""
    return f"2.25.{uuid.uuid4().int}"


class AnalysisJob(SQLModel, table=True):
    __tablename__ = "analysis_job"
    __table_args__ = (
        UniqueConstraint("study_instance_uid", "acquisition_key", name="uq_analysis_job_acquisition"),
        # The claim query walks queued jobs in this order.
        Index("ix_analysis_job_queue", "state", "priority", "exam_datetime", "id"),
        Index("ix_analysis_job_lease", "state", "lease_expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(default=1, index=True)
    study_instance_uid: str = Field(max_length=64, index=True)
    # Sorted, comma-joined SeriesInstanceUIDs of the ASL input: identifies the
    # acquisition across re-evaluations of the study.
    acquisition_key: str = Field(sa_column=Column(Text, nullable=False))
    series_uids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    m0_series_uid: str = Field(default="", max_length=64)
    t1_series_uid: str = Field(default="", max_length=64)
    label: str = Field(default="", max_length=256)
    vendor: str = Field(default="", max_length=64)
    labeling: str = Field(default="", max_length=32)
    input_instances: int = Field(default=0)
    # Copies of study attributes, so listing and filtering jobs needs no join.
    patient_name: str = Field(default="", max_length=324)
    patient_name_upper: str = Field(default="", max_length=324, index=True)
    patient_id: str = Field(default="", max_length=64, index=True)
    study_date: str = Field(default="", max_length=8, index=True)
    study_description: str = Field(default="", max_length=64)
    # StudyDate + StudyTime as sortable text "YYYYMMDDHHMMSS".
    exam_datetime: str = Field(default="", max_length=32)

    state: str = Field(default="waiting", max_length=16)
    missing: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Higher runs first: 10 manual/urgent, 0 automatic.
    priority: int = Field(default=0)
    # Parameters read from the headers, with their source, and a person's overrides.
    detected: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    overrides: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    model: str = Field(default="", max_length=32)
    # Where each override came from: {name: {"source": "user" | "preset", "detail": "entered as 1800 ms"}}.
    override_notes: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))

    attempts: int = Field(default=0)
    max_attempts: int = Field(default=3)
    lease_owner: str = Field(default="", max_length=128)
    lease_expires_at: datetime | None = Field(default=None)
    heartbeat_at: datetime | None = Field(default=None)
    progress: float = Field(default=0.0)
    stage: str = Field(default="", max_length=64)
    # Bumped by every change a worker must notice (cancel, new parameters).
    revision: int = Field(default=0)

    # The job seen as a UPS workitem (server/workflow/job_workitems.py): its SOP Instance UID, the
    # UPS state last reported to subscribers (a delivery cursor; ``state`` stays the only state),
    # and the attributes an external performer set (N-SET / PUT /workitems/{uid}).
    workitem_uid: str = Field(default_factory=new_workitem_uid, max_length=64, unique=True)
    ups_reported_state: str = Field(default="", max_length=16)
    workitem_extra: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

    version: int = Field(default=0)  # number of the newest result version
    statistics: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    provenance: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    timings: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    regional_csv: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    diagnostic_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))

    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    queued_at: datetime | None = Field(default=None)
    started_at: datetime | None = Field(default=None)
    finished_at: datetime | None = Field(default=None)


class AnalysisResult(SQLModel, table=True):
    __tablename__ = "analysis_result"
    __table_args__ = (UniqueConstraint("job_id", "version", name="uq_analysis_result_version"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="analysis_job.id", index=True)
    version: int
    study_instance_uid: str = Field(max_length=64)
    # {"CBF": "1.2.…", "REPORT": "1.2.…"}: role → SeriesInstanceUID
    series: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    superseded: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)


class AnalysisWatch(SQLModel, table=True):
    __tablename__ = "analysis_watch"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(max_length=64, unique=True)
    last_change_at: datetime = Field(default_factory=utcnow, index=True)
    # Increments with each change; the evaluator records the one it saw so a
    # change arriving during an evaluation triggers another one.
    change_count: int = Field(default=0)
    evaluated_count: int = Field(default=0)
    evaluated_at: datetime | None = Field(default=None)
