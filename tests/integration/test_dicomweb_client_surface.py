"""dicomweb-client's whole API surface against a live ``cirrus serve`` (SQLite and PostgreSQL):
store, search at every level, retrieve studies / series / instances / metadata / frames / bulk
data (default syntax and as stored), rendered, thumbnails (plain HTTP: the client has no call for
them) and delete. Values are compared with the files that were stored."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid

from tests.conftest import LiveServer, live_server_env
from tests.dicom_helpers import ct_instance

ELE = "1.2.840.10008.1.2.1"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


def relabelled(name: str, study: str, series: str) -> Dataset:
    ds = dcmread(get_testdata_file(name))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def multiframe(study: str, series: str) -> Dataset:
    """10 native 64x64 16-bit frames, each frame a different ramp."""
    ds = dcmread(io.BytesIO(ct_instance(study=study, series=series, size=64, number=2)))
    ds.NumberOfFrames = 10
    frames = np.arange(10 * 64 * 64, dtype="<u2").reshape(10, 64, 64) % 4096
    ds.PixelData = frames.tobytes()
    return ds


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A live server that knows its public URL: dicomweb-client sends ``Host`` without the port
    (dicomweb_client.web sets it from the host name), so URLs built from the request would lose it."""
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    server = LiveServer(live_server_env(database_url, data_dir), data_dir)
    server.env["CIRRUS_PUBLIC_URL"] = server.url
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def archive(live: LiveServer) -> tuple[DICOMwebClient, LiveServer, dict[str, Dataset]]:
    study, series = generate_uid(), generate_uid()
    objects = {
        "ct": relabelled("CT_small.dcm", study, series),
        "multiframe": multiframe(study, series),
        "jpeg": relabelled("SC_rgb_jpeg_dcmtk.dcm", study, generate_uid()),  # JPEG baseline, another series
    }
    dw = DICOMwebClient(url=live.dicomweb_url, headers=live.headers)
    response = dw.store_instances(list(objects.values()))
    assert "FailedSOPSequence" not in response
    assert len(response.ReferencedSOPSequence) == 3
    assert response.RetrieveURL == f"{live.dicomweb_url}/studies/{study}"
    return dw, live, objects


def test_search_at_every_level(archive) -> None:  # type: ignore[no-untyped-def]
    dw, _, objects = archive
    ct = objects["ct"]
    [study] = dw.search_for_studies(search_filters={"StudyInstanceUID": ct.StudyInstanceUID})
    assert Dataset.from_json(study).NumberOfStudyRelatedInstances == 3
    series = [Dataset.from_json(s) for s in dw.search_for_series(study_instance_uid=ct.StudyInstanceUID)]
    assert sorted(s.SeriesInstanceUID for s in series) == sorted({o.SeriesInstanceUID for o in objects.values()})
    found = dw.search_for_series(search_filters={"SeriesInstanceUID": ct.SeriesInstanceUID})
    assert Dataset.from_json(found[0]).NumberOfSeriesRelatedInstances == 2
    instances = [Dataset.from_json(i) for i in dw.search_for_instances(
        study_instance_uid=ct.StudyInstanceUID, series_instance_uid=ct.SeriesInstanceUID)]
    by_uid = {i.SOPInstanceUID: i for i in instances}
    mf = by_uid[objects["multiframe"].SOPInstanceUID]
    assert (mf.NumberOfFrames, mf.Rows, mf.Columns, mf.BitsAllocated) == (10, 64, 64, 16)
    everywhere = dw.search_for_instances(search_filters={"SOPInstanceUID": objects["jpeg"].SOPInstanceUID},
                                         fields=["PhotometricInterpretation"])
    assert Dataset.from_json(everywhere[0]).PhotometricInterpretation == objects["jpeg"].PhotometricInterpretation


