"""PS3.18 conformance items of issue 13 against the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pydicom
from pydicom.uid import generate_uid

from dicomweb.multipart import MultipartDecoder, PartData, PartEnd, PartStart, boundary_of
from dicomweb.xml_model import xml_to_json
from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart


def parts_of(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    dec = MultipartDecoder(boundary_of(content_type))
    out, cur, headers = [], b"", {}
    for ev in [*dec.feed(body), *dec.close()]:
        if isinstance(ev, PartStart):
            headers, cur = ev.headers, b""
        elif isinstance(ev, PartData):
            cur += ev.data
        elif isinstance(ev, PartEnd):
            out.append((headers, cur))
    return out


def with_private(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.private_block(0x0009, "OTHER VENDOR", create=True).add_new(0x01, "LO", "not asked")
    ds.private_block(0x0009, "ACME 1.0", create=True).add_new(0x01, "LO", "acme value")
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def store(client, parts: list[bytes]):  # type: ignore[no-untyped-def]
    r = client.post("/dicom-web/studies", content=multipart(parts), headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 200, r.text
    return r.json()


def test_stow_response_names_the_study(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    body = store(client, [ct_instance(study=study, number=1), ct_instance(study=study, number=2)])
    assert body["00081190"] == {"vr": "UR", "Value": [f"http://testserver/dicom-web/studies/{study}"]}
    body = store(client, [ct_instance(), ct_instance()])  # two studies: Type 2, empty
    assert body["00081190"] == {"vr": "UR"}


def test_qido_instance_defaults_and_private_includefields(client) -> None:  # type: ignore[no-untyped-def]
    study, series = generate_uid(), generate_uid()
    store(client, [with_private(ct_instance(study=study, series=series))])
    r = client.get(f"/dicom-web/studies/{study}/series/{series}/instances")
    assert r.status_code == 200
    [item] = r.json()
    assert item["00280100"] == {"vr": "US", "Value": [16]}  # BitsAllocated (Table 10.6.3-5)
    assert item["00280010"]["Value"] == [16] and item["00200013"]["Value"] == [1]
    assert "00091001" not in item  # private elements only when asked for
    r = client.get("/dicom-web/instances", params={"StudyInstanceUID": study, "00090010": "ACME 1.0",
                                                   "includefield": "00091001"})
    assert r.status_code == 200, r.text
    [item] = r.json()
    assert item["00090011"]["Value"] == ["ACME 1.0"]  # the block ACME holds in this instance
    assert item["00091101"]["Value"] == ["acme value"]
    assert "00091001" not in item
    r = client.get(f"/dicom-web/studies/{study}/instances", params={"includefield": "00091001"})
    [item] = r.json()
    assert item["00091001"]["Value"] == ["not asked"] and item["00090010"]["Value"] == ["OTHER VENDOR"]


def test_qido_and_metadata_in_dicom_xml(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    store(client, [ct_instance(study=study, number=n) for n in (1, 2)])
    xml_accept = {"Accept": 'multipart/related; type="application/dicom+xml"'}
    r = client.get("/dicom-web/studies", params={"StudyInstanceUID": study}, headers=xml_accept)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith('multipart/related; type="application/dicom+xml"')
    [(headers, doc)] = parts_of(r.headers["content-type"], r.content)
    assert headers["content-type"] == "application/dicom+xml; charset=utf-8"
    assert xml_to_json(doc)["0020000D"]["Value"] == [study]
    as_json = client.get("/dicom-web/studies", params={"StudyInstanceUID": study}).json()
    assert xml_to_json(doc) == as_json[0]

    unquoted = {"Accept": "multipart/related; type=application/dicom+xml"}
    r = client.get(f"/dicom-web/studies/{study}/metadata", headers=unquoted)
    assert r.status_code == 200, r.text
    docs = [xml_to_json(d) for _, d in parts_of(r.headers["content-type"], r.content)]
    metadata = client.get(f"/dicom-web/studies/{study}/metadata").json()
    assert sorted(docs, key=str) == sorted(metadata, key=str)
    assert docs[0]["7FE00010"]["BulkDataURI"].startswith(f"http://testserver/dicom-web/studies/{study}/")
    json_etag = client.get(f"/dicom-web/studies/{study}/metadata").headers["etag"]
    assert r.headers["etag"] != json_etag


def test_not_acceptable_lists_what_is_available(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/dicom-web/studies", headers={"Accept": "image/png"})
    assert r.status_code == 406
    message = r.json()["error"]
    for available in ("application/dicom+json", 'multipart/related; type="application/dicom+xml"'):
        assert available in message
    assert r.json()["available"] == ["application/dicom+json", "application/json",
                                     'multipart/related; type="application/dicom+xml"']


def mounted_routes(app) -> list[tuple[str, set[str]]]:  # type: ignore[no-untyped-def]
    from starlette.routing import Mount, Route

    out: list[tuple[str, set[str]]] = []

    def walk(routes, prefix: str) -> None:  # type: ignore[no-untyped-def]
        for r in routes:
            if isinstance(r, Mount):
                walk(r.routes, prefix + r.path)
            elif isinstance(r, Route):
                out.append((prefix + r.path, set(r.methods or ())))

    walk(app.routes, "")
    return out


def test_capabilities_list_exactly_the_mounted_dicomweb_routes(client) -> None:  # type: ignore[no-untyped-def]
    from dicomweb.allow import MethodTable
    from dicomweb.capabilities import ENDPOINTS
    from server.errors import websocket_templates

    routes = mounted_routes(client.app)
    mounted = {(p.removeprefix("/dicom-web").strip("/"), m) for p, ms in routes if p.startswith("/dicom-web")
               for m in ms if m != "HEAD"}
    # The UPS event channel is a WebSocket route, opened with a GET upgrade (§11.12).
    mounted |= {(p.removeprefix("/dicom-web").strip("/"), "GET") for p in websocket_templates(list(client.app.routes))}
    assert ("subscribers/{ae}", "GET") in mounted
    assert mounted == {(e.path, e.method) for e in ENDPOINTS}
    [channel] = [r for r in client.get("/dicom-web").json()["resources"] if r["path"] == "subscribers"]
    assert channel["resources"][0]["methods"][0]["transaction"] == "Open Event Channel (WebSocket)"
    table = MethodTable.build(routes)
    assert table.allow_header("/dicom-web/studies") == "GET, HEAD, POST"
    assert table.allow_header("/dicom-web/studies/1.2.3") == "GET, HEAD, POST, DELETE"


def test_capabilities_resource(client) -> None:  # type: ignore[no-untyped-def]
    import xml.etree.ElementTree as ET

    from dicomweb.capabilities import WADL, WADL_NAMESPACE

    for method in ("GET", "OPTIONS"):
        r = client.request(method, "/dicom-web", headers={"Accept": WADL})
        assert r.status_code == 200, (method, r.text)
        assert r.headers["content-type"].startswith(WADL)
        root = ET.fromstring(r.content)
        base = root.find(f"{{{WADL_NAMESPACE}}}resources").get("base")
        assert base == "http://testserver/dicom-web/"
    r = client.get("/dicom-web/")
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["options"]["fuzzymatching"] is True


def test_frames_asked_as_implicit_vr_are_labelled_as_asked(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    data = ct_instance(study=study, series=series, sop=sop)
    store(client, [data])
    url = f"/dicom-web/studies/{study}/series/{series}/instances/{sop}/frames/1"
    for ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1"):
        accept = f'multipart/related; type="application/octet-stream"; transfer-syntax={ts}'
        r = client.get(url, headers={"Accept": accept})
        assert r.status_code == 200, r.text
        [(headers, frame)] = parts_of(r.headers["content-type"], r.content)
        assert headers["content-type"] == f"application/octet-stream; transfer-syntax={ts}"
        assert frame == pydicom.dcmread(io.BytesIO(data)).PixelData


def test_bulk_data_single_part_when_asked(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    data = ct_instance(study=study, series=series, sop=sop)
    store(client, [data])
    url = f"/dicom-web/studies/{study}/series/{series}/instances/{sop}/bulk/7FE00010"
    single = client.get(url, headers={"Accept": "application/octet-stream"})
    assert single.status_code == 200
    assert single.headers["content-type"] == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    assert single.content == pydicom.dcmread(io.BytesIO(data)).PixelData
    multi = client.get(url, headers={"Accept": 'multipart/related; type="application/octet-stream"'})
    assert multi.headers["content-type"].startswith("multipart/related")
    assert parts_of(multi.headers["content-type"], multi.content)[0][1] == single.content


def test_stow_of_sr_seg_and_presentation_state(client) -> None:  # type: ignore[no-untyped-def]
    """What OHIF saves measurements and segmentations as."""
    import highdicom as hd
    import numpy as np
    from pydicom.data import get_testdata_file
    from pydicom.sr.codedict import codes

    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    mask = np.zeros((1, ct.Rows, ct.Columns), dtype=bool)
    mask[0, 10:20, 10:20] = True
    desc = hd.seg.SegmentDescription(
        segment_number=1, segment_label="box", segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Tissue, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    common = {"manufacturer": "Cirrus", "manufacturer_model_name": "test", "software_versions": "1",
              "device_serial_number": "1", "instance_number": 1}
    seg = hd.seg.Segmentation(
        source_images=[ct], pixel_array=mask, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[desc], series_instance_uid=hd.UID(), series_number=99, sop_instance_uid=hd.UID(),
        **common)
    pr = hd.pr.GrayscaleSoftcopyPresentationState(
        referenced_images=[ct], series_instance_uid=hd.UID(), series_number=98, sop_instance_uid=hd.UID(),
        content_label="TEST", **common)
    sr = pydicom.dcmread(get_testdata_file("test-SR.dcm"))
    objects = [ct, seg, pr, sr]
    parts = []
    for obj in objects:
        buf = io.BytesIO()
        obj.save_as(buf)
        parts.append(buf.getvalue())
    body = store(client, parts)
    assert len(body["00081199"]["Value"]) == 4
    for obj in objects:
        r = client.get(f"/dicom-web/studies/{obj.StudyInstanceUID}/series/{obj.SeriesInstanceUID}/instances",
                       params={"SOPInstanceUID": obj.SOPInstanceUID})
        assert r.status_code == 200 and r.json()[0]["00080016"]["Value"] == [obj.SOPClassUID]


def _jpeg_baseline_instance(study: str, series: str, sop: str) -> bytes:
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _implicit_instance(study: str, series: str, sop: str) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(ct_instance(study=study, series=series, sop=sop)))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True, implicit_vr=True, little_endian=True)
    return buf.getvalue()


def test_instances_default_to_explicit_vr_little_endian(client) -> None:  # type: ignore[no-untyped-def]
    """Issue 13 item 4 (PS3.18 §8.7.3.5.2): no syntax named → Explicit VR LE; ``*`` → as stored."""
    study, series = generate_uid(), generate_uid()
    jpeg_sop, ile_sop = generate_uid(), generate_uid()
    jpeg = _jpeg_baseline_instance(study, series, jpeg_sop)
    ile = _implicit_instance(study, series, ile_sop)
    store(client, [jpeg, ile])
    base = f"/dicom-web/studies/{study}/series/{series}/instances"
    for accept in (None, "multipart/related", 'multipart/related; type="application/dicom"'):
        for sop, original in ((jpeg_sop, jpeg), (ile_sop, ile)):
            r = client.get(f"{base}/{sop}", headers={"Accept": accept} if accept else {})
            assert r.status_code == 200, (accept, r.text)
            [(headers, body)] = parts_of(r.headers["content-type"], r.content)
            assert headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
            got = pydicom.dcmread(io.BytesIO(body))
            assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
            assert not got.is_implicit_VR
            want = pydicom.dcmread(io.BytesIO(original))
            assert got.SOPInstanceUID == sop
            assert (got.pixel_array == want.pixel_array).all()
    as_stored = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    r = client.get(f"{base}/{jpeg_sop}", headers={"Accept": as_stored})
    [(headers, body)] = parts_of(r.headers["content-type"], r.content)
    assert headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50"
    assert body == jpeg
    # Implicit VR is never produced for DICOMweb unless it is what is stored.
    r = client.get(f"{base}/{jpeg_sop}",
                   headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2'})
    assert r.status_code == 406 and "1.2.840.10008.1.2" in r.text
    r = client.get(f"{base}/{ile_sop}",
                   headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2'})
    [(headers, body)] = parts_of(r.headers["content-type"], r.content)
    assert body == ile
