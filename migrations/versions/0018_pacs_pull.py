"""PACS pull: remote sources, pull rules, per-study pull state and the decision log

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TS = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "pull_source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("ae_title", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("find_study", sa.Boolean(), nullable=False),
        sa.Column("find_series", sa.Boolean(), nullable=False),
        sa.Column("retrieve", sa.String(length=8), nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer(), nullable=False),
        sa.Column("mirror_group", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_polled_at", TS(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "pull_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("days_back", sa.Integer(), nullable=False),
        sa.Column("study_filter", sa.Text(), nullable=False),
        sa.Column("series_filter", sa.Text(), nullable=False),
        sa.Column("receive_filter", sa.Text(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_pull_rule_institution_id", "pull_rule", ["institution_id"])
    op.create_table(
        "pull_study",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("accession_number", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("study_description", sa.String(length=255), nullable=False),
        sa.Column("modalities", sa.String(length=64), nullable=False),
        sa.Column("exam_at", TS(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("remote_count", sa.Integer(), nullable=True),
        sa.Column("stable_polls", sa.Integer(), nullable=False),
        sa.Column("expected_count", sa.Integer(), nullable=False),
        sa.Column("received_count", sa.Integer(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.Column("series_uids", sa.JSON(), nullable=False),
        sa.Column("seen_attributes", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("lease_key", sa.BigInteger(), nullable=True),
        sa.Column("lease_until", TS(), nullable=True),
        sa.Column("first_seen_at", TS(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["pull_rule.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.ForeignKeyConstraint(["source_id"], ["pull_source.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_instance_uid"),
    )
    op.create_index("ix_pull_study_accession_number", "pull_study", ["accession_number"])
    op.create_index("ix_pull_study_state", "pull_study", ["state"])
    op.create_table(
        "pull_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pull_event_study_instance_uid", "pull_event", ["study_instance_uid"])
    op.create_index("ix_pull_event_created_at", "pull_event", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_pull_event_created_at", table_name="pull_event")
    op.drop_index("ix_pull_event_study_instance_uid", table_name="pull_event")
    op.drop_table("pull_event")
    op.drop_index("ix_pull_study_state", table_name="pull_study")
    op.drop_index("ix_pull_study_accession_number", table_name="pull_study")
    op.drop_table("pull_study")
    op.drop_index("ix_pull_rule_institution_id", table_name="pull_rule")
    op.drop_table("pull_rule")
    op.drop_table("pull_source")
