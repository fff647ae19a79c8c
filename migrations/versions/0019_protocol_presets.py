"""protocol presets; where each job override came from (user or preset, unit entered)

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "protocol_preset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("protocol_key", sa.String(length=512), nullable=False),
        sa.Column("manufacturer", sa.String(length=64), nullable=False),
        sa.Column("protocol", sa.String(length=128), nullable=False),
        sa.Column("sequence", sa.String(length=128), nullable=False),
        sa.Column("station", sa.String(length=64), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("times_used", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("institution_id", "protocol_key", name="uq_protocol_preset_key"),
    )
    op.create_index("ix_protocol_preset_institution_id", "protocol_preset", ["institution_id"])
    with op.batch_alter_table("analysis_job") as batch:
        batch.add_column(sa.Column("override_notes", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("analysis_job") as batch:
        batch.drop_column("override_notes")
    op.drop_index("ix_protocol_preset_institution_id", table_name="protocol_preset")
    op.drop_table("protocol_preset")
