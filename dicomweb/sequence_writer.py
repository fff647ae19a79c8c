"""Large sequences of an in-memory data set encoded in one pass (Explicit VR Little Endian).

pydicom writes each element through a buffer of its own, resolves ambiguous VRs and character
sets per item, and so spends ~40 µs an element; a Segmentation's per-frame functional groups
(tens of thousands of elements) or a TID 1500 content tree cost most of the write-back of an
analysis that way. ``with_encoded_sequences`` returns a copy of the data set whose large
sequences are already bytes (``RawDataElement``), which ``dcmwrite`` copies as they are.

Only what is certain is encoded here: ASCII text, numbers, person names without component
groups, nested sequences and items (PS3.5 §7.5, defined lengths). A sequence holding anything
else (binary or ambiguous VRs, non-ASCII text, value objects without their string) is left to
pydicom whole, so the output is always a valid encoding of the same values; the round trip
is compared with pydicom's own in ``tests/dicomweb/test_sequence_writer.py``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import correct_ambiguous_vr_element
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRLittleEndian

__all__ = ["with_encoded_sequences", "encode_sequence"]

# Sequences with fewer items are not worth it (pydicom writes them fast enough).
MIN_ITEMS = 8

_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
_TEXT = frozenset({"AE", "AS", "CS", "LO", "SH", "UC", "DA", "DT", "TM"})
_SINGLE_TEXT = frozenset({"LT", "ST", "UT", "UR"})
_NUMBER_TEXT = frozenset({"DS", "IS"})
_BINARY = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}
_ITEM = struct.pack("<HH", 0xFFFE, 0xE000)


class _Unhandled(Exception):
    """A value this writer leaves to pydicom."""


def with_encoded_sequences(ds: Dataset, min_items: int = MIN_ITEMS) -> Dataset:
    """A shallow copy of ``ds`` (file meta and preamble kept) whose top-level sequences of at
    least ``min_items`` items are encoded; ``ds`` itself is not changed. Only for objects
    written in Explicit VR Little Endian (others are returned as they are)."""
    meta = getattr(ds, "file_meta", None)
    if meta is None or meta.get("TransferSyntaxUID") != ExplicitVRLittleEndian:
        return ds
    elements: dict[BaseTag, DataElement | RawDataElement] = {}
    changed = False
    for elem in ds.elements():
        if isinstance(elem, DataElement) and elem.VR == "SQ" and len(elem.value or ()) >= min_items:
            encoded = encode_sequence(elem.value)
            if encoded is not None:
                elements[elem.tag] = RawDataElement(elem.tag, "SQ", len(encoded), encoded, 0, False, True)
                changed = True
                continue
        elements[elem.tag] = elem
    if not changed:
        return ds
    for elem in elements.values():
        if isinstance(elem, DataElement) and len(elem.VR) != 2:
            # An ambiguous VR ("OB or OW" pixel data) resolved as pydicom's writer would (in place,
            # as it does); left to the writer, it would convert every raw sequence back first.
            correct_ambiguous_vr_element(elem, ds, True)
    if any(len(e.VR or "") != 2 for e in elements.values()):
        return ds
    out = Dataset(elements)
    out.file_meta = FileMetaDataset(meta)
    out.preamble = getattr(ds, "preamble", None)
    # Written as it was "read": pydicom copies the raw sequences instead of re-encoding them.
    charset = ds.get("SpecificCharacterSet")
    out.set_original_encoding(False, True, convert_encodings(charset) if charset else default_encoding)
    return out


def encode_sequence(items: Iterable[Dataset]) -> bytes | None:
    """The value of a sequence (its items, defined lengths), or ``None`` when pydicom must write it.

    Only ASCII values are written here: they are encoded the same under every character set a
    data set may declare (ISO 2022 escapes never appear in ASCII text).
    """
    try:
        return b"".join(_item(item) for item in items)
    except (_Unhandled, struct.error, OverflowError, TypeError, ValueError):
        return None


def _item(item: Dataset) -> bytes:
    if "SpecificCharacterSet" in item:
        raise _Unhandled("an item's own character set")
    body = b"".join(_element(item, tag) for tag in sorted(item.keys()))
    return _ITEM + struct.pack("<L", len(body)) + body


def _element(ds: Dataset, tag: int) -> bytes:
    elem = ds.get_item(tag)
    if isinstance(elem, RawDataElement) or elem is None:
        raise _Unhandled("raw element")
    vr = elem.VR
    value = _value(elem, vr)
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
    if vr in _LONG_VRS:
        return head + struct.pack("<HL", 0, len(value)) + value
    if len(value) > 0xFFFF:
        raise _Unhandled("value too long for a 2-byte length")
    return head + struct.pack("<H", len(value)) + value


def _values(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (MultiValue, list, tuple)):
        return list(value)
    return [value]


def _ascii(text: str, pad: bytes = b" ") -> bytes:
    if not text.isascii():
        raise _Unhandled("non-ASCII text")
    data = text.encode("ascii")
    return data + pad if len(data) % 2 else data


def _value(elem: DataElement, vr: str) -> bytes:
    value = elem.value
    if vr == "SQ":
        return b"".join(_item(item) for item in value or ())
    if vr == "UI":
        return _ascii("\\".join(str(v) for v in _values(value)), b"\0")
    if vr in _TEXT:
        texts = []
        for v in _values(value):
            if isinstance(v, str):
                texts.append(v)
            elif hasattr(v, "original_string"):  # DA/DT/TM read or made from a string
                texts.append(str(v.original_string))
            else:
                raise _Unhandled("a date/time object")
        return _ascii("\\".join(texts))
    if vr in _SINGLE_TEXT:
        if isinstance(value, (MultiValue, list, tuple)):
            raise _Unhandled("multi-valued text")
        return _ascii("" if value is None else str(value))
    if vr in _NUMBER_TEXT:
        texts = [str(v.original_string) if hasattr(v, "original_string") else str(v) for v in _values(value)]
        if any(len(t) > (16 if vr == "DS" else 12) for t in texts):
            raise _Unhandled("a number string too long for its VR")
        return _ascii("\\".join(texts))
    if vr == "PN":
        names = [str(v) for v in _values(value)]
        if any("=" in n for n in names):
            raise _Unhandled("person name component groups")
        return _ascii("\\".join(names))
    code = _BINARY.get(vr)
    if code is not None:
        numbers = _values(value)
        return struct.pack("<" + code * len(numbers), *numbers)
    raise _Unhandled(f"VR {vr}")
