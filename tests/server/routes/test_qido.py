"""QIDO-RS over HTTP on SQLite and PostgreSQL (PS3.18 §10.6).

The archive is filled through the real STOW-RS route (synthetic instances
plus pydicom's bundled CT/MR/NM files); rows of interrupted stores (state
``creating``, as ingest's first phase leaves them) are added directly and
must stay invisible.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from sqlalchemy import insert, select

from server.db.archive import Instance, Series, Study
from server.services.indexing import extract_index
from tests.dicom_helpers import STOW_TYPE, multipart

STUDY = Study.__table__
SERIES = Series.__table__
INSTANCE = Instance.__table__
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ROOT = "1.2.826.0.1.3680043.10.1010"


@dataclass(frozen=True)
class Spec:
    """One synthetic instance; UIDs derive from the short names."""

    study: str
    series: str
    number: int
    patient_name: str
    patient_id: str
    study_date: str
    modality: str
    series_number: int | None
    study_time: str = "101500"
    study_description: str = ""
    series_description: str = ""
    accession: str = ""
    referring: str = ""
    state: str = "created"


def uid(*parts: object) -> str:
    return ".".join([ROOT, *(str(p) for p in parts)])


SPECS = [
    # study 1: brain MRI with two visible series
    *[Spec("1", "1", n, "Doe^John", "P001", "20240315", "MR", 1, study_description="Brain MRI",
           series_description="T1 MPRAGE", accession="ACC001", referring="House^Gregory") for n in (1, 2)],
    Spec("1", "2", 1, "Doe^John", "P001", "20240315", "MR", 2, study_description="Brain MRI",
         series_description="pCASL ASL", accession="ACC001", referring="House^Gregory"),
    # study 1, a third series whose only instance is still being written: invisible
    Spec("1", "3", 1, "Doe^John", "P001", "20240315", "CT", 3, state="creating"),
    # study 2: CT, wildcard target
    *[Spec("2", "1", n, "SYNTH^Alice", "P002", "20231201", "CT", 5, study_time="083000",
           study_description="Chest CT", series_description="Axial") for n in (1, 2, 3)],
    Spec("2", "2", 1, "SYNTH^Alice", "P002", "20231201", "SR", None, study_time="083000",
         study_description="Chest CT"),
    # study 3: lower-case stored name, PT
    Spec("3", "1", 1, "synthetic^bob", "P003", "20240101", "PT", 1, study_time="230000",
         study_description="PET WB"),
    # study 4: no study date, multi-word given name
    Spec("4", "1", 1, "Smith^Jane Mary", "P004", "", "MR", 1, study_description="Knee"),
    # study 5: only a creating instance: invisible
    Spec("5", "1", 1, "Hidden^Person", "P005", "20240601", "MR", 1, state="creating"),
    # study 6: LIKE metacharacters in the name; no modality
    Spec("6", "1", 1, "O_BRIEN%^TOM", "P006", "20240315", "", 1, study_description="100% sure"),
    Spec("7", "1", 1, "OXBRIEN^TOM", "P007", "20220101", "OT", 1),
]
# pydicom's bundled real files (CT 2004-01-19, MR 2004-08-26, NM 2004-08-26)
BUNDLED = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"]


def synthetic(spec: Spec) -> Dataset:
    ds = Dataset()
    ds.preamble = b"\0" * 128  # a Part 10 file however it is written (dicomweb-client uses dcmwrite)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MR_STORAGE
    ds.SOPClassUID = MR_STORAGE
    ds.SOPInstanceUID = uid(spec.study, spec.series, spec.number)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = uid(spec.study)
    ds.SeriesInstanceUID = uid(spec.study, spec.series)
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.patient_id
    ds.StudyDate = spec.study_date
    ds.StudyTime = spec.study_time
    ds.StudyDescription = spec.study_description
    ds.AccessionNumber = spec.accession
    ds.ReferringPhysicianName = spec.referring
    if spec.modality:
        ds.Modality = spec.modality
    if spec.series_number is not None:
        ds.SeriesNumber = spec.series_number
    ds.SeriesDescription = spec.series_description
    ds.SeriesDate = spec.study_date
    ds.InstanceNumber = spec.number
    ds.SliceThickness = "3.0"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = bytes(range(128))
    return ds


def part10(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


async def _insert_creating(ctx: Any, datasets: list[Dataset]) -> None:
    """Rows as ingest's first phase leaves them when the process dies before the blob is written."""
    now = datetime.now(UTC)
    async with ctx.engine.begin() as conn:
        for ds in datasets:
            rec = extract_index(ds)
            study_uid = rec.study["study_instance_uid"]
            study_id = (
                await conn.execute(select(STUDY.c.id).where(STUDY.c.study_instance_uid == study_uid))
            ).scalar()
            if study_id is None:
                study_id = (await conn.execute(
                    insert(STUDY).values(
                        **rec.study, institution_id=ctx.institution_id, modalities_in_study="",
                        number_of_series=0, number_of_instances=0,
                        attributes_json=orjson.dumps(rec.study_json), created_at=now, updated_at=now,
                    ).returning(STUDY.c.id)
                )).scalar_one()
            series_id = (await conn.execute(
                insert(SERIES).values(
                    **rec.series, study_id=study_id, number_of_instances=0,
                    attributes_json=orjson.dumps(rec.series_json), created_at=now, updated_at=now,
                ).returning(SERIES.c.id)
            )).scalar_one()
            await conn.execute(
                insert(INSTANCE).values(
                    **rec.instance, study_id=study_id, series_id=series_id, state="creating",
                    transfer_syntax_uid=ExplicitVRLittleEndian, blob_key=f"pending/{ds.SOPInstanceUID}",
                    size=0, sha256="", metadata_json=b"{}", created_at=now,
                )
            )


