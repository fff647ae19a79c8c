"""Default instance-level QIDO-RS answers from the index alone (issue 10's p95 fix).

The defaults of PS3.18 Table 10.6.3-5 (BitsAllocated, SpecificCharacterSet, ...) come
from ``instance.attributes_json``, written at ingest and backfilled by migration 0009:
a default query neither selects nor decodes ``metadata_json``. Proved by spoiling the
stored ``metadata_json`` of every row: the default answer stays the same, while a query
that needs the full metadata (includefield=SliceThickness) no longer finds it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy import select, update

from dicomweb.qido import QueryLevel, parse_query
from server.db.archive import Instance
from server.db.database import create_engine
from server.db.migrate import upgrade
from server.services.qido import build_select
from tests.conftest import _psql, pg_available
from tests.dicom_helpers import STOW_TYPE, multipart
from tests.server.routes.test_qido import SPECS, first, part10, synthetic, uid

INSTANCE = Instance.__table__
# The instance table as migration 0004 leaves it (the columns this test writes).
INSTANCE_0004 = sa.table(
    "instance", *(sa.column(c) for c in (
        "id", "study_id", "series_id", "sop_instance_uid", "sop_class_uid", "transfer_syntax_uid",
        "number_of_frames", "state", "blob_key", "size", "sha256", "created_at")),
    sa.column("metadata_json", sa.LargeBinary),
)


def _spoil_metadata(ctx) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        async with ctx.engine.begin() as conn:
            await conn.execute(update(INSTANCE).values(metadata_json=b"{}"))

    return run()  # type: ignore[return-value]


def test_default_instance_query_does_not_select_metadata() -> None:
    default = parse_query(QueryLevel.INSTANCE, [])
    columns = {c.name for c in build_select(default, "sqlite", 10).selected_columns}
    assert "metadata_json" not in columns and "instance_json" in columns
    wider = parse_query(QueryLevel.INSTANCE, parse_qsl("includefield=SliceThickness"))
    assert "metadata_json" in {c.name for c in build_select(wider, "sqlite", 10).selected_columns}


def test_default_answer_is_index_only_and_unchanged(client) -> None:  # type: ignore[no-untyped-def]
    parts = [part10(synthetic(s)) for s in SPECS if s.state == "created"]
    r = client.post("/dicom-web/studies", content=multipart(parts), headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 200, r.text
    base = f"/dicom-web/studies/{uid('2')}/series/{uid('2', '1')}/instances"
    before = client.get(base).json()
    assert first(before[0], "BitsAllocated") == 16 and first(before[0], "Rows") == 8
    assert first(client.get(f"{base}?includefield=SliceThickness").json()[0], "SliceThickness") == 3.0

    client.portal.call(_spoil_metadata, client.app.state.ctx)
    assert client.get(base).json() == before
    assert first(client.get(f"{base}?includefield=SliceThickness").json()[0], "SliceThickness") is None


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_migration_0009_backfills_existing_rows(kind: str, tmp_path: Path) -> None:
    if kind == "sqlite":
        url, name = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", None
    else:
        assert pg_available(), "PostgreSQL is not running on 127.0.0.1:5432"
        name = f"cirrus_test_{uuid.uuid4().hex[:12]}"
        _psql(f'CREATE DATABASE "{name}"')
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    meta = {"00280100": {"vr": "US", "Value": [16]}, "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
            "00180050": {"vr": "DS", "Value": [3.0]}}
    try:
        upgrade(url, "0004")

        async def seed() -> None:
            engine = create_engine(url)
            async with engine.begin() as conn:
                await conn.exec_driver_sql(
                    "INSERT INTO institution (id, name, created_at) VALUES (1, 'x', CURRENT_TIMESTAMP)"
                )
                await conn.exec_driver_sql(
                    "INSERT INTO study (id, institution_id, study_instance_uid, patient_id, patient_name,"
                    " patient_name_upper, patient_birth_date, patient_sex, study_date, study_time,"
                    " accession_number, study_id, study_description, referring_physician_name,"
                    " modalities_in_study, number_of_series, number_of_instances, attributes_json,"
                    " created_at, updated_at) VALUES (1, 1, '1.2.3', '', '', '', '', '', '', '', '', '',"
                    " '', '', '', 1, 2, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
                await conn.exec_driver_sql(
                    "INSERT INTO series (id, study_id, series_instance_uid, modality, series_description,"
                    " series_date, series_time, body_part_examined, performed_procedure_step_start_date,"
                    " number_of_instances, attributes_json, created_at, updated_at) VALUES (1, 1,"
                    " '1.2.3.4', 'CT', '', '', '', '', '', 2, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            async with engine.begin() as conn:
                for n, raw in ((1, orjson.dumps(meta)), (2, b"{}")):
                    await conn.execute(
                        INSTANCE_0004.insert().values(
                            id=n, study_id=1, series_id=1, sop_instance_uid=f"1.2.3.4.{n}",
                            sop_class_uid="", transfer_syntax_uid="", number_of_frames=1,
                            state="created", blob_key=f"k{n}", size=0, sha256="", metadata_json=raw,
                            created_at=datetime.now(UTC),
                        )
                    )
            await engine.dispose()

        asyncio.run(seed())
        upgrade(url)

        async def read() -> dict[int, bytes]:
            engine = create_engine(url)
            async with engine.connect() as conn:
                rows = (await conn.execute(select(INSTANCE.c.id, INSTANCE.c.attributes_json))).all()
            await engine.dispose()
            return {row_id: raw for row_id, raw in rows}

        got = asyncio.run(read())
        assert orjson.loads(got[1]) == {k: meta[k] for k in ("00080005", "00280100")}
        assert orjson.loads(got[2]) == {}
    finally:
        if name is not None:
            _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
