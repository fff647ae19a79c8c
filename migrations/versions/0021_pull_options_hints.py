"""PACS pull: asynchronous C-MOVE per source, re-pull of new series per rule, RIS/HIS order hints

Revision ID: 0021
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pull_source") as batch:
        batch.add_column(sa.Column("move_mode", sa.String(length=8), nullable=False, server_default="sync"))
    with op.batch_alter_table("pull_rule") as batch:
        batch.add_column(sa.Column("repull_new_series", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "pull_hint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("accession_number", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("body_part", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("uploaded_by", sa.String(length=128), nullable=False),
        sa.Column("uploaded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("institution_id", "accession_number", "patient_id", name="uq_pull_hint_order"),
    )
    op.create_index("ix_pull_hint_accession_number", "pull_hint", ["accession_number"])
    op.create_index("ix_pull_hint_patient_id", "pull_hint", ["patient_id"])


def downgrade() -> None:
    op.drop_index("ix_pull_hint_patient_id", table_name="pull_hint")
    op.drop_index("ix_pull_hint_accession_number", table_name="pull_hint")
    op.drop_table("pull_hint")
    with op.batch_alter_table("pull_rule") as batch:
        batch.drop_column("repull_new_series")
    with op.batch_alter_table("pull_source") as batch:
        batch.drop_column("move_mode")
