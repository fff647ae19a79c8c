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
    assert headers["content-type"] == "application/dicom+xml"
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

    routes = mounted_routes(client.app)
    mounted = {(p.removeprefix("/dicom-web").strip("/"), m) for p, ms in routes if p.startswith("/dicom-web")
               for m in ms if m != "HEAD"}
    assert mounted == {(e.path, e.method) for e in ENDPOINTS}
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
