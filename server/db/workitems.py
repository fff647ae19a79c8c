"""Tables of UPS-RS (PS3.18 §11): workitems, their event log, and subscriptions.

``workitem``: one row per Unified Procedure Step created through ``POST /workitems``. The
workitem's DICOM JSON is ``dataset`` (without its Transaction UID, which is ``locking_uid``);
the columns beside it are copies for searching and for the state machine's conditional updates.
Analysis jobs are workitems too, but they have no row here: ``analysis_job`` is their one
source of truth (``server/workflow/job_workitems.py`` shows a job as a workitem).

``workitem_event``: every event (UPS State Report, Cancel Requested, Assigned) in the order it
happened; ``seq`` is the event's sequence number. Events are inserted under a lock
(``server/workflow/workitem_events.py``), so the order of ``seq`` is the order of commits and a
reader that saw ``seq`` N never finds a later commit with a lower number.

``workitem_subscription``: an AE title's subscription to one workitem, to all (global), or to
those matching a filter.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.db.database import utcnow


class Workitem(SQLModel, table=True):
    __tablename__ = "workitem"
    __table_args__ = (Index("ix_workitem_state_start", "state", "start_datetime"),)

    id: int | None = Field(default=None, primary_key=True)
    sop_instance_uid: str = Field(max_length=64, unique=True)
    institution_id: int = Field(index=True)
    # The study the workitem is for (Referenced Request or Input Information), "" when none.
    study_instance_uid: str = Field(default="", max_length=64, index=True)
    state: str = Field(max_length=16)
    locking_uid: str = Field(default="", max_length=64)
    cancel_requested: bool = Field(default=False)
    patient_id: str = Field(default="", max_length=64, index=True)
    accession_number: str = Field(default="", max_length=16, index=True)
    # ScheduledProcedureStepStartDateTime as sortable text (DT, first 14 digits).
    start_datetime: str = Field(default="", max_length=26)
    dataset: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Bumped by every change; writers update conditionally on the revision they read.
    revision: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class WorkitemEvent(SQLModel, table=True):
    __tablename__ = "workitem_event"
    __table_args__ = (Index("ix_workitem_event_workitem", "workitem_uid", "seq"),)

    seq: int | None = Field(default=None, primary_key=True)
    workitem_uid: str = Field(max_length=64)
    institution_id: int
    study_instance_uid: str = Field(default="", max_length=64)
    # 1 UPS State Report, 2 UPS Cancel Requested, 5 UPS Assigned (PS3.4 Table CC.2.4-1)
    event_type: int
    # The event report's DICOM JSON, and the workitem's attributes a filtered subscription matches on.
    report: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    snapshot: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class WorkitemSubscription(SQLModel, table=True):
    __tablename__ = "workitem_subscription"
    __table_args__ = (UniqueConstraint("ae_title", "kind", "workitem_uid", name="uq_workitem_subscription"),)

    id: int | None = Field(default=None, primary_key=True)
    ae_title: str = Field(max_length=16, index=True)
    kind: str = Field(max_length=16)  # "workitem" | "global" | "filtered"
    workitem_uid: str = Field(default="", max_length=64)  # "" for global and filtered
    institution_id: int
    deletion_lock: bool = Field(default=False)
    suspended: bool = Field(default=False)
    # Filtered: the query parameters (``dicomweb.ups.query``) a workitem must match.
    filter: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    filter_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
