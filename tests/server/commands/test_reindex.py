"""``cirrus reindex`` as a real process on SQLite and PostgreSQL: attribute rows written before the
attribute lists changed (simulated by removing what older versions did not keep) get the QIDO-RS
defaults back from the stored metadata; a second run changes nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from sqlalchemy import update

from server.app import create_app
from server.db.archive import Instance, Series, Study
from tests.conftest import authed_client, live_server_env
from tests.processes import cirrus
from tests.server.routes.test_conformance import store
from tests.server.routes.test_conformance_sweep import full_instance

# What the rows of older versions lacked: TimezoneOffsetFromUTC and Procedure Code Sequence (study),
# Request Attributes Sequence (series), Bits Allocated (instance).
DROPPED = {Study: ("00080201", "00081032"), Series: ("00400275",), Instance: ("00280100",)}


def _old_style(client: Any) -> None:
    ctx = client.app.state.ctx

    async def strip() -> None:
        async with ctx.write() as conn:
            for model, tags in DROPPED.items():
                table = model.__table__  # type: ignore[attr-defined]
                for row_id, raw in (await conn.execute(table.select().with_only_columns(
                        table.c.id, table.c.attributes_json))).all():
                    data = {k: v for k, v in orjson.loads(raw).items() if k not in tags}
                    await conn.execute(update(table).where(table.c.id == row_id).values(
                        attributes_json=orjson.dumps(data)))

    client.portal.call(strip)


def _instance(study: str, series: str, sop: str) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(full_instance(study, series, sop)))
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "MRBR", "99LOCAL", "MR brain"
    ds.ProcedureCodeSequence = [code]
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_reindex_backfills_attribute_rows(database_url: str, settings_factory: Any, tmp_path: Path) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    settings = settings_factory(database_url)
    with authed_client(create_app(settings)) as c:
        store(c, [_instance(study, series, sop)])
        _old_style(c)
        [st] = c.get("/dicom-web/studies", params={"StudyInstanceUID": study}).json()
        [se] = c.get(f"/dicom-web/studies/{study}/series").json()
        [inst] = c.get(f"/dicom-web/studies/{study}/series/{series}/instances").json()
        assert "00080201" not in st and "00400275" not in se and "00280100" not in inst
        r = c.get("/dicom-web/studies", params={"ProcedureCodeSequence.CodeValue": "MRBR"})
        assert study not in [i["0020000D"]["Value"][0] for i in r.json()]  # the old row cannot match

    env = live_server_env(database_url, tmp_path / "data")
    done = cirrus(env, "reindex")
    assert done.returncode == 0, done.stderr
    assert "rewrote the attribute rows of 1 studies, 1 series, 1 instances" in done.stdout, done.stdout

    with authed_client(create_app(settings)) as c:
        [st] = c.get("/dicom-web/studies", params={"StudyInstanceUID": study}).json()
        [se] = c.get(f"/dicom-web/studies/{study}/series").json()
        [inst] = c.get(f"/dicom-web/studies/{study}/series/{series}/instances").json()
        assert st["00080201"]["Value"] == ["+0800"]
        assert se["00400275"]["Value"][0]["00400009"]["Value"] == ["SPS-1"]
        assert inst["00280100"]["Value"] == [16]
        r = c.get("/dicom-web/studies", params={"ProcedureCodeSequence.CodeValue": "MRBR"})
        assert [i["0020000D"]["Value"][0] for i in r.json()] == [study]
        assert r.json()[0]["00081032"]["Value"][0]["00080104"]["Value"] == ["MR brain"]

    again = cirrus(env, "reindex")
    assert again.returncode == 0 and "rewrote the attribute rows of 0 studies, 0 series, 0 instances" in again.stdout
