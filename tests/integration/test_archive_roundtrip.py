"""Every shared DICOM file through STOW → QIDO → WADO with the third-party ``dicomweb-client``,
against a real ``cirrus serve`` process.

The whole shared data set runs on SQLite + filesystem and on PostgreSQL + S3 (moto server), so
every file meets both databases and both stores; the two mixed pairings run the transfer-syntax
samples and the Siemens series (every syntax, mosaics, multi-series studies) to keep CI short.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.encaps import generate_frames

from tests.conftest import LiveServer, live_server_env, make_database_url
from tests.dicom_helpers import shared_dicom_files
from tests.s3_fixtures import new_bucket, s3_env

NATIVE_LE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


FULL = ("sqlite-fs", "postgres-s3")


@pytest.fixture(params=["sqlite-fs", "postgres-s3", "postgres-fs", "sqlite-s3"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    db, store = request.param.split("-")
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    extra: dict[str, str] = {}
    if store == "s3":
        endpoint = request.getfixturevalue("s3_server")
        extra = s3_env(endpoint, new_bucket(endpoint))
    for url in make_database_url(db, tmp_path):
        server = LiveServer(live_server_env(url, data_dir, **extra), data_dir).start()
        try:
            yield server
        finally:
            server.stop()


def split(content_type: str, body: bytes) -> list[bytes]:
    from dicomweb.multipart import MultipartDecoder, PartData, PartEnd, PartStart, boundary_of

    dec = MultipartDecoder(boundary_of(content_type))
    parts, cur = [], b""
    for ev in [*dec.feed(body), *dec.close()]:
        if isinstance(ev, PartStart):
            cur = b""
        elif isinstance(ev, PartData):
            cur += ev.data
        elif isinstance(ev, PartEnd):
            parts.append(cur)
    return parts


def expected_frame(ds: pydicom.Dataset, ts: str) -> bytes:
    if ts in NATIVE_LE:
        return ds.PixelData[: len(ds.PixelData) // int(ds.get("NumberOfFrames", 1) or 1)]
    return next(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)))


def test_every_shared_file_round_trips(
    archive: LiveServer, shared_data: Path, request: pytest.FixtureRequest
) -> None:
    files = shared_dicom_files(shared_data)
    assert len(files) > 1000, "expected the shared Philips/Siemens/transfer-syntax files"
    if request.node.callspec.params["archive"] not in FULL:
        files = [f for f in files if "philips" not in f.parts]
    client = DICOMwebClient(archive.dicomweb_url, headers=archive.headers)
    originals: dict[str, bytes] = {}
    by_series: dict[tuple[str, str], list[str]] = defaultdict(list)
    batch: list[pydicom.Dataset] = []
    for path in files:
        raw = path.read_bytes()
        ds = pydicom.dcmread(path)
        originals[ds.SOPInstanceUID] = raw
        by_series[(ds.StudyInstanceUID, ds.SeriesInstanceUID)].append(ds.SOPInstanceUID)
        batch.append(ds)
        if len(batch) == 100:
            client.store_instances(batch)
            batch = []
    if batch:
        client.store_instances(batch)

    # QIDO: every study and series is found with the right counts.
    studies = {s["0020000D"]["Value"][0]: s for s in client.search_for_studies()}
    expected_studies = {st for st, _ in by_series}
    assert set(studies) == expected_studies
    for study_uid in expected_studies:
        series = {s["0020000E"]["Value"][0]: s for s in client.search_for_series(study_uid)}
        mine = {se: sops for (st, se), sops in by_series.items() if st == study_uid}
        assert set(series) == set(mine)
        for se, sops in mine.items():
            assert series[se]["00201209"]["Value"][0] == len(sops)

    session = requests.Session()
    session.headers.update(archive.headers)
    for (study_uid, series_uid), sops in by_series.items():
        # WADO-RS series retrieve: the stored bytes, identical.
        r = session.get(f"{archive.dicomweb_url}/studies/{study_uid}/series/{series_uid}",
                        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
        assert r.status_code == 200
        assert sorted(split(r.headers["Content-Type"], r.content)) == sorted(originals[s] for s in sops)
        # Metadata from the index, one entry per instance.
        meta = client.retrieve_series_metadata(study_uid, series_uid)
        assert sorted(m["00080018"]["Value"][0] for m in meta) == sorted(sops)
        # Frames through dicomweb-client equal pydicom's bytes (first instance of each series).
        sop = sops[0]
        ds = pydicom.dcmread(__import__("io").BytesIO(originals[sop]))
        ts = str(ds.file_meta.TransferSyntaxUID)
        if ts in NATIVE_LE or ds.file_meta.TransferSyntaxUID.is_compressed:
            frames = client.retrieve_instance_frames(study_uid, series_uid, sop, frame_numbers=[1])
            assert frames[0] == expected_frame(ds, ts)
    # A parsed instance through dicomweb-client equals the original data set.
    (study_uid, series_uid), sops = next(iter(by_series.items()))
    got = client.retrieve_instance(study_uid, series_uid, sops[0])
    assert got == pydicom.dcmread(__import__("io").BytesIO(originals[sops[0]]))
