"""institution parent links and study access grants

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("institution") as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.create_index("ix_institution_parent_id", ["parent_id"])
        batch.create_foreign_key("fk_institution_parent", "institution", ["parent_id"], ["id"])
    op.create_table(
        "study_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["study_id"], ["study.id"]),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", "institution_id", "reason", "source_id", name="uq_study_grant"),
    )
    op.create_index("ix_study_grant_study_id", "study_grant", ["study_id"])
    op.create_index("ix_study_grant_institution_study", "study_grant", ["institution_id", "study_id"])


def downgrade() -> None:
    op.drop_index("ix_study_grant_institution_study", table_name="study_grant")
    op.drop_index("ix_study_grant_study_id", table_name="study_grant")
    op.drop_table("study_grant")
    with op.batch_alter_table("institution") as batch:
        batch.drop_constraint("fk_institution_parent", type_="foreignkey")
        batch.drop_index("ix_institution_parent_id")
        batch.drop_column("parent_id")
