"""DIMSE application entity table: calling AE allow-list mapped to institutions, C-MOVE destinations

Revision ID: 0013
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dimse_ae",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ae_title", sa.String(length=16), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("accepts_calls", sa.Boolean(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("max_associations", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ae_title"),
    )
    op.create_index("ix_dimse_ae_institution_id", "dimse_ae", ["institution_id"])


def downgrade() -> None:
    op.drop_index("ix_dimse_ae_institution_id", table_name="dimse_ae")
    op.drop_table("dimse_ae")
