"""reading requests as UPS workitems (their workitem UID); the hospital logo of printed reports

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reading_request") as batch_op:
        batch_op.add_column(sa.Column("workitem_uid", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    req = sa.table("reading_request", sa.column("id", sa.Integer), sa.column("workitem_uid", sa.String))
    for (request_id,) in bind.execute(sa.select(req.c.id)).all():
        bind.execute(req.update().where(req.c.id == request_id).values(workitem_uid=f"2.25.{uuid.uuid4().int}"))
    with op.batch_alter_table("reading_request") as batch_op:
        batch_op.alter_column("workitem_uid", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_reading_request_workitem_uid", ["workitem_uid"])
    with op.batch_alter_table("institution") as batch_op:
        batch_op.add_column(sa.Column("logo_key", sa.String(length=256), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("logo_media_type", sa.String(length=32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("institution") as batch_op:
        batch_op.drop_column("logo_media_type")
        batch_op.drop_column("logo_key")
    with op.batch_alter_table("reading_request") as batch_op:
        batch_op.drop_constraint("uq_reading_request_workitem_uid", type_="unique")
        batch_op.drop_column("workitem_uid")
