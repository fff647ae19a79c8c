"""per-client rate windows and request slots, shared by the API processes (PostgreSQL)

Revision ID: 0023
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_rate",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "client"),
    )
    op.create_table(
        "client_slot",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("lease_key", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "client", "lease_key"),
    )


def downgrade() -> None:
    op.drop_table("client_slot")
    op.drop_table("client_rate")
