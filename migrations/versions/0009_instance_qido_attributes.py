"""instance.attributes_json: the QIDO-RS default instance attributes, backfilled

A default instance-level QIDO-RS query answers from the index columns and this
small DICOM JSON object (PS3.18 Table 10.6.3-5: SpecificCharacterSet,
TimezoneOffsetFromUTC, BitsAllocated, ...) instead of decoding every
instance's full ``metadata_json``. Existing rows are filled from their stored
``metadata_json``.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

# The stored defaults of PS3.18 Table 10.6.3-5, as DICOM JSON keys (frozen here: a migration
# does not follow later code): SpecificCharacterSet, SOPClassUID, SOPInstanceUID,
# TimezoneOffsetFromUTC, InstanceNumber, Rows, Columns, BitsAllocated, NumberOfFrames.
TAGS = ("00080005", "00080016", "00080018", "00080201", "00200013", "00280010", "00280011",
        "00280100", "00280008")
BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("instance") as batch:
        batch.add_column(
            sa.Column("attributes_json", sa.LargeBinary(), nullable=False, server_default=sa.text("''"))
        )
    bind = op.get_bind()
    instance = sa.table(
        "instance", sa.column("id", sa.Integer), sa.column("metadata_json", sa.LargeBinary),
        sa.column("attributes_json", sa.LargeBinary),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(instance.c.id, instance.c.metadata_json)
            .where(instance.c.id > last).order_by(instance.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        updates = []
        for row_id, raw in rows:
            try:
                full = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                full = {}
            subset = {t: full[t] for t in TAGS if isinstance(full, dict) and t in full}
            updates.append({"b_id": row_id, "b_attrs": orjson.dumps(subset)})
        bind.execute(
            instance.update().where(instance.c.id == sa.bindparam("b_id"))
            .values(attributes_json=sa.bindparam("b_attrs")),
            updates,
        )
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("instance") as batch:
        batch.drop_column("attributes_json")