@pytest.fixture
def archive(client):  # type: ignore[no-untyped-def]
    """Everything stored through STOW-RS, then rows of interrupted stores added."""
    parts = [part10(synthetic(s)) for s in SPECS if s.state == "created"]
    parts += [Path(get_testdata_file(name)).read_bytes() for name in BUNDLED]
    r = client.post(
        "/dicom-web/studies", content=multipart(parts), headers={"Content-Type": STOW_TYPE}
    )
    assert r.status_code == 200, r.text
    creating = [synthetic(s) for s in SPECS if s.state == "creating"]
    client.portal.call(_insert_creating, client.app.state.ctx, creating)
    return client


def visible_specs() -> list[Spec]:
    return [s for s in SPECS if s.state == "created"]


def values(item: dict[str, Any], keyword: str) -> list[Any]:
    from pydicom.datadict import tag_for_keyword

    tag = f"{tag_for_keyword(keyword):08X}"
    return item.get(tag, {}).get("Value", [])


def first(item: dict[str, Any], keyword: str) -> Any:
    found = values(item, keyword)
    return found[0] if found else None


def study_uids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [first(item, "StudyInstanceUID") for item in response.json()]


# ------------------------------------------------------------------ studies


def test_studies_lists_visible_studies_newest_first_with_ohif_attributes(archive) -> None:
    r = archive.get("/dicom-web/studies")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/dicom+json")
    items = r.json()
    by_uid = {first(i, "StudyInstanceUID"): i for i in items}
    expected_synthetic = {uid(s.study) for s in visible_specs()}
    bundled = {str(dcmread(get_testdata_file(n)).StudyInstanceUID) for n in BUNDLED}
    assert set(by_uid) == expected_synthetic | bundled
    assert uid("5") not in by_uid

    dates = [first(i, "StudyDate") or "" for i in items]
    assert dates == sorted(dates, reverse=True)

    s1 = by_uid[uid("1")]
    assert values(s1, "ModalitiesInStudy") == ["MR"]  # the CT series is still "creating"
    assert first(s1, "NumberOfStudyRelatedSeries") == 2
    assert first(s1, "NumberOfStudyRelatedInstances") == 3
    assert first(s1, "StudyDescription") == "Brain MRI"
    assert first(s1, "PatientName") == {"Alphabetic": "Doe^John"}
    assert first(s1, "RetrieveURL") == f"http://testserver/dicom-web/studies/{uid('1')}"
    s2 = by_uid[uid("2")]
    assert values(s2, "ModalitiesInStudy") == ["CT", "SR"]
    assert first(s2, "NumberOfStudyRelatedInstances") == 4
    # A study without any modality omits ModalitiesInStudy rather than sending it empty.
    tag = "00080061"
    assert tag not in by_uid[uid("6")]
    assert all(v.get("Value") for i in items for k, v in i.items() if k == tag)


