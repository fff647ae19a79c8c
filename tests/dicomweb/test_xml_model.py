"""DICOM XML (PS3.19 Annex A.1 Native DICOM Model) round trips against pydicom datasets."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomweb.errors import BadRequest
from dicomweb.json_model import dataset_to_json
from dicomweb.multipart import MultipartDecoder, PartData, PartEnd, PartStart
from dicomweb.xml_model import NAMESPACE, dataset_to_xml, json_to_xml, multipart_xml, xml_to_dataset, xml_to_json

NS = {"d": NAMESPACE}
CHARSET_FILES = sorted(Path(f) for f in get_charset_files("*.dcm"))
OTHER_FILES = [Path(get_testdata_file(n)) for n in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtdose.dcm",
                                                      "waveform_ecg.dcm", "JPEG2000.dcm")]


def test_there_are_charset_files() -> None:
    names = {p.name for p in CHARSET_FILES}
    assert {"chrH31.dcm", "chrX1.dcm", "chrRuss.dcm", "chrArab.dcm", "chrKoreanMulti.dcm", "chrSQEncoding.dcm"} <= names


@pytest.mark.parametrize("path", CHARSET_FILES + OTHER_FILES, ids=lambda p: p.name)
def test_round_trip_json_and_dataset(path: Path) -> None:
    ds = dcmread(path)
    model = dataset_to_json(ds, None, 1 << 30)  # every binary value inline
    document = json_to_xml(model)
    assert xml_to_json(document) == model
    back = xml_to_dataset(document)
    for elem in ds:
        if elem.tag.group == 0x0002 or elem.tag.element == 0:
            continue
        got = back[elem.tag]
        assert got.VR == elem.VR or elem.VR in ("US or SS", "OB or OW"), elem.tag
        if elem.VR == "SQ":
            assert len(got.value) == len(elem.value)
        elif elem.VR == "PN":
            assert str(got.value) == str(elem.value), elem.tag
        else:
            assert got.value == elem.value, (elem.tag, got.value, elem.value)


def test_person_name_groups_are_parsed_components() -> None:
    ds = dcmread(next(p for p in CHARSET_FILES if p.name == "chrH31.dcm"))  # ISO 2022 IR 87
    root = ET.fromstring(dataset_to_xml(ds))
    pn = root.find("d:DicomAttribute[@keyword='PatientName']/d:PersonName[@number='1']", NS)
    assert pn is not None
    assert pn.findtext("d:Alphabetic/d:FamilyName", namespaces=NS) == "Yamada"
    assert pn.findtext("d:Alphabetic/d:GivenName", namespaces=NS) == "Tarou"
    assert pn.findtext("d:Ideographic/d:FamilyName", namespaces=NS) == "山田"
    assert pn.findtext("d:Phonetic/d:GivenName", namespaces=NS) == "たろう"


def test_document_shape() -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Müller^Jürgen"
    ds.PixelSpacing = [0.5, 0.25]
    ds.ImageType = ["ORIGINAL", "", "AXIAL"]
    ds.Rows = 512
    ds.FrameIncrementPointer = 0x00181063
    ds.ReferencedImageSequence = Sequence([Dataset(), Dataset()])
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3"
    ds.PatientComments = "a\x00b <&>"
    ds.add_new(0x00100021, "LO", "")  # zero-length: an empty DicomAttribute
    document = json_to_xml(dataset_to_json(ds, None))
    head = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<NativeDicomModel xmlns=\"" + NAMESPACE.encode()
    assert document.startswith(head)
    assert b'xml:space="preserve"' in document
    root = ET.fromstring(document)

    def attr(keyword: str) -> ET.Element:
        node = root.find(f"d:DicomAttribute[@keyword='{keyword}']", NS)
        assert node is not None, keyword
        return node

    assert attr("PatientName").get("tag") == "00100010" and attr("PatientName").get("vr") == "PN"
    assert [v.text for v in attr("PixelSpacing")] == ["0.5", "0.25"]
    assert [(v.get("number"), v.text) for v in attr("ImageType")] == [("1", "ORIGINAL"), ("2", None), ("3", "AXIAL")]
    assert attr("Rows").findtext("d:Value", namespaces=NS) == "512"
    assert attr("FrameIncrementPointer").findtext("d:Value", namespaces=NS) == "00181063"
    items = attr("ReferencedImageSequence").findall("d:Item", NS)
    assert [i.get("number") for i in items] == ["1", "2"]
    assert items[0].find("d:DicomAttribute[@keyword='ReferencedSOPInstanceUID']/d:Value", NS).text == "1.2.3"
    assert len(items[1]) == 0
    assert attr("PatientComments").findtext("d:Value", namespaces=NS) == "a\ufffdb <&>"  # NUL cannot be XML
    assert len(attr("IssuerOfPatientID")) == 0
    # document order is tag order
    tags = [int(n.get("tag"), 16) for n in root]
    assert tags == sorted(tags)


def test_bulk_data_and_inline_binary() -> None:
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    model = dataset_to_json(ds, lambda path: f"https://pacs.example/bulk/{path}")
    root = ET.fromstring(json_to_xml(model))
    pixel = root.find("d:DicomAttribute[@tag='7FE00010']", NS)
    assert pixel is not None and pixel.get("vr") == "OW"
    assert pixel.find("d:BulkData", NS).get("uri") == "https://pacs.example/bulk/7FE00010"
    inline = dataset_to_json(ds, None, 1 << 30)["7FE00010"]["InlineBinary"]
    root = ET.fromstring(json_to_xml({"7FE00010": {"vr": "OW", "InlineBinary": inline}}))
    assert base64.b64decode(root.findtext("d:DicomAttribute/d:InlineBinary", namespaces=NS)) == ds.PixelData
    assert xml_to_json(json_to_xml(model))["7FE00010"] == model["7FE00010"]


def test_private_elements_carry_their_creator_and_no_block() -> None:
    ds = Dataset()
    ds.PatientID = "P1"
    block = ds.private_block(0x0029, "ACME 1.0", create=True)  # reserves block 0x10
    block.add_new(0x01, "LO", "first")
    other = ds.private_block(0x0029, "OTHER", create=True)  # block 0x11
    other.add_new(0x01, "SH", "second")
    model = dataset_to_json(ds, None)
    root = ET.fromstring(json_to_xml(model))
    private = root.findall("d:DicomAttribute[@privateCreator]", NS)
    assert [(n.get("tag"), n.get("privateCreator"), n.get("keyword")) for n in private] == [
        ("00290001", "ACME 1.0", None), ("00290001", "OTHER", None)]
    assert root.find("d:DicomAttribute[@tag='00290010']", NS) is None  # the creators themselves are implied
    assert xml_to_json(json_to_xml(model)) == model
    # A producer that used block 0x42: values come back under the creator, in block 0x10.
    moved = {"00290042": {"vr": "LO", "Value": ["ACME 1.0"]}, "00294201": {"vr": "LO", "Value": ["x"]}}
    back = xml_to_dataset(json_to_xml(moved))
    assert back.private_block(0x0029, "ACME 1.0")[0x01].value == "x"
    # Creators written explicitly keep their block.
    explicit = (f'<NativeDicomModel xmlns="{NAMESPACE}">'
                '<DicomAttribute tag="00290033" vr="LO"><Value number="1">ACME 1.0</Value></DicomAttribute>'
                '<DicomAttribute tag="00290001" vr="LO" privateCreator="ACME 1.0"><Value number="1">y</Value>'
                "</DicomAttribute></NativeDicomModel>")
    assert xml_to_json(explicit) == {"00290033": {"vr": "LO", "Value": ["ACME 1.0"]},
                                     "00293301": {"vr": "LO", "Value": ["y"]}}


def test_person_name_components_survive_exactly() -> None:
    for name in ("Doe^John", "^^^^", "^John", "Doe^^Q^Dr^Jr", "Doe", ""):
        model = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": name}] if name else [None]}}
        got = xml_to_json(json_to_xml(model))["00100010"]["Value"][0]
        assert (got or {}).get("Alphabetic", "") == name


def test_multipart_has_one_document_per_result() -> None:
    results = [{"0020000D": {"vr": "UI", "Value": [f"1.2.{i}"]}} for i in range(3)]
    body = multipart_xml(results, "b0und")
    parts, headers = [], []
    current = b""
    for ev in [*MultipartDecoder("b0und").feed(body)]:
        if isinstance(ev, PartStart):
            headers.append(ev.headers)
            current = b""
        elif isinstance(ev, PartData):
            current += ev.data
        elif isinstance(ev, PartEnd):
            parts.append(current)
    assert [h["content-type"] for h in headers] == ["application/dicom+xml; charset=utf-8"] * 3
    assert [xml_to_json(p) for p in parts] == results
    assert multipart_xml([], "b0und") == b"--b0und--\r\n"


@pytest.mark.parametrize(
    "document",
    [b"<NativeDicomModel", b"<Other/>", b'<NativeDicomModel><DicomAttribute tag="0010" vr="PN"/></NativeDicomModel>',
     b'<NativeDicomModel><DicomAttribute tag="7FE00010" vr="OB"><BulkData/></DicomAttribute></NativeDicomModel>'],
)
def test_malformed_documents_are_bad_requests(document: bytes) -> None:
    with pytest.raises(BadRequest):
        xml_to_json(document)
