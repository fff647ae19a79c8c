"""Analysis detection is retried until it succeeds (issue 12), on SQLite and PostgreSQL.

A study whose evaluation fails (here: its stored object cannot be read) used to be marked
evaluated anyway and never looked at again. Now the claim is released and the study is due again
after another quiet period; once the object is readable the evaluation completes.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import time
from pathlib import Path

import pydicom
from sqlalchemy import select
from starlette.testclient import TestClient

from server.app import create_app
from server.db.analysis import AnalysisWatch
from tests.conftest import authed_client
from tests.dicom_helpers import ct_instance


def _watch(c: TestClient, study: str) -> tuple[int, int, object]:
    ctx = c.app.state.ctx  # type: ignore[attr-defined]

    async def read() -> tuple[int, int, object]:
        async with ctx.engine.connect() as conn:
            row = (await conn.execute(
                select(AnalysisWatch.change_count, AnalysisWatch.evaluated_count, AnalysisWatch.last_change_at)
                .where(AnalysisWatch.study_instance_uid == study))).one()
            return int(row[0]), int(row[1]), row[2]

    return c.portal.call(read)  # type: ignore[union-attr]


def test_a_failed_detection_is_retried_until_it_succeeds(database_url: str, settings_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(database_url, stable_seconds=0.3)
    ds = pydicom.dcmread(io.BytesIO(ct_instance()))
    ds.Modality = "MR"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    blobs = settings.data_dir / "blobs"
    aside = tmp_path / "aside"
    with authed_client(create_app(settings)) as c:
        assert c.post("/dicom-web/studies", content=buf.getvalue(), headers={"Content-Type": "application/dicom"}
                      ).status_code == 200
        # The object becomes unreadable before the quiet period ends: the evaluation fails.
        shutil.move(str(blobs), str(aside))
        _, _, first_change = _watch(c, str(ds.StudyInstanceUID))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            changes, evaluated, last = _watch(c, str(ds.StudyInstanceUID))
            if last != first_change:  # a failed attempt re-armed the watch
                break
            time.sleep(0.1)
        assert last != first_change, "the failed evaluation was not re-armed"
        assert evaluated < changes
        shutil.move(str(aside), str(blobs))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            changes, evaluated, _ = _watch(c, str(ds.StudyInstanceUID))
            if evaluated == changes:
                break
            time.sleep(0.1)
        assert evaluated == changes, "detection was not retried after the failure"
    asyncio.run(asyncio.sleep(0))
