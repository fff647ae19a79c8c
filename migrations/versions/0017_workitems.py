"""UPS-RS workitems, their event log and subscriptions; analysis jobs as workitems

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workitem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("locking_uid", sa.String(length=64), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("accession_number", sa.String(length=16), nullable=False),
        sa.Column("start_datetime", sa.String(length=26), nullable=False),
        sa.Column("dataset", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sop_instance_uid"),
    )
    op.create_index("ix_workitem_institution_id", "workitem", ["institution_id"])
    op.create_index("ix_workitem_study_instance_uid", "workitem", ["study_instance_uid"])
    op.create_index("ix_workitem_patient_id", "workitem", ["patient_id"])
    op.create_index("ix_workitem_accession_number", "workitem", ["accession_number"])
    op.create_index("ix_workitem_state_start", "workitem", ["state", "start_datetime"])

    op.create_table(
        "workitem_event",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("workitem_uid", sa.String(length=64), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_workitem_event_workitem", "workitem_event", ["workitem_uid", "seq"])

    op.create_table(
        "workitem_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ae_title", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("workitem_uid", sa.String(length=64), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("deletion_lock", sa.Boolean(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("filter_text", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ae_title", "kind", "workitem_uid", name="uq_workitem_subscription"),
    )
    op.create_index("ix_workitem_subscription_ae_title", "workitem_subscription", ["ae_title"])

    with op.batch_alter_table("analysis_job") as batch_op:
        batch_op.add_column(sa.Column("workitem_uid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("ups_reported_state", sa.String(length=16), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("workitem_extra", sa.JSON(), nullable=True))
    bind = op.get_bind()
    job = sa.table("analysis_job", sa.column("id", sa.Integer), sa.column("state", sa.String),
                   sa.column("workitem_uid", sa.String), sa.column("ups_reported_state", sa.String),
                   sa.column("workitem_extra", sa.JSON))
    # Existing jobs are workitems from now on, already "reported" in their current state: the
    # upgrade does not replay their history to subscribers.
    reported = {"waiting": "SCHEDULED", "queued": "SCHEDULED", "running": "IN PROGRESS", "succeeded": "COMPLETED",
                "failed": "CANCELED", "cancelled": "CANCELED"}
    for job_id, state in bind.execute(sa.select(job.c.id, job.c.state)).all():
        bind.execute(job.update().where(job.c.id == job_id).values(
            workitem_uid=f"2.25.{uuid.uuid4().int}", workitem_extra={}, ups_reported_state=reported.get(state, "")))
    with op.batch_alter_table("analysis_job") as batch_op:
        batch_op.alter_column("workitem_uid", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("workitem_extra", existing_type=sa.JSON(), nullable=False)
        batch_op.create_unique_constraint("uq_analysis_job_workitem_uid", ["workitem_uid"])


def downgrade() -> None:
    with op.batch_alter_table("analysis_job") as batch_op:
        batch_op.drop_constraint("uq_analysis_job_workitem_uid", type_="unique")
        batch_op.drop_column("workitem_extra")
        batch_op.drop_column("ups_reported_state")
        batch_op.drop_column("workitem_uid")
    op.drop_index("ix_workitem_subscription_ae_title", table_name="workitem_subscription")
    op.drop_table("workitem_subscription")
    op.drop_index("ix_workitem_event_workitem", table_name="workitem_event")
    op.drop_table("workitem_event")
    for name in ("ix_workitem_state_start", "ix_workitem_accession_number", "ix_workitem_patient_id",
                 "ix_workitem_study_instance_uid", "ix_workitem_institution_id"):
        op.drop_index(name, table_name="workitem")
    op.drop_table("workitem")