def test_retrieve_study_series_instance_and_metadata(archive) -> None:  # type: ignore[no-untyped-def]
    dw, _, objects = archive
    ct, jpeg = objects["ct"], objects["jpeg"]
    study = dw.retrieve_study(ct.StudyInstanceUID)
    assert sorted(d.SOPInstanceUID for d in study) == sorted(o.SOPInstanceUID for o in objects.values())
    # No syntax named: Explicit VR Little Endian everywhere (PS3.18 §8.7.3.5.2), the JPEG decoded.
    assert {d.file_meta.TransferSyntaxUID for d in study} == {ELE}
    series = dw.retrieve_series(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    assert sorted(d.SOPInstanceUID for d in series) == sorted([ct.SOPInstanceUID, objects["multiframe"].SOPInstanceUID])
    got = dw.retrieve_instance(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert got.PatientName == ct.PatientName and (got.pixel_array == ct.pixel_array).all()
    # dicomweb-client asks for one instance with transfer-syntax=* by default: the stored JPEG.
    as_stored = dw.retrieve_instance(jpeg.StudyInstanceUID, jpeg.SeriesInstanceUID, jpeg.SOPInstanceUID)
    assert as_stored.file_meta.TransferSyntaxUID == JPEG_BASELINE and as_stored.PixelData == jpeg.PixelData
    decoded = dw.retrieve_instance(jpeg.StudyInstanceUID, jpeg.SeriesInstanceUID, jpeg.SOPInstanceUID,
                                   media_types=(("application/dicom", ELE),))
    assert decoded.file_meta.TransferSyntaxUID == ELE
    assert np.abs(decoded.pixel_array.astype(int) - jpeg.pixel_array.astype(int)).max() <= 2
    assert len(list(dw.iter_study(ct.StudyInstanceUID))) == 3
    assert len(list(dw.iter_series(ct.StudyInstanceUID, ct.SeriesInstanceUID))) == 2

    meta = dw.retrieve_instance_metadata(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert meta["00100010"]["Value"] == [{"Alphabetic": str(ct.PatientName)}]
    assert "BulkDataURI" in meta["7FE00010"]
    assert len(dw.retrieve_series_metadata(ct.StudyInstanceUID, ct.SeriesInstanceUID)) == 2
    assert len(dw.retrieve_study_metadata(ct.StudyInstanceUID)) == 3


def test_frames_and_bulk_data(archive) -> None:  # type: ignore[no-untyped-def]
    dw, _, objects = archive
    mf, jpeg = objects["multiframe"], objects["jpeg"]
    size = mf.Rows * mf.Columns * 2
    frames = dw.retrieve_instance_frames(mf.StudyInstanceUID, mf.SeriesInstanceUID, mf.SOPInstanceUID, [2, 10])
    assert frames == [mf.PixelData[size:2 * size], mf.PixelData[9 * size:]]
    assert list(dw.iter_instance_frames(mf.StudyInstanceUID, mf.SeriesInstanceUID, mf.SOPInstanceUID, [1])) == \
        [mf.PixelData[:size]]
    [stored] = list(generate_frames(jpeg.PixelData, number_of_frames=1))
    [as_jpeg] = dw.retrieve_instance_frames(jpeg.StudyInstanceUID, jpeg.SeriesInstanceUID, jpeg.SOPInstanceUID, [1],
                                            media_types=(("image/jpeg", JPEG_BASELINE),))
    assert as_jpeg.rstrip(b"\0") == stored.rstrip(b"\0")
    [raw] = dw.retrieve_instance_frames(jpeg.StudyInstanceUID, jpeg.SeriesInstanceUID, jpeg.SOPInstanceUID, [1],
                                        media_types=(("application/octet-stream", ELE),))
    assert len(raw) == jpeg.Rows * jpeg.Columns * 3

    meta = dw.retrieve_instance_metadata(mf.StudyInstanceUID, mf.SeriesInstanceUID, mf.SOPInstanceUID)
    uri = meta["7FE00010"]["BulkDataURI"]
    assert b"".join(dw.retrieve_bulkdata(uri)) == mf.PixelData
    assert b"".join(dw.iter_bulkdata(uri)) == mf.PixelData


def test_rendered_and_thumbnails(archive) -> None:  # type: ignore[no-untyped-def]
    dw, live, objects = archive
    mf, ct = objects["multiframe"], objects["ct"]
    uids = (mf.StudyInstanceUID, mf.SeriesInstanceUID, mf.SOPInstanceUID)
    jpeg = dw.retrieve_instance_rendered(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert jpeg[:2] == b"\xff\xd8"
    png = dw.retrieve_instance_rendered(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID,
                                        media_types=("image/png",), params={"window": "100,200,linear"})
    assert Image.open(io.BytesIO(png)).size == (ct.Columns, ct.Rows)
    framed = dw.retrieve_instance_frames_rendered(*uids, [3], media_types=("image/png",))
    assert Image.open(io.BytesIO(framed)).size == (mf.Columns, mf.Rows)
    # A series renders as one part per instance (its first frame); the client hands back the body as is.
    series = dw.retrieve_series_rendered(mf.StudyInstanceUID, mf.SeriesInstanceUID)
    assert series.count(b"Content-Type: image/jpeg\r\n\r\n\xff\xd8") == 2
    base = f"{live.dicomweb_url}/studies/{mf.StudyInstanceUID}"
    for url in (f"{base}/thumbnail", f"{base}/series/{mf.SeriesInstanceUID}/thumbnail",
                f"{base}/series/{mf.SeriesInstanceUID}/instances/{mf.SOPInstanceUID}/thumbnail"):
        r = requests.get(url, headers={**live.headers, "Accept": "image/png"}, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", url
        assert max(Image.open(io.BytesIO(r.content)).size) <= 256


def test_delete(archive) -> None:  # type: ignore[no-untyped-def]
    dw, _, objects = archive
    ct, mf, jpeg = objects["ct"], objects["multiframe"], objects["jpeg"]
    dw.delete_instance(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    left = dw.search_for_instances(study_instance_uid=ct.StudyInstanceUID, series_instance_uid=ct.SeriesInstanceUID)
    assert [Dataset.from_json(i).SOPInstanceUID for i in left] == [mf.SOPInstanceUID]
    dw.delete_series(jpeg.StudyInstanceUID, jpeg.SeriesInstanceUID)
    assert [Dataset.from_json(s).SeriesInstanceUID for s in dw.search_for_series(
        study_instance_uid=ct.StudyInstanceUID)] == [mf.SeriesInstanceUID]
    dw.delete_study(ct.StudyInstanceUID)
    assert dw.search_for_studies(search_filters={"StudyInstanceUID": ct.StudyInstanceUID}) == []
