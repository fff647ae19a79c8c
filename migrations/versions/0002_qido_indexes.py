"""QIDO indexes: prefix (wildcard) matching on PostgreSQL

PostgreSQL uses a btree index for ``LIKE 'ABC%'`` only with the C collation
or a ``*_pattern_ops`` operator class; these add the latter for the study
attributes people search by prefix (PatientName upper-cased, PatientID).
SQLite needs nothing here: QIDO matches wildcards with GLOB, which turns a
literal prefix into a range on the existing BINARY indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 13:40:00
"""

from __future__ import annotations

from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

PATTERN_INDEXES = {
    'ix_study_patient_name_upper_pattern': 'patient_name_upper',
    'ix_study_patient_id_pattern': 'patient_id',
}


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name, column in PATTERN_INDEXES.items():
        op.create_index(name, 'study', [column], postgresql_ops={column: 'varchar_pattern_ops'})


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name in PATTERN_INDEXES:
        op.drop_index(name, table_name='study')
