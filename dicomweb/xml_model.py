"""DICOM XML: the Native DICOM Model of PS3.19 Annex A.1, from and to the DICOM JSON model.

Cirrus stores each instance's metadata as DICOM JSON (PS3.18 Annex F), so the
encoder works on that dict; :func:`dataset_to_xml` covers pydicom datasets by
way of :func:`dicomweb.json_model.dataset_to_json`. The decoder (used by tests,
and by any future STOW of XML metadata) returns the same JSON model, which
``pydicom.Dataset.from_json`` turns back into a dataset.

Mapping (PS3.19 Table A.1.5-2 and the RELAX NG schema of A.1.6)::

    {"vr": "PN", "Value": [{"Alphabetic": "Yamada^Tarou", "Ideographic": ...}]}
        <DicomAttribute tag="00100010" vr="PN" keyword="PatientName">
          <PersonName number="1"><Alphabetic><FamilyName>Yamada</FamilyName>
            <GivenName>Tarou</GivenName></Alphabetic><Ideographic>...</Ideographic></PersonName>
    {"vr": "SQ", "Value": [{...}]}      <Item number="1"> nested DicomAttributes </Item>
    {"vr": "OB", "InlineBinary": "..."} <InlineBinary>...</InlineBinary>
    {"vr": "OB", "BulkDataURI": "u"}    <BulkData uri="u"/>
    {"vr": "DS", "Value": [0.5, null]}  <Value number="1">0.5</Value><Value number="2"></Value>

Private data elements carry ``privateCreator`` and a ``gggg00ee`` tag: the block
is not sent (A.1.5), so the Private Creator elements themselves are not written;
the decoder reserves blocks again from 0x10, in order of appearance (or keeps
the block of a Private Creator element a producer did write).

Character sets: XML text is Unicode (UTF-8 on the wire) "regardless of any DICOM
Specific Character Set" (A.1.5); the JSON model already holds decoded strings and
Specific Character Set is kept as the data element it is. Characters XML 1.0
cannot carry at all (C0 controls other than TAB, LF, CR) are replaced by U+FFFD.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from dicomweb.errors import BadRequest
from dicomweb.json_model import DEFAULT_BULK_THRESHOLD, dataset_to_json
from dicomweb.multipart import closing, part_header

__all__ = [
    "DICOM_XML",
    "NAMESPACE",
    "dataset_to_xml",
    "json_to_xml",
    "multipart_xml",
    "xml_to_dataset",
    "xml_to_json",
]

NAMESPACE = "http://dicom.nema.org/PS3.19/models/NativeDICOM"
DICOM_XML = "application/dicom+xml"

PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
INTEGER_VRS = frozenset({"IS", "SL", "SS", "UL", "US", "SV", "UV"})
DECIMAL_VRS = frozenset({"DS", "FL", "FD"})
_NOT_PRIVATE_ODD_GROUPS = frozenset({0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF})
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_HEX8 = re.compile(r"^[0-9A-Fa-f]{8}$")
_INTEGER = re.compile(r"^[+-]?\d+$")


def _is_private_group(group: int) -> bool:
    return group % 2 == 1 and group not in _NOT_PRIVATE_ODD_GROUPS


def _text(value: str) -> str:
    return _INVALID_XML.sub("\ufffd", value)


def _number(value: Any, vr: str) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)  # FL/FD may hold NaN/inf; the text form is Python's (nan, inf)
        return repr(value)
    return _text(str(value))


# ------------------------------------------------------------------- encoding


def _person_name(parent: ET.Element, number: int, value: Any) -> None:
    pn = ET.SubElement(parent, "PersonName", number=str(number))
    if not isinstance(value, dict):
        return  # a null (empty) name value: the element without groups
    for group in PN_GROUPS:
        text = value.get(group)
        if not text:
            continue
        g = ET.SubElement(pn, group)
        # Every component up to the last one written (empty ones as empty elements), so
        # "Doe^John" and "^^^^" both come back as they were.
        for name, part in zip(PN_COMPONENTS, str(text).split("^"), strict=False):
            ET.SubElement(g, name).text = _text(part) if part else None


def _attribute(parent: ET.Element, key: str, element: dict[str, Any], creator: str | None) -> None:
    tag = int(key, 16)
    vr = str(element.get("vr", "UN"))
    attrs = {"tag": key.upper()}
    if creator is not None:
        attrs["tag"] = f"{tag >> 16:04X}00{tag & 0xFF:02X}"
    attrs["vr"] = vr
    keyword = "" if _is_private_group(tag >> 16) else keyword_for_tag(tag)
    if keyword:
        attrs["keyword"] = keyword
    if creator is not None:
        attrs["privateCreator"] = creator
    node = ET.SubElement(parent, "DicomAttribute", attrs)
    if "BulkDataURI" in element:
        ET.SubElement(node, "BulkData", uri=_text(str(element["BulkDataURI"])))
        return
    if "InlineBinary" in element:
        ET.SubElement(node, "InlineBinary").text = str(element["InlineBinary"])
        return
    for i, value in enumerate(element.get("Value") or [], start=1):
        if vr == "SQ":
            item = ET.SubElement(node, "Item", number=str(i))
            _dataset(item, value if isinstance(value, dict) else {})
        elif vr == "PN":
            _person_name(node, i, value)
        else:
            v = ET.SubElement(node, "Value", number=str(i))
            if value is not None:
                v.text = _number(value, vr)


def _creator_of(dataset: dict[str, Any], tag: int) -> str | None:
    group, element = tag >> 16, tag & 0xFFFF
    if not _is_private_group(group) or element < 0x1000:
        return None
    entry = dataset.get(f"{group:04X}00{element >> 8:02X}")
    values = entry.get("Value") if isinstance(entry, dict) else None
    if values and isinstance(values[0], str) and values[0].strip():
        return values[0].strip()
    return None


def _dataset(parent: ET.Element, dataset: dict[str, Any]) -> None:
    keys = sorted((k for k in dataset if _HEX8.match(k)), key=lambda k: int(k, 16))
    for key in keys:
        tag = int(key, 16)
        group, element = tag >> 16, tag & 0xFFFF
        if element == 0x0000:
            continue  # group lengths are not part of the model (A.1.1)
        creator = _creator_of(dataset, tag)
        if creator is None and _is_private_group(group) and 0x0010 <= element <= 0x00FF:
            entry = dataset[key]
            values = entry.get("Value") if isinstance(entry, dict) else None
            if values and isinstance(values[0], str) and values[0].strip():
                continue  # a Private Creator: conveyed by privateCreator on its elements
        _attribute(parent, key, dataset[key], creator)


def _root(dataset: dict[str, Any]) -> ET.Element:
    root = ET.Element("NativeDicomModel", {"xmlns": NAMESPACE, "xml:space": "preserve"})
    _dataset(root, dataset)
    return root


def json_to_xml(dataset: dict[str, Any]) -> bytes:
    """One NativeDicomModel document (UTF-8, with an XML declaration) for a DICOM JSON object."""
    body = ET.tostring(_root(dataset), encoding="unicode", short_empty_elements=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("utf-8")


def dataset_to_xml(
    ds: Dataset, bulk_uri: Callable[[str], str] | None = None, threshold: int = DEFAULT_BULK_THRESHOLD
) -> bytes:
    """A pydicom dataset as a NativeDicomModel document (bulk data as in ``dataset_to_json``)."""
    return json_to_xml(dataset_to_json(ds, bulk_uri, threshold))


def multipart_xml(datasets: Iterable[dict[str, Any]], boundary: str) -> bytes:
    """``multipart/related; type="application/dicom+xml"``: one document per dataset (PS3.18 §8.7.3.2,
    §10.6.3.3: a QIDO result or an instance's metadata per part)."""
    # The part names its encoding (PS3.18 §8.8): the XML declaration says UTF-8 too.
    chunks = [part_header(f"{DICOM_XML}; charset=utf-8", first=i == 0, boundary=boundary) + json_to_xml(d)
              for i, d in enumerate(datasets)]
    if not chunks:
        return f"--{boundary}--\r\n".encode("latin-1")
    return b"".join(chunks) + closing(boundary)


# ------------------------------------------------------------------- decoding


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    found = [c for c in node if _local(c.tag) == name]
    return sorted(found, key=lambda c: int(c.get("number") or 0))


def _value(text: str | None, vr: str) -> Any:
    """One Value element: an empty one is null for numbers, the empty string otherwise (the
    way pydicom's JSON writes an empty value among several)."""
    if text is None or text == "":
        return None if vr in INTEGER_VRS or vr in DECIMAL_VRS else ""
    if vr in INTEGER_VRS:
        try:
            return int(text.strip())
        except ValueError:
            return float(text.strip())  # IS values like "1.0" exist in the wild
    if vr in DECIMAL_VRS:
        stripped = text.strip()
        return int(stripped) if vr == "DS" and _INTEGER.match(stripped) else float(stripped)
    return text


def _person_name_value(node: ET.Element) -> Any:
    out: dict[str, str] = {}
    for group in PN_GROUPS:
        g = next((c for c in node if _local(c.tag) == group), None)
        if g is None:
            continue
        parts = {_local(c.tag): c.text or "" for c in g}
        last = max((i for i, name in enumerate(PN_COMPONENTS) if name in parts), default=-1)
        out[group] = "^".join(parts.get(name, "") for name in PN_COMPONENTS[: last + 1])
    return out or None


def _element(node: ET.Element, vr: str) -> dict[str, Any]:
    out: dict[str, Any] = {"vr": vr}
    bulk = next((c for c in node if _local(c.tag) == "BulkData"), None)
    if bulk is not None:
        uri = bulk.get("uri") or (f"urn:uuid:{bulk.get('uuid')}" if bulk.get("uuid") else None)
        if uri is None:
            raise BadRequest("DICOM XML: BulkData without uri or uuid")
        out["BulkDataURI"] = uri
        return out
    inline = next((c for c in node if _local(c.tag) == "InlineBinary"), None)
    if inline is not None:
        out["InlineBinary"] = "".join((inline.text or "").split())
        return out
    if vr == "SQ":
        values: list[Any] = [_decode_dataset(item) for item in _children(node, "Item")]
    elif vr == "PN":
        values = [_person_name_value(pn) for pn in _children(node, "PersonName")]
    else:
        values = [_value(v.text, vr) for v in _children(node, "Value")]
    if values:
        out["Value"] = values
    return out


def _decode_dataset(parent: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    nodes = [c for c in parent if _local(c.tag) == "DicomAttribute"]
    # Private Creator elements a producer did write keep their blocks.
    blocks: dict[tuple[int, str], int] = {}
    for node in nodes:
        tag_text = node.get("tag") or ""
        if _HEX8.match(tag_text) and node.get("privateCreator") is None:
            tag = int(tag_text, 16)
            if _is_private_group(tag >> 16) and 0x0010 <= (tag & 0xFFFF) <= 0x00FF:
                value = next((v.text for v in _children(node, "Value")), None)
                if value:
                    blocks[(tag >> 16, value.strip())] = tag & 0xFF
    for node in nodes:
        tag_text = node.get("tag") or ""
        if not _HEX8.match(tag_text):
            raise BadRequest(f"DICOM XML: DicomAttribute tag {tag_text!r} is not 8 hexadecimal digits")
        tag = int(tag_text, 16)
        vr = (node.get("vr") or "UN").upper()
        creator = node.get("privateCreator")
        if creator is not None:
            group = tag >> 16
            key = (group, creator.strip())
            if key not in blocks:
                used = {b for (g, _), b in blocks.items() if g == group}
                free = next((b for b in range(0x10, 0x100) if b not in used), None)
                if free is None:
                    raise BadRequest(f"DICOM XML: more than 240 private creators in group {group:04X}")
                blocks[key] = free
            block = blocks[key]
            out[f"{group:04X}00{block:02X}"] = {"vr": "LO", "Value": [creator.strip()]}
            tag = (group << 16) | (block << 8) | (tag & 0xFF)
        out[f"{tag:08X}"] = _element(node, vr)
    return dict(sorted(out.items()))


def xml_to_json(data: bytes | str) -> dict[str, Any]:
    """A NativeDicomModel document back to the DICOM JSON model (``BadRequest`` if malformed)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise BadRequest(f"DICOM XML is not well formed: {exc}") from None
    if _local(root.tag) != "NativeDicomModel":
        raise BadRequest(f"DICOM XML: root element is {_local(root.tag)!r}, not NativeDicomModel")
    return _decode_dataset(root)


def xml_to_dataset(data: bytes | str, bulk_data_uri_handler: Callable[[str], bytes] | None = None) -> Dataset:
    """A NativeDicomModel document as a pydicom dataset (via ``Dataset.from_json``)."""
    return Dataset.from_json(xml_to_json(data), bulk_data_uri_handler=bulk_data_uri_handler)