def test_study_matching(archive) -> None:
    ct = str(dcmread(get_testdata_file("CT_small.dcm")).StudyInstanceUID)
    mr = str(dcmread(get_testdata_file("MR_small.dcm")).StudyInstanceUID)
    nm = str(dcmread(get_testdata_file("JPEG2000.dcm")).StudyInstanceUID)
    cases: list[tuple[str, set[str]]] = [
        ("PatientID=P002", {uid("2")}),
        ("00100020=P002", {uid("2")}),
        ("PatientName=doe^john", {uid("1")}),
        ("PatientName=SYNTH%2A", {uid("2"), uid("3")}),
        ("PatientName=*ali*", {uid("2")}),
        ("PatientName=SYNTH?TIC*", {uid("3")}),
        ("PatientName=O_B*", {uid("6")}),  # "_" is literal, not a SQL wildcard
        ("PatientName=*%25*", {uid("6")}),
        ("PatientName=jo&fuzzymatching=true", {uid("1")}),
        ("PatientName=mary&fuzzymatching=true", {uid("4")}),
        ("PatientName=bob&fuzzymatching=true", {uid("3")}),
        ("PatientName=ohn&fuzzymatching=true", set()),
        ("PatientName=CompressedSamples*", {ct, mr, nm}),
        ("ReferringPhysicianName=house*", {uid("1")}),
        ("StudyDate=20240315", {uid("1"), uid("6")}),
        ("StudyDate=20240101-20241231", {uid("1"), uid("3"), uid("6")}),
        ("StudyDate=-20040826", {ct, mr, nm}),
        ("StudyDate=20231201-", {uid("1"), uid("2"), uid("3"), uid("6")}),
        ("StudyDate=20231201-&StudyTime=08-09", {uid("2")}),
        ("StudyTime=23", {uid("3")}),
        ("StudyInstanceUID=" + uid("1") + "%5C" + uid("3"), {uid("1"), uid("3")}),
        ("StudyInstanceUID=" + uid("1") + "," + uid("2"), {uid("1"), uid("2")}),
        ("StudyInstanceUID=" + uid("5"), set()),
        ("ModalitiesInStudy=PT", {uid("3")}),
        ("ModalitiesInStudy=SR", {uid("2")}),
        ("ModalitiesInStudy=CT", {uid("2"), ct}),  # study 1's CT series is not created yet
        ("ModalitiesInStudy=PT%5CNM", {uid("3"), nm}),
        ("ModalitiesInStudy=P*", {uid("3")}),
        ("ModalitiesInStudy=C?", {uid("2"), ct}),
        ("ModalitiesInStudy=T", set()),  # a part of a modality is not the modality
        ("StudyDescription=Brain*", {uid("1")}),
        ("StudyDescription=brain*", set()),  # only person names ignore case
        ("StudyDescription=100%25*", {uid("6")}),
        ("AccessionNumber=ACC001", {uid("1")}),
        ("PatientName=&PatientID=P00?", {uid(s) for s in ("1", "2", "3", "4", "6", "7")}),
        ("PatientName=*&StudyDate=20240315", {uid("1"), uid("6")}),
    ]
    for query, expected in cases:
        got = study_uids(archive.get(f"/dicom-web/studies?{query}"))
        assert set(got) == expected, query
        assert len(got) == len(set(got)), query


