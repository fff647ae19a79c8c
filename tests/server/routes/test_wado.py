"""WADO-RS on SQLite and PostgreSQL: retrieve, metadata, frames, bulk, negotiation, DELETE, CORS, gzip."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from server.app import create_app
from tests.conftest import authed_client
from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart


@pytest.fixture
def client(database_url: str, settings_factory):  # type: ignore[no-untyped-def]
    """The app as deployed behind a proxy for a viewer on another origin (the test client's peer
    address is ``testclient``): CORS for that origin, forwarded headers honoured."""
    settings = settings_factory(database_url, cors_origins="http://ohif.example,http://viewer.example",
                                trusted_proxies="testclient")
    with authed_client(create_app(settings)) as c:
        yield c


def split_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    from dicomweb.multipart import MultipartDecoder, PartData, PartEnd, PartStart, boundary_of

    dec = MultipartDecoder(boundary_of(content_type))
    parts, cur, headers = [], b"", {}
    for ev in [*dec.feed(body), *dec.close()]:
        if isinstance(ev, PartStart):
            headers, cur = ev.headers, b""
        elif isinstance(ev, PartData):
            cur += ev.data
        elif isinstance(ev, PartEnd):
            parts.append((headers, cur))
    return parts


def store_series(client, n=3):  # type: ignore[no-untyped-def]
    study, series = generate_uid(), generate_uid()
    sops = [generate_uid() for _ in range(n)]
    parts = [ct_instance(study=study, series=series, sop=s, number=i + 1) for i, s in enumerate(sops)]
    r = client.post("/dicom-web/studies", content=multipart(parts), headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 200
    return study, series, sops, parts


def test_retrieve_levels_return_stored_bytes(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sops, parts = store_series(client)
    for url in (f"/dicom-web/studies/{study}", f"/dicom-web/studies/{study}/series/{series}"):
        r = client.get(url, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
        assert r.status_code == 200
        got = [data for _, data in split_multipart(r.headers["content-type"], r.content)]
        assert sorted(got) == sorted(parts)
        # Stored bytes have known sizes: the length is announced, no chunked encoding.
        assert int(r.headers["content-length"]) == len(r.content)
    r = client.get(f"/dicom-web/studies/{study}/series/{series}/instances/{sops[1]}")
    assert [d for _, d in split_multipart(r.headers["content-type"], r.content)] == [parts[1]]


def test_metadata_has_bulk_uris_etag_and_forwarded_base(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sops, _ = store_series(client)
    url = f"/dicom-web/studies/{study}/series/{series}/metadata"
    r = client.get(url, headers={"Forwarded": 'proto=https;host="pacs.example.org"', "X-Forwarded-Prefix": "/p"})
    assert r.status_code == 200
    meta = r.json()
    assert len(meta) == 3
    pixel = meta[0]["7FE00010"]
    assert pixel["BulkDataURI"].startswith(f"https://pacs.example.org/p/dicom-web/studies/{study}/series/{series}/")
    assert meta[0]["00100010"]["Value"][0]["Alphabetic"] == "Doe^Jane"
    etag = r.headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag, "Forwarded": 'proto=https;host="pacs.example.org"',
                                    "X-Forwarded-Prefix": "/p"}).status_code == 304
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200  # other base, other ETag
    client.post("/dicom-web/studies", content=multipart([ct_instance(study=study, series=series, number=9)]),
                headers={"Content-Type": STOW_TYPE})
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200


def test_bulk_data_uri_resolves_to_pixel_bytes(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sops, parts = store_series(client, 1)
    meta = client.get(f"/dicom-web/studies/{study}/metadata").json()
    uri = meta[0]["7FE00010"]["BulkDataURI"].removeprefix("http://testserver")
    r = client.get(uri)
    assert r.status_code == 200
    [(_, data)] = split_multipart(r.headers["content-type"], r.content)
    assert data == pydicom.dcmread(io.BytesIO(parts[0])).PixelData


def test_frames_equal_pydicom_pixel_bytes(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sops, parts = store_series(client, 1)
    base = f"/dicom-web/studies/{study}/series/{series}/instances/{sops[0]}/frames"
    for accept in (
        "multipart/related; type=application/octet-stream; transfer-syntax=*",
        'multipart/related; type="application/octet-stream"',
        'multipart/related; type="*/*"',
        None,
    ):
        r = client.get(base + "/1", headers={"Accept": accept} if accept else {})
        assert r.status_code == 200, (accept, r.text)
        [(headers, data)] = split_multipart(r.headers["content-type"], r.content)
        assert headers["content-type"].startswith("application/octet-stream")
        expected = pydicom.dcmread(io.BytesIO(parts[0])).pixel_array.astype("<u2").tobytes()
        assert data == expected
        assert "Accept" in r.headers["vary"].split(", ")  # cached per Accept: single-part and multipart share the URL
    single = client.get(base + "/1", headers={"Accept": "application/octet-stream; transfer-syntax=*"})
    assert single.status_code == 200 and "Accept" in single.headers["vary"].split(", ")
    assert single.headers["content-type"].startswith("application/octet-stream; transfer-syntax=1.2.840.10008.1.2")
    assert single.content == pydicom.dcmread(io.BytesIO(parts[0])).pixel_array.astype("<u2").tobytes()
    assert client.get(base + "/2").status_code == 404
    assert client.get(base + "/0").status_code == 400
    assert client.get(base + "/x").status_code == 400
    assert client.get(base + "/1", headers={"Accept": 'multipart/related; type="image/png"'}).status_code == 406


def test_multi_frame_selection(client) -> None:  # type: ignore[no-untyped-def]
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7.2"
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.NumberOfFrames = 8, 8, 1, 6
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    arr = np.arange(6 * 64, dtype=np.uint8).reshape(6, 8, 8)
    ds.PixelData = arr.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    assert client.post("/dicom-web/studies", content=buf.getvalue(),
                       headers={"Content-Type": "application/dicom"}).status_code == 200
    url = (f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
           f"{ds.SOPInstanceUID}/frames/2,6,1")
    r = client.get(url)
    assert [d for _, d in split_multipart(r.headers["content-type"], r.content)] == [
        arr[1].tobytes(), arr[5].tobytes(), arr[0].tobytes()]


def test_not_found_and_bad_uids(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get(f"/dicom-web/studies/{generate_uid()}/metadata").status_code == 404
    r = client.get("/dicom-web/studies/not-a-uid/metadata")
    assert r.status_code == 400 and "study UID" in r.json()["error"]


def test_delete_levels_remove_rows_and_blobs(client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    study, series, sops, _ = store_series(client)
    blobs = tmp_path / "data" / "blobs"
    count = lambda: sum(1 for p in blobs.rglob("*.dcm"))  # noqa: E731
    before = count()
    assert client.delete(f"/dicom-web/studies/{study}/series/{series}/instances/{sops[0]}").status_code == 204
    assert count() == before - 1
    assert len(client.get(f"/dicom-web/studies/{study}/metadata").json()) == 2
    assert client.delete(f"/dicom-web/studies/{study}/series/{series}").status_code == 204
    assert client.get(f"/dicom-web/studies/{study}/metadata").status_code == 404
    assert client.delete(f"/dicom-web/studies/{study}").status_code == 404
    assert count() == before - 3


def test_cors_on_success_and_error_and_gzip_only_for_json(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sops, _ = store_series(client, 1)
    origin = {"Origin": "http://ohif.example", "Accept-Encoding": "gzip"}
    r = client.get(f"/dicom-web/studies/{study}/metadata", headers=origin)
    assert r.headers["access-control-allow-origin"] in ("*", "http://ohif.example")
    assert r.headers.get("content-encoding") == "gzip"
    r = client.get(f"/dicom-web/studies/{study}/series/{series}/instances/{sops[0]}/frames/1", headers=origin)
    assert "content-encoding" not in r.headers
    r = client.get(f"/dicom-web/studies/{generate_uid()}/metadata", headers=origin)
    assert r.status_code == 404 and "access-control-allow-origin" in r.headers
    pre = client.options("/dicom-web/studies", headers={"Origin": "http://ohif.example",
                                                        "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 200


def test_capabilities(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/dicom-web", "/dicom-web/"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 200 and "WADO-RS" in r.json()["services"]


def test_deflated_and_ybr_422_instances_serve_frames(client) -> None:  # type: ignore[no-untyped-def]
    from pydicom.data import get_testdata_file

    for name in ("image_dfl.dcm", "SC_ybr_full_422_uncompressed.dcm"):
        path = get_testdata_file(name)
        raw = Path(path).read_bytes()
        r = client.post("/dicom-web/studies", content=raw, headers={"Content-Type": "application/dicom"})
        assert r.status_code == 200, (name, r.text)
        ds = pydicom.dcmread(path)
        url = (f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
               f"{ds.SOPInstanceUID}/frames/1")
        f = client.get(url, headers={"Accept": 'multipart/related; type="application/octet-stream"'})
        assert f.status_code == 200, (name, f.text)
        [(headers, data)] = split_multipart(f.headers["content-type"], f.content)
        if name == "image_dfl.dcm":  # decoded from the inflated data set
            assert data == ds.pixel_array.astype(ds.pixel_array.dtype.newbyteorder("<")).tobytes()
        else:  # native 4:2:2: the stored bytes, two samples per pixel
            assert data == ds.PixelData


def test_metadata_never_stale_after_delete_and_new_instance(client) -> None:  # type: ignore[no-untyped-def]
    """SQLite hands a deleted row's id to the next row: count and highest id alone would repeat."""
    study, series, sops, _ = store_series(client, n=3)
    url = f"/dicom-web/studies/{study}/series/{series}/metadata"
    first = client.get(url)
    assert first.status_code == 200
    assert client.get(url).content == first.content  # served again (from the answer cache)
    assert client.delete(f"/dicom-web/studies/{study}/series/{series}/instances/{sops[-1]}").status_code == 204
    newcomer = generate_uid()
    r = client.post("/dicom-web/studies", content=multipart([ct_instance(study=study, series=series, sop=newcomer,
                                                                          number=3)]),
                    headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 200
    second = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200
    assert second.headers["etag"] != first.headers["etag"]
    got = {d["00080018"]["Value"][0] for d in second.json()}
    assert got == {*sops[:-1], newcomer}
