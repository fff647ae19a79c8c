"""Tables of PACS pull: remote sources, pull rules, per-study pull state and the decision log.

``PullSource`` is a remote PACS Cirrus queries (C-FIND) and retrieves from (C-MOVE or C-GET);
sources sharing a ``mirror_group`` hold the same studies, and a study found on several is pulled
from one that answers. ``PullRule`` selects studies and series (filters in the language of
``server/gateway/rules.py``) for its owner institution. ``PullStudy`` is the state of one study
(one row per StudyInstanceUID): everything the worker knows is here, so a restarted worker resumes.
``PullEvent`` is the append-only decision log behind "why don't we have study X?".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.db.database import utcnow


class PullSource(SQLModel, table=True):
    __tablename__ = "pull_source"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    ae_title: str = Field(max_length=16)
    host: str = Field(max_length=255)
    port: int = Field()
    find_study: bool = Field(default=True)
    find_series: bool = Field(default=True)
    # "move" (to our pull receiver) or "get" (on the query association).
    retrieve: str = Field(default="move", max_length=8)
    # C-MOVE: "sync" waits for the final response; "async" (a PACS that answers the C-MOVE at
    # once and sends later, or whose final response is unreliable) judges completion by counts.
    move_mode: str = Field(default="sync", max_length=8)
    # The PACS's clock: minutes east of UTC (its StudyDate/StudyTime are local to it).
    utc_offset_minutes: int = Field(default=0)
    mirror_group: str = Field(default="", max_length=64)
    enabled: bool = Field(default=True)
    last_polled_at: datetime | None = Field(default=None)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)


class PullRule(SQLModel, table=True):
    __tablename__ = "pull_rule"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    priority: int = Field(default=0)  # higher first
    enabled: bool = Field(default=True)
    # Query window: studies of today (the source's date) and ``days_back`` days before it.
    days_back: int = Field(default=0)
    study_filter: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    series_filter: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    receive_filter: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # A study this rule took is pulled again, for its new series only, when the PACS later shows
    # series the rule takes that are not here (e.g. thin reconstructions sent after the first ones).
    repull_new_series: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)


class PullStudy(SQLModel, table=True):
    __tablename__ = "pull_study"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(max_length=64, unique=True)
    accession_number: str = Field(default="", max_length=64, index=True)
    patient_id: str = Field(default="", max_length=64)
    study_description: str = Field(default="", max_length=255)
    modalities: str = Field(default="", max_length=64)
    # Exam time as UTC (the source's StudyDate/StudyTime less its offset), for the queue order.
    exam_at: datetime | None = Field(default=None)
    # queried → stable → pulling → received → complete | incomplete | failed; rejected; requested.
    state: str = Field(default="queried", max_length=16, index=True)
    rule_id: int | None = Field(default=None, foreign_key="pull_rule.id", ondelete="SET NULL")
    institution_id: int | None = Field(default=None, foreign_key="institution.id")
    priority: int = Field(default=0)
    urgent: bool = Field(default=False)  # a manual "pull this study now"
    source_id: int | None = Field(default=None, foreign_key="pull_source.id", ondelete="SET NULL")
    # NumberOfStudyRelatedInstances of the last two polls (stability) and what was selected.
    remote_count: int | None = Field(default=None)
    stable_polls: int = Field(default=0)
    expected_count: int = Field(default=0)
    received_count: int = Field(default=0)
    skipped_count: int = Field(default=0)
    # The selected series (empty: the whole study) and those the receive filter refused.
    series_uids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The last query answers: {"study": {...}, "series": [...]} (rule tests and "why not").
    seen_attributes: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # type: ignore[type-arg]
    attempts: int = Field(default=0)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The worker that holds the pull (its lease key) and until when (for a crash on SQLite).
    lease_key: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    lease_until: datetime | None = Field(default=None)
    first_seen_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PullEvent(SQLModel, table=True):
    __tablename__ = "pull_event"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(max_length=64, index=True)
    # seen, rejected, selected, stable, attempt, received, complete, incomplete, failed, requested
    kind: str = Field(max_length=16)
    source_id: int | None = Field(default=None)
    rule_id: int | None = Field(default=None)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class PullHint(SQLModel, table=True):
    """An order of the RIS/HIS (uploaded as CSV or JSON): what the study is meant to be, for
    studies whose DICOM attributes misdescribe it. Matched by AccessionNumber, else PatientID."""

    __tablename__ = "pull_hint"
    __table_args__ = (UniqueConstraint("institution_id", "accession_number", "patient_id",
                                       name="uq_pull_hint_order"),)

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id")
    accession_number: str = Field(default="", max_length=64, index=True)
    patient_id: str = Field(default="", max_length=64, index=True)
    body_part: str = Field(default="", max_length=64)
    priority: str = Field(default="routine", max_length=16)  # routine | urgent
    uploaded_by: str = Field(default="", max_length=128)
    uploaded_at: datetime = Field(default_factory=utcnow)