def test_paging_is_stable_and_complete(archive) -> None:
    everything = study_uids(archive.get("/dicom-web/studies"))
    assert len(everything) == 9
    pages: list[str] = []
    for offset in range(0, len(everything) + 3, 3):
        pages += study_uids(archive.get(f"/dicom-web/studies?limit=3&offset={offset}"))
    assert pages == everything
    assert study_uids(archive.get(f"/dicom-web/studies?offset={len(everything)}")) == []


def test_server_cap_truncates_and_says_so(archive) -> None:
    from dicomweb.qido import QueryLevel, parse_query
    from server.auth.visibility import system_principal
    from server.services.qido import QidoService

    service = QidoService(archive.app.state.ctx, max_results=3)
    admin = system_principal(archive.app.state.ctx.institution_id)

    def search(params: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
        query = parse_query(QueryLevel.STUDY, params)
        return archive.portal.call(service.search, query, "http://testserver/dicom-web/", admin)

    everything = study_uids(archive.get("/dicom-web/studies"))
    capped = search([])
    assert capped.truncated and [first(i, "StudyInstanceUID") for i in capped.items] == everything[:3]
    assert search([("limit", "5")]).truncated  # asked for more than the cap allows
    within = search([("limit", "2"), ("offset", "7")])
    assert not within.truncated
    assert [first(i, "StudyInstanceUID") for i in within.items] == everything[7:9]
    assert not search([("offset", str(len(everything) - 3))]).truncated


def test_ohif_study_list_request(archive) -> None:
    r = archive.get(
        "/dicom-web/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060"
    )
    items = r.json()
    assert r.status_code == 200 and len(items) == len(study_uids(r))
    s1 = next(i for i in items if first(i, "StudyInstanceUID") == uid("1"))
    assert first(s1, "StudyDescription") == "Brain MRI"
    assert values(s1, "ModalitiesInStudy") == ["MR"]


# ------------------------------------------------------------ series, instances


def test_series_resources(archive) -> None:
    r = archive.get(f"/dicom-web/studies/{uid('1')}/series")
    assert r.status_code == 200
    items = r.json()
    assert [first(i, "SeriesInstanceUID") for i in items] == [uid("1", "1"), uid("1", "2")]
    t1 = items[0]
    assert first(t1, "Modality") == "MR"
    assert first(t1, "SeriesNumber") == 1
    assert first(t1, "SeriesDescription") == "T1 MPRAGE"
    assert first(t1, "SeriesDate") == "20240315"
    assert first(t1, "NumberOfSeriesRelatedInstances") == 2
    assert first(t1, "StudyInstanceUID") == uid("1")
    assert first(t1, "RetrieveURL").endswith(f"/studies/{uid('1')}/series/{uid('1', '1')}")
    assert first(t1, "PatientName") is None  # the path fixes the study: no study attributes

    r = archive.get(f"/dicom-web/studies/{uid('1')}/series?includefield=0008103E%2C00080021&Modality=MR")
    assert [first(i, "SeriesInstanceUID") for i in r.json()] == [uid("1", "1"), uid("1", "2")]

    # All series: study attributes come along; SR series without a number sorts last.
    r = archive.get("/dicom-web/series?PatientID=P002")
    items = r.json()
    assert [first(i, "SeriesInstanceUID") for i in items] == [uid("2", "1"), uid("2", "2")]
    assert first(items[0], "PatientName") == {"Alphabetic": "SYNTH^Alice"}

    cases: list[tuple[str, set[str]]] = [
        ("Modality=PT", {uid("3", "1")}),
        ("Modality=CT", {uid("2", "1"), str(dcmread(get_testdata_file("CT_small.dcm")).SeriesInstanceUID)}),
        ("Modality=PT%5CSR", {uid("3", "1"), uid("2", "2")}),
        ("SeriesDescription=*ASL*", {uid("1", "2")}),
        ("SeriesNumber=2&PatientID=P001", {uid("1", "2")}),
        ("StudyDate=20240315&SeriesNumber=1", {uid("1", "1"), uid("6", "1")}),
        (f"SeriesInstanceUID={uid('1', '3')}", set()),  # creating only
    ]
    for query, expected in cases:
        r = archive.get(f"/dicom-web/series?{query}")
        assert r.status_code == 200, (query, r.text)
        assert {first(i, "SeriesInstanceUID") for i in r.json()} == expected, query
    assert archive.get(f"/dicom-web/studies/{uid('5')}/series").json() == []


def test_instance_resources(archive) -> None:
    base = f"/dicom-web/studies/{uid('2')}/series/{uid('2', '1')}/instances"
    items = archive.get(base).json()
    assert [first(i, "SOPInstanceUID") for i in items] == [uid("2", "1", n) for n in (1, 2, 3)]
    one = items[0]
    assert first(one, "SOPClassUID") == MR_STORAGE
    assert first(one, "InstanceNumber") == 1
    assert first(one, "Rows") == 8
    assert first(one, "NumberOfFrames") == 1
    assert first(one, "SliceThickness") is None
    assert first(one, "Modality") is None  # series fixed by the path
    assert first(one, "RetrieveURL").endswith(f"/series/{uid('2', '1')}/instances/{uid('2', '1', 1)}")

    items = archive.get(f"{base}?InstanceNumber=2&includefield=SliceThickness,00280100").json()
    assert [first(i, "SOPInstanceUID") for i in items] == [uid("2", "1", 2)]
    assert first(items[0], "SliceThickness") == 3.0
    assert first(items[0], "BitsAllocated") == 16

    items = archive.get(f"{base}?includefield=all&limit=1").json()
    assert len(items) == 1 and first(items[0], "SliceThickness") == 3.0

    study_items = archive.get(f"/dicom-web/studies/{uid('1')}/instances").json()
    assert [first(i, "SOPInstanceUID") for i in study_items] == [
        uid("1", "1", 1), uid("1", "1", 2), uid("1", "2", 1)
    ]
    assert first(study_items[0], "Modality") == "MR"  # series attributes: not fixed by the path

    items = archive.get("/dicom-web/instances?PatientID=P001&SeriesNumber=2").json()
    assert [first(i, "SOPInstanceUID") for i in items] == [uid("1", "2", 1)]
    assert first(items[0], "PatientID") == "P001"
    nm = dcmread(get_testdata_file("JPEG2000.dcm"))
    items = archive.get(f"/dicom-web/instances?SOPInstanceUID={nm.SOPInstanceUID}&includefield=all").json()
    assert len(items) == 1
    pixel = items[0]["7FE00010"]
    assert pixel["BulkDataURI"].startswith("http://testserver/dicom-web/")
    assert archive.get(f"/dicom-web/instances?SOPInstanceUID={uid('1', '3', 1)}").json() == []


# ------------------------------------------------------------- protocol edges


def test_media_types_and_proxy_urls(archive) -> None:
    r = archive.get("/dicom-web/studies?PatientID=P001", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    r = archive.get("/dicom-web/studies?PatientID=P001", headers={"Accept": "application/dicom+xml"})
    assert r.status_code == 406
    r = archive.get("/dicom-web/studies?PatientID=nobody")
    assert r.status_code == 200 and r.json() == []
    r = archive.get(
        "/dicom-web/studies?PatientID=P001",
        headers={"Forwarded": 'for=10.0.0.1;proto=https;host="pacs.example.org"'},
    )
    # The test client is no trusted proxy (CIRRUS_TRUSTED_PROXIES): its forwarded host is ignored;
    # test_wado and test_web_hardening cover URLs built from a trusted proxy's headers.
    assert first(r.json()[0], "RetrieveURL") == f"http://testserver/dicom-web/studies/{uid('1')}"


def test_bad_queries_are_400_naming_the_problem(archive) -> None:
    cases = [
        ("/studies?NoSuchKeyword=1", "NoSuchKeyword"),
        ("/studies?00191010=1", "00191010"),
        ("/studies?Modality=MR", "Modality"),
        ("/series?SOPInstanceUID=1.2", "SOPInstanceUID"),
        ("/studies?SliceThickness=3", "SliceThickness"),
        ("/studies?StudyDate=2024-13-01", "StudyDate"),
        ("/studies?StudyDate=20241301", "StudyDate"),
        ("/studies?StudyDate=20241231-20240101", "StudyDate"),
        ("/studies?StudyDate=2024*", "StudyDate"),
        ("/studies?StudyTime=2599", "StudyTime"),
        ("/studies?StudyInstanceUID=1.2.abc", "StudyInstanceUID"),
        ("/studies?StudyInstanceUID=1.2*", "StudyInstanceUID"),
        ("/series?SeriesNumber=one", "SeriesNumber"),
        ("/studies?limit=-1", "limit"),
        ("/studies?limit=ten", "limit"),
        ("/studies?offset=-5", "offset"),
        ("/studies?fuzzymatching=maybe", "fuzzymatching"),
        ("/studies?includefield=Nonsense", "Nonsense"),
        ("/studies?PatientID=a&PatientID=b", "PatientID"),
        ("/studies?ReferencedSeriesSequence.SeriesInstanceUID=1.2", "ReferencedSeriesSequence"),
        ("/studies/not-a-uid/series", "not-a-uid"),
    ]
    for path, named in cases:
        r = archive.get(f"/dicom-web{path}")
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert named in r.json()["error"], (path, r.json())


# -------------------------------------------------------------------- indexes


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("PatientName=SMI*", {"sqlite": "ix_study_patient_name_upper", "postgresql":
                              "ix_study_patient_name_upper_pattern"}),
        ("PatientID=PID0*", {"sqlite": "ix_study_patient_id", "postgresql": "ix_study_patient_id_pattern"}),
        ("StudyDate=20240101-20241231", {"sqlite": "ix_study_date_time", "postgresql": "ix_study_date_time"}),
    ],
)
def test_generated_matching_uses_an_index(database_url: str, query: str, index: dict[str, str]) -> None:
    """The generator's clauses are index-usable (migration 0002 on PostgreSQL, GLOB on SQLite)."""
    import asyncio
    from urllib.parse import parse_qsl

    from dicomweb.qido import QueryLevel, parse_query
    from server.db.database import create_engine
    from server.services.qido import match_clause

    (match,) = parse_query(QueryLevel.STUDY, parse_qsl(query)).matches

    async def plan() -> str:
        engine = create_engine(database_url)
        dialect = engine.dialect.name
        stmt = select(STUDY.c.id).where(match_clause(match, dialect))
        sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        try:
            async with engine.connect() as conn:
                if dialect == "sqlite":
                    rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)).all()
                    return "\n".join(str(r[-1]) for r in rows)
                # An empty table is scanned whatever the indexes; forbid that to see what is usable.
                await conn.exec_driver_sql("SET enable_seqscan = off")
                rows = (await conn.exec_driver_sql("EXPLAIN " + sql)).all()
                return "\n".join(str(r[0]) for r in rows)
        finally:
            await engine.dispose()

    text_plan = asyncio.run(plan())
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    lines = [line for line in text_plan.splitlines() if re.search(rf"\b{index[dialect]}\b", line)]
    assert lines, text_plan
    # A search on the index (not a full scan of it): SQLite says SEARCH, PostgreSQL has an Index Cond.
    assert ("SEARCH" in lines[0]) if dialect == "sqlite" else ("Index Cond" in text_plan), text_plan
