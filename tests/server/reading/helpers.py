"""Reading workflow test ground: an alliance of hospitals, doctors as Principal values, a stored study."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pydicom
from sqlalchemy import update
from sqlmodel import col

from server.auth.principal import AuthMethod, Principal, Role
from server.context import AppContext
from server.db.archive import Institution, Study
from server.services.ingest import IngestService
from tests.dicom_helpers import ct_instance


@dataclass
class Alliance:
    county: int  # the requesting hospital
    city: int  # its superior
    province: int  # the superior of the city hospital (assistance)
    other: int  # a hospital outside the chain


async def make_alliance(ctx: AppContext, tag: str = "") -> Alliance:
    async with ctx.write_session() as s:
        province = Institution(name=f"Province{tag}")
        s.add(province)
        await s.flush()
        city = Institution(name=f"City{tag}", parent_id=province.id)
        s.add(city)
        other = Institution(name=f"Other{tag}")
        s.add(other)
        await s.flush()
        county = Institution(name=f"County{tag}", parent_id=city.id)
        s.add(county)
        await s.commit()
        return Alliance(county.id or 0, city.id or 0, province.id or 0, other.id or 0)


def doctor(institution: int, role: Role, user_id: int, name: str) -> Principal:
    return Principal(method=AuthMethod.SESSION, institution_id=institution, role=role, user_id=user_id, username=name)


async def store_study(ctx: AppContext, institution: int, patient: str = "Zhang^San", n: int = 2
                      ) -> tuple[str, list[pydicom.Dataset]]:
    """A small CT study stored through ingest and owned by ``institution``."""
    study = pydicom.uid.generate_uid()
    series = pydicom.uid.generate_uid()
    datasets = [pydicom.dcmread(io.BytesIO(ct_instance(study, series, number=i + 1, patient=patient)))
                for i in range(n)]
    outcomes = await IngestService(ctx).ingest_datasets(datasets, expected_study_uid=study)
    assert all(o.status != "failed" for o in outcomes), outcomes
    async with ctx.write() as conn:
        await conn.execute(
            update(Study).where(col(Study.study_instance_uid) == study).values(institution_id=institution)
        )
    return study, datasets
