"""PS3.18 conformance sweep against the real app (SQLite and PostgreSQL): QIDO default attributes at
every level, Allow on 405, Warning on partial success, Content-Location, single-part answers,
fuzzy person-name matching, character sets, bad Accept headers never 5xx."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from server.app import create_app
from tests.conftest import authed_client
from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart
from tests.server.routes.test_conformance import parts_of, store


def full_instance(study: str, series: str, sop: str) -> bytes:
    """A CT instance holding every default attribute of PS3.18 Tables 10.6.3-3/-4/-5."""
    ds = pydicom.dcmread(io.BytesIO(ct_instance(study=study, series=series, sop=sop)))
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.AccessionNumber = "ACC-77"
    ds.ReferringPhysicianName = "Wang^Li=王^力"
    ds.TimezoneOffsetFromUTC = "+0800"
    ds.PatientName = "Müller^Jörg"
    ds.PatientBirthDate = "19700102"
    ds.PatientSex = "M"
    ds.StudyID = "S-12"
    ds.PerformedProcedureStepStartDate = "20240315"
    ds.PerformedProcedureStepStartTime = "101600"
    request = Dataset()
    request.ScheduledProcedureStepID = "SPS-1"
    request.RequestedProcedureID = "RP-1"
    ds.RequestAttributesSequence = [request]
    ds.NumberOfFrames = 1
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def value(item: dict, tag: str) -> object:  # type: ignore[type-arg]
    return item[tag].get("Value")


def test_qido_default_attributes_at_every_level(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(client, [full_instance(study, series, sop)])
    base = "http://testserver/dicom-web/"
    [st] = client.get("/dicom-web/studies", params={"StudyInstanceUID": study}).json()
    want_study = {
        "00080005": ["ISO_IR 192"], "00080020": ["20240315"], "00080030": ["101500"], "00080050": ["ACC-77"],
        "00080056": ["ONLINE"], "00080061": ["CT"], "00080090": [{"Alphabetic": "Wang^Li", "Ideographic": "王^力"}],
        "00080201": ["+0800"], "00081190": [f"{base}studies/{study}"], "00100010": [{"Alphabetic": "Müller^Jörg"}],
        "00100020": ["PID-DOE"], "00100030": ["19700102"], "00100040": ["M"], "0020000D": [study],
        "00200010": ["S-12"], "00201206": [1], "00201208": [1],
    }
    for tag, want in want_study.items():
        assert value(st, tag) == want, (tag, st.get(tag))
    [se] = client.get(f"/dicom-web/studies/{study}/series").json()
    want_series = {
        "00080005": ["ISO_IR 192"], "00080060": ["CT"], "00080201": ["+0800"], "0008103E": ["Axial"],
        "00081190": [f"{base}studies/{study}/series/{series}"], "0020000E": [series], "00200011": [1],
        "00201209": [1], "00400244": ["20240315"], "00400245": ["101600"],
    }
    for tag, want in want_series.items():
        assert value(se, tag) == want, (tag, se.get(tag))
    [req] = value(se, "00400275")  # type: ignore[misc]
    assert req["00400009"]["Value"] == ["SPS-1"] and req["00401001"]["Value"] == ["RP-1"]
    [inst] = client.get(f"/dicom-web/studies/{study}/series/{series}/instances").json()
    want_instance = {
        "00080005": ["ISO_IR 192"], "00080016": ["1.2.840.10008.5.1.4.1.1.2"], "00080018": [sop],
        "00080056": ["ONLINE"], "00080201": ["+0800"], "00200013": [1], "00280010": [16], "00280011": [16],
        "00280100": [16], "00280008": [1],
        "00081190": [f"{base}studies/{study}/series/{series}/instances/{sop}"],
    }
    for tag, want in want_instance.items():
        assert value(inst, tag) == want, (tag, inst.get(tag))
    # Study attributes are part of every series and instance result (§10.6.3.3).
    assert value(inst, "0020000D") == [study] and value(inst, "0020000E") == [series]


def test_405_allow_lists_every_method_of_the_resource(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    cases = [
        ("PUT", "/dicom-web/studies", "GET, HEAD, POST"),
        ("DELETE", "/dicom-web/studies", "GET, HEAD, POST"),
        ("PATCH", f"/dicom-web/studies/{study}", "GET, HEAD, POST, DELETE"),
        ("POST", f"/dicom-web/studies/{study}/series", "GET, HEAD"),
        ("PUT", f"/dicom-web/studies/{study}/series/1.2/instances/1.3/frames/1", "GET, HEAD"),
        ("DELETE", "/dicom-web", "GET, HEAD, OPTIONS"),
    ]
    for method, path, allow in cases:
        r = client.request(method, path)
        assert r.status_code == 405, (method, path, r.status_code)
        assert r.headers["allow"] == allow, (method, path)
        for m in allow.split(", "):  # every listed method really is routed
            if m in ("GET", "OPTIONS"):
                assert client.request(m, path).status_code != 405, (m, path)


def test_stow_partial_success_warns(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    r = client.post(f"/dicom-web/studies/{study}",
                    content=multipart([ct_instance(study=study), b"not dicom", ct_instance(study=generate_uid())]),
                    headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 202, r.text
    code = f"{r.json()['00081198']['Value'][0]['00081197']['Value'][0]:04X}"
    assert r.headers["warning"] == (f'299 cirrus "{code}: 1 of 3 instances stored, 2 failed '
                                    '(FailedSOPSequence lists each, with FailureReason)"')
    assert value(r.json(), "00081190") == [f"http://testserver/dicom-web/studies/{study}"]
    ok = client.post("/dicom-web/studies", content=multipart([ct_instance()]), headers={"Content-Type": STOW_TYPE})
    assert ok.status_code == 200 and "warning" not in ok.headers


def test_qido_unsupported_parameters_ignored_with_a_warning(database_url, settings_factory) -> None:  # type: ignore[no-untyped-def]
    with authed_client(create_app(settings_factory(database_url, qido_unsupported="ignore"))) as c:
        study = generate_uid()
        store(c, [ct_instance(study=study)])
        r = c.get("/dicom-web/studies", params={"StudyInstanceUID": study, "NoSuchKeyword": "x"})
        assert r.status_code == 200, r.text
        assert [value(i, "0020000D") for i in r.json()] == [[study]]
        assert r.headers["warning"].startswith(
            '299 cirrus "The following query parameters are not supported and were ignored: NoSuchKeyword (')
        clean = c.get("/dicom-web/studies", params={"StudyInstanceUID": study})
        assert "warning" not in clean.headers
        # Malformed values of supported keys stay a 400 naming the key.
        bad = c.get("/dicom-web/studies", params={"StudyDate": "2024-01-01"})
        assert bad.status_code == 400 and "StudyDate" in bad.json()["error"]


def test_content_location(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(client, [ct_instance(study=study, series=series, sop=sop)])
    inst = f"/dicom-web/studies/{study}/series/{series}/instances/{sop}"
    for path in ("/dicom-web/studies?PatientID=PID-DOE", f"/dicom-web/studies/{study}/series", inst,
                 f"{inst}/metadata", f"{inst}/frames/1", f"{inst}/bulk/7FE00010", f"/dicom-web/studies/{study}",
                 f"{inst}/rendered?window=100,50", f"{inst}/thumbnail", f"/dicom-web/studies/{study}/rendered"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-location"] == "http://testserver" + path


def two_frame_instance(study: str, series: str, sop: str) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(ct_instance(study=study, series=series, sop=sop, number=2)))
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_content_location_on_each_part(client) -> None:  # type: ignore[no-untyped-def]
    """PS3.18 §8.6.1.2: every part of a multipart answer names the resource it holds."""
    study, series, a, b = generate_uid(), generate_uid(), generate_uid(), generate_uid()
    store(client, [ct_instance(study=study, series=series, sop=a), two_frame_instance(study, series, b)])
    base = f"http://testserver/dicom-web/studies/{study}/series/{series}/instances/"
    r = client.get(f"/dicom-web/studies/{study}", headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert r.status_code == 200
    located = sorted(h["content-location"] for h, _ in parts_of(r.headers["content-type"], r.content))
    assert located == sorted([base + a, base + b])
    for h, body in parts_of(r.headers["content-type"], r.content):  # the part really is that instance
        assert pydicom.dcmread(io.BytesIO(body)).SOPInstanceUID == h["content-location"].rsplit("/", 1)[1]
    # Frames as stored (one buffer), and transcoded (each frame encoded): the part names its frame.
    for accept in ("multipart/related; type=application/octet-stream; transfer-syntax=*",
                   'multipart/related; type="image/jls"'):
        r = client.get(f"{base.removeprefix('http://testserver')}{b}/frames/2,1", headers={"Accept": accept})
        assert r.status_code == 200, (accept, r.text)
        assert [h["content-location"] for h, _ in parts_of(r.headers["content-type"], r.content)] == [
            f"{base}{b}/frames/2", f"{base}{b}/frames/1"], accept
    r = client.get(f"{base.removeprefix('http://testserver')}{a}/bulk/7FE00010")
    [(h, body)] = parts_of(r.headers["content-type"], r.content)
    assert h["content-location"] == f"{base}{a}/bulk/7FE00010" and len(body) == 512


def test_single_part_instance_and_frame(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    data = ct_instance(study=study, series=series, sop=sop)
    store(client, [data])
    inst = f"/dicom-web/studies/{study}/series/{series}/instances/{sop}"
    r = client.get(inst, headers={"Accept": "application/dicom"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    assert r.content == data  # stored as Explicit VR LE: the stored bytes
    r = client.get(f"{inst}/frames/1", headers={"Accept": "application/octet-stream"})
    assert r.headers["content-type"] == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    assert r.content == pydicom.dcmread(io.BytesIO(data)).PixelData
    # Several resources cannot be one part: 406 naming what to ask for instead.
    r = client.get(f"/dicom-web/studies/{study}", headers={"Accept": "application/dicom"})
    assert r.status_code == 406 and r.json()["available"] == ['multipart/related; type="application/dicom"']
    many = ct_instance(study=study, series=series, sop=generate_uid(), number=2)
    ds = pydicom.dcmread(io.BytesIO(many))
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    store(client, [buf.getvalue()])
    url = f"/dicom-web/studies/{study}/series/{series}/instances/{ds.SOPInstanceUID}/frames/1,2"
    r = client.get(url, headers={"Accept": "application/octet-stream"})
    assert r.status_code == 406 and 'multipart/related; type="application/octet-stream"' in r.json()["error"]
    r = client.get(url, headers={"Accept": 'multipart/related; type="application/octet-stream"'})
    assert [body for _, body in parts_of(r.headers["content-type"], r.content)] == [ds.PixelData[:512]] * 2


def utf8_instance(study: str, patient: str) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(ct_instance(study=study)))
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = patient
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_fuzzy_person_name_matching(client) -> None:  # type: ignore[no-untyped-def]
    studies = {name: generate_uid() for name in ("Doe^John", "Smith^Mary Ann", "Yamada^Tarou=山田^太郎")}
    store(client, [utf8_instance(uid, name) for name, uid in studies.items()])

    def found(params: dict[str, str]) -> set[str]:
        r = client.get("/dicom-web/studies", params=params)
        assert r.status_code == 200, r.text
        return {i["0020000D"]["Value"][0] for i in r.json()}

    assert found({"PatientName": "john", "fuzzymatching": "true"}) == {studies["Doe^John"]}
    assert found({"PatientName": "john"}) == set()  # literal: the name starts with the family name
    assert found({"PatientName": "ann", "fuzzymatching": "true"}) == {studies["Smith^Mary Ann"]}
    assert found({"PatientName": "山田", "fuzzymatching": "true"}) == {studies["Yamada^Tarou=山田^太郎"]}
    assert found({"PatientName": "doe*"}) == {studies["Doe^John"]}
    # The answer carries the instance's character set and the name in every group (§10.6.3.3).
    [item] = client.get("/dicom-web/studies", params={"StudyInstanceUID": studies["Yamada^Tarou=山田^太郎"]}).json()
    assert item["00080005"]["Value"] == ["ISO_IR 192"]
    assert item["00100010"]["Value"] == [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎"}]


@pytest.mark.parametrize("accept", [
    "garbage;;;", "multipart/related; type=", "*/*;q=abc", "text/html;q=2", ";;;,,,", "a/b/c",
    'multipart/related; type="application/dicom+xml', "\u00e9/\u00e9", "*/*;q=0",
    "application/dicom+xml",  # DICOM XML exists only as multipart/related
])
def test_malformed_or_unsupported_accept_never_5xx(sqlite_client, accept: str) -> None:  # type: ignore[no-untyped-def]
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(sqlite_client, [ct_instance(study=study, series=series, sop=sop)])
    inst = f"/dicom-web/studies/{study}/series/{series}/instances/{sop}"
    for path in ("/dicom-web/studies", f"/dicom-web/studies/{study}/metadata", inst, f"{inst}/frames/1",
                 f"{inst}/rendered", f"{inst}/thumbnail", f"{inst}/bulk/7FE00010", "/dicom-web"):
        r = sqlite_client.get(path, headers={"Accept": accept.encode("utf-8")})  # type: ignore[dict-item]
        assert r.status_code in (200, 406), (accept, path, r.status_code, r.text)
        if r.status_code == 406:
            assert r.json()["available"], (accept, path)


def test_xml_for_levels_without_an_xml_representation_is_406(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(client, [ct_instance(study=study, series=series, sop=sop)])
    xml = {"Accept": 'multipart/related; type="application/dicom+xml"'}
    inst = f"/dicom-web/studies/{study}/series/{series}/instances/{sop}"
    for path in (inst, f"{inst}/frames/1", f"{inst}/rendered", f"{inst}/bulk/7FE00010", f"/dicom-web/studies/{study}"):
        r = client.get(path, headers=xml)
        assert r.status_code == 406, (path, r.status_code)
        assert "application/dicom+xml" in r.json()["error"]
    for path in ("/dicom-web/studies", f"/dicom-web/studies/{study}/series", f"{inst}/metadata"):
        assert client.get(path, headers=xml).status_code == 200, path


def ramp_instance(study: str, series: str, sop: str, values: list[int]) -> bytes:
    """One row of known stored values (slope 1, intercept 0): what the window functions see."""
    ds = pydicom.dcmread(io.BytesIO(ct_instance(study=study, series=series, sop=sop)))
    ds.Rows, ds.Columns = 1, len(values)
    ds.RescaleIntercept, ds.RescaleSlope = 0, 1
    ds.PixelData = np.array(values, dtype="<u2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


# PS3.3 C.11.2.1.2.1 / C.11.2.1.3.1-2 with c=100, w=50, output 0..255, rounded half up, by hand:
#   LINEAR: x <= 75 → 0; x > 124 → 255; else ((x − 99.5)/49 + 0.5)·255
#     90 → 78.06 → 78; 100 → 130.10 → 130; 110 → 182.14 → 182; 124 → 255
#   LINEAR_EXACT: x <= 75 → 0; x > 125 → 255; else ((x − 100)/50 + 0.5)·255
#     90 → 76.5 → 77; 100 → 127.5 → 128; 110 → 178.5 → 179; 124 → 249.9 → 250; 125 → 255
#   SIGMOID: 255 / (1 + exp(−4(x − 100)/50))
#     0 → 0.09 → 0; 75 → 30.40 → 30; 90 → 79.06 → 79; 100 → 127.5 → 128; 110 → 175.94 → 176;
#     124 → 222.39 → 222; 125 → 224.60 → 225; 200 → 254.91 → 255
RAMP = [0, 75, 90, 100, 110, 124, 125, 200]
WINDOWED = {
    "linear": [0, 0, 78, 130, 182, 255, 255, 255],
    "linear-exact": [0, 0, 77, 128, 179, 250, 255, 255],
    "sigmoid": [0, 30, 79, 128, 176, 222, 225, 255],
}


def test_rendered_window_functions_exactly_as_ps3_3(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(client, [ramp_instance(study, series, sop, RAMP)])
    url = f"/dicom-web/studies/{study}/series/{series}/instances/{sop}/rendered"
    for function, want in WINDOWED.items():
        r = client.get(url, params={"window": f"100,50,{function}"}, headers={"Accept": "image/png"})
        assert r.status_code == 200, (function, r.text)
        got = np.asarray(Image.open(io.BytesIO(r.content)))
        assert got.reshape(-1).tolist() == want, function
    r = client.get(url, params={"window": "100,0,linear-exact"}, headers={"Accept": "image/png"})
    assert r.status_code == 400 and "window" in r.json()["error"]


def jpeg_baseline(study: str, series: str, sop: str) -> tuple[bytes, pydicom.Dataset]:
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), ds


def test_frames_and_bulk_data_default_to_explicit_vr_little_endian(client) -> None:  # type: ignore[no-untyped-def]
    """PS3.18 §8.7.3.5.2: no syntax named → uncompressed; ``transfer-syntax=*`` → the stored JPEG."""
    from pydicom.encaps import generate_frames

    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    data, ds = jpeg_baseline(study, series, sop)
    store(client, [data])
    decoded = ds.pixel_array.tobytes()  # RGB, interleaved (PlanarConfiguration 0 after decoding)
    [stored] = list(generate_frames(ds.PixelData, number_of_frames=1))
    inst = f"/dicom-web/studies/{study}/series/{series}/instances/{sop}"
    ele = "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    for path in (f"{inst}/frames/1", f"{inst}/bulk/7FE00010"):
        for accept in ('multipart/related; type="application/octet-stream"', "multipart/related"):
            r = client.get(path, headers={"Accept": accept})
            assert r.status_code == 200, (path, accept, r.text)
            [(headers, body)] = parts_of(r.headers["content-type"], r.content)
            assert headers["content-type"] == ele, (path, accept)
            assert len(body) == ds.Rows * ds.Columns * 3
            # Decoders may differ by one level; the geometry and the content are the stored image's.
            assert np.abs(np.frombuffer(body, np.uint8).astype(int) - np.frombuffer(decoded, np.uint8)).max() <= 2
        single = client.get(path, headers={"Accept": "application/octet-stream"})
        assert single.headers["content-type"] == ele and len(single.content) == len(decoded)
        as_stored = client.get(path, headers={"Accept": 'multipart/related; type="application/octet-stream"; '
                                                       "transfer-syntax=*"})
        [(headers, body)] = parts_of(as_stored.headers["content-type"], as_stored.content)
        assert headers["content-type"] == "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"
        assert body.rstrip(b"\0") == stored.rstrip(b"\0")


def test_capabilities_follow_the_route_table(client) -> None:  # type: ignore[no-untyped-def]
    """A route mounted under /dicom-web appears in the document without anyone describing it."""
    import xml.etree.ElementTree as ET

    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from dicomweb.capabilities import WADL, WADL_NAMESPACE

    def paths() -> set[str]:
        r = client.get("/dicom-web", headers={"Accept": WADL})
        root = ET.fromstring(r.content)
        return {res.get("path") for res in root.iter(f"{{{WADL_NAMESPACE}}}resource")}

    before = paths()
    assert {"studies", "series", "instances", "{study}", "metadata", "frames", "{frames}", "bulk"} <= before
    assert "zz-extension" not in before

    async def extension(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("x")

    client.app.router.routes.insert(0, Route("/dicom-web/zz-extension", extension, methods=["GET"]))
    assert paths() == before | {"zz-extension"}
    methods = client.get("/dicom-web").json()["resources"]
    [extra] = [r for r in methods if r["path"] == "zz-extension"]
    assert extra["methods"] == [{"name": "GET", "transaction": "GET zz-extension (Cirrus extension)", "mediaTypes": []}]


@pytest.mark.parametrize("name", ["chrX1.dcm", "chrH31.dcm", "chrFren.dcm"])  # GB18030, ISO 2022 IR 87, ISO_IR 100
def test_dicom_xml_metadata_of_charset_files_equals_json(client, name: str) -> None:  # type: ignore[no-untyped-def]
    from pydicom.data import get_charset_files

    from dicomweb.xml_model import xml_to_json

    [path] = get_charset_files(name)
    ds = pydicom.dcmread(path)
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    store(client, [buf.getvalue()])
    url = f"/dicom-web/studies/{ds.StudyInstanceUID}/metadata"
    [as_json] = client.get(url).json()
    r = client.get(url, headers={"Accept": 'multipart/related; type="application/dicom+xml"'})
    [(headers, doc)] = parts_of(r.headers["content-type"], r.content)
    assert xml_to_json(doc) == as_json
    assert str(pydicom.Dataset.from_json(as_json).PatientName) == str(ds.PatientName)
    q = client.get("/dicom-web/studies", params={"StudyInstanceUID": ds.StudyInstanceUID},
                   headers={"Accept": 'multipart/related; type="application/dicom+xml"'})
    [(_, qdoc)] = parts_of(q.headers["content-type"], q.content)
    charset = ds.SpecificCharacterSet
    assert xml_to_json(qdoc)["00080005"]["Value"] == ([charset] if isinstance(charset, str) else list(charset))


def test_accept_charset(client) -> None:  # type: ignore[no-untyped-def]
    """PS3.18 §8.8: UTF-8 by default; a request excluding UTF-8 → 406 naming its charsets."""
    study = generate_uid()
    store(client, [utf8_instance(study, "Müller^Jörg")])
    url = "/dicom-web/studies"
    for headers in ({}, {"Accept-Charset": "utf-8"}, {"Accept-Charset": "iso-8859-1;q=0.9, *;q=0.1"},
                    {"Accept": "application/dicom+json; charset=utf-8"}):
        r = client.get(url, params={"StudyInstanceUID": study}, headers=headers)
        assert r.status_code == 200, (headers, r.text)
        # JSON is UTF-8 by definition (RFC 8259 has no charset parameter): the type is left as clients compare it.
        assert r.headers["content-type"] == "application/dicom+json"
        assert "Müller^Jörg".encode() in r.content  # the bytes are UTF-8
    for path in (url, f"/dicom-web/studies/{study}/metadata", "/dicom-web", "/dicom-web/workitems"):
        r = client.get(path, headers={"Accept-Charset": "ISO-8859-1, gb18030;q=0.5"})
        assert r.status_code == 406, (path, r.status_code)
        assert r.json()["error"] == ("Accept-Charset: Cirrus answers in UTF-8 only; the request accepts "
                                     "iso-8859-1, gb18030")
        assert r.json()["available"] == ["utf-8"]
    r = client.get(url, params={"StudyInstanceUID": study, "charset": "iso-8859-1"})
    assert r.status_code == 406 and "charset parameter" in r.json()["error"]
    r = client.get(url, params={"StudyInstanceUID": study, "charset": "utf-8"}, headers={"Accept-Charset": "latin1"})
    assert r.status_code == 200 and len(r.json()) == 1
    # The charset parameter of the Accept media ranges (§8.8).
    r = client.get(url, headers={"Accept": "application/dicom+json; charset=ISO-8859-1"})
    assert r.status_code == 406
    assert r.json()["error"] == "Accept: Cirrus answers in UTF-8 only; the media ranges ask for charset iso-8859-1"
    r = client.get(url, params={"StudyInstanceUID": study},
                   headers={"Accept": 'multipart/related; type="application/dicom+xml"; charset=utf-8'})
    assert r.status_code == 200
    [(part, body)] = parts_of(r.headers["content-type"], r.content)
    assert part["content-type"] == "application/dicom+xml; charset=utf-8"
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"')
    assert "<FamilyName>Müller</FamilyName>".encode() in body
