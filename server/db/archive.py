"""Index tables of the archive.

Patient attributes live on the study row (DICOMweb has no patient resource);
every study carries its owning institution so that access control across
hospitals can be added without reshaping the data.

Instance rows go through two states (``creating`` → ``created``): only
``created`` rows are visible to QIDO/WADO; a start-up sweep removes
``creating`` rows older than a grace period together with their blobs.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel

from server.db.database import utcnow


class InstanceState(StrEnum):
    """Two-phase write of an instance row (a write-ahead intent)."""

    CREATING = "creating"  # the blob is being written; invisible to QIDO/WADO
    CREATED = "created"  # durable and visible


class Institution(SQLModel, table=True):
    __tablename__ = "institution"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    # The superior hospital of the alliance (reads for this one); None at the top.
    parent_id: int | None = Field(default=None, foreign_key="institution.id", index=True)
    # The hospital's logo on printed reports (PNG or JPEG in the blob store; "" when none).
    logo_key: str = Field(default="", max_length=256)
    logo_media_type: str = Field(default="", max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class Study(SQLModel, table=True):
    __tablename__ = "study"
    __table_args__ = (
        Index("ix_study_patient_name_upper", "patient_name_upper"),
        Index("ix_study_date_time", "study_date", "study_time"),
        Index("ix_study_institution_date", "institution_id", "study_date"),
        # PostgreSQL only (migration 0002): LIKE 'ABC%' uses btree only with pattern_ops.
        Index(
            "ix_study_patient_name_upper_pattern",
            "patient_name_upper",
            postgresql_ops={"patient_name_upper": "varchar_pattern_ops"},
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_study_patient_id_pattern", "patient_id", postgresql_ops={"patient_id": "varchar_pattern_ops"}
        ).ddl_if(dialect="postgresql"),
    )

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    study_instance_uid: str = Field(max_length=64, unique=True)
    patient_id: str = Field(default="", max_length=64, index=True)
    patient_name: str = Field(default="", max_length=324)
    # Upper-cased copy for case-insensitive PN matching (PS3.18 §8.3.4.6).
    patient_name_upper: str = Field(default="", max_length=324)
    patient_birth_date: str = Field(default="", max_length=8)
    patient_sex: str = Field(default="", max_length=16)
    study_date: str = Field(default="", max_length=8)
    study_time: str = Field(default="", max_length=16)
    accession_number: str = Field(default="", max_length=64, index=True)
    study_id: str = Field(default="", max_length=16)
    study_description: str = Field(default="", max_length=64)
    referring_physician_name: str = Field(default="", max_length=324)
    # Backslash-joined, sorted distinct modalities of the created series.
    modalities_in_study: str = Field(default="", max_length=256)
    number_of_series: int = Field(default=0)
    number_of_instances: int = Field(default=0)
    # Study-level attributes as DICOM JSON (from the first instance), served by QIDO.
    attributes_json: bytes = Field(
        default=b"{}", sa_column=Column(LargeBinary, nullable=False, default=b"{}")
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class Series(SQLModel, table=True):
    __tablename__ = "series"

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True)
    series_instance_uid: str = Field(max_length=64, unique=True)
    modality: str = Field(default="", max_length=16, index=True)
    series_number: int | None = Field(default=None)
    series_description: str = Field(default="", max_length=64)
    series_date: str = Field(default="", max_length=8)
    series_time: str = Field(default="", max_length=16)
    body_part_examined: str = Field(default="", max_length=16)
    performed_procedure_step_start_date: str = Field(default="", max_length=8)
    number_of_instances: int = Field(default=0)
    # Series-level attributes as DICOM JSON (from the first instance), served by QIDO.
    attributes_json: bytes = Field(
        default=b"{}", sa_column=Column(LargeBinary, nullable=False, default=b"{}")
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Instance(SQLModel, table=True):
    __tablename__ = "instance"
    __table_args__ = (
        Index("ix_instance_series_state", "series_id", "state"),
        Index("ix_instance_study_state", "study_id", "state"),
        Index("ix_instance_state_created", "state", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id")
    series_id: int = Field(foreign_key="series.id")
    sop_instance_uid: str = Field(max_length=64, unique=True)
    sop_class_uid: str = Field(default="", max_length=64, index=True)
    instance_number: int | None = Field(default=None)
    transfer_syntax_uid: str = Field(default="", max_length=64)
    rows: int | None = Field(default=None)
    columns: int | None = Field(default=None)
    number_of_frames: int = Field(default=0)
    state: str = Field(default=InstanceState.CREATING, max_length=16)
    blob_key: str = Field(max_length=256)
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    sha256: str = Field(default="", max_length=64)
    # JSON list, one entry per frame, each a list of [offset, length] byte
    # ranges in the stored object (one range for native data, one per
    # fragment for encapsulated data). Null when frames cannot be addressed
    # by byte range (deflated transfer syntax): they are decoded instead.
    frame_index: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Instance DICOM JSON (PS3.18 §F.2) with bulk data replaced by
    # BulkDataURIs relative to a placeholder base (``server.services.bulk_uri``),
    # made absolute when served.
    metadata_json: bytes = Field(default=b"{}", sa_column=Column(LargeBinary, nullable=False))
    # DICOM JSON of the QIDO-RS default instance attributes (PS3.18 Table 10.6.3-5) the object
    # has: a default instance query answers from it and the index columns, never metadata_json.
    attributes_json: bytes = Field(
        default=b"{}", sa_column=Column(LargeBinary, nullable=False, default=b"{}")
    )
    created_at: datetime = Field(default_factory=utcnow)
