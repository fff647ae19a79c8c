"""DICOM JSON of the common raw elements, straight from their encoded bytes.

STOW turns every stored header into DICOM JSON; through pydicom each element is first converted
to a ``DataElement`` (value classes, validation, multi-value wrappers) and then back to JSON, which
costs more than parsing the header did. For the elements that make up nearly every header — ASCII
strings, person names without component groups, integer and decimal strings, binary numbers —
this module produces the same JSON directly from the bytes. Anything else (sequences, non-ASCII
or ISO 2022 text, person names with ideographic or phonetic groups, malformed numbers, ambiguous
VRs) returns ``None`` and takes the pydicom path, so the output is pydicom's in every case
(``tests/dicomweb/test_json_fast.py`` compares both on every file we have).
"""

from __future__ import annotations

import re
import struct
from typing import Any

from pydicom.dataelem import RawDataElement

# Values split at backslashes; the padding rule is the one pydicom applies to each VR.
_STRIP_ALL = frozenset({"AS", "CS", "DA", "DT", "TM", "UI"})  # trailing " \0" of the whole value
_STRIP_EACH = frozenset({"SH", "LO", "UC"})  # trailing " \0" of each value
_SINGLE = frozenset({"LT", "ST", "UT"})  # one value, backslashes kept, trailing " \0" removed
_BINARY = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}
_SIZES = {"H": 2, "h": 2, "L": 4, "l": 4, "f": 4, "d": 8}
_IS = re.compile(r"\s*[+-]?\d+\s*")
_DS = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _split(text: str, vr: str) -> list[str] | None:
    if vr == "AE":
        return [s.strip() for s in text.split("\\")]
    if vr in _STRIP_ALL:
        return text.rstrip(" \x00").split("\\")
    if vr in _STRIP_EACH:
        return [s.rstrip("\x00 ") for s in text.split("\\")]
    if vr in _SINGLE:
        return [text.rstrip("\x00 ")]
    return None


def raw_to_json(raw: RawDataElement) -> dict[str, Any] | None:
    """The DICOM JSON of ``raw``, or ``None`` when pydicom must convert it."""
    vr, value = raw.VR, raw.value
    if vr is None or not isinstance(value, bytes) or raw.length == 0xFFFFFFFF:
        return None
    if not value:
        return {"vr": vr}
    code = _BINARY.get(vr)
    if code is not None:
        size = _SIZES[code]
        if len(value) % size:
            return None
        count = len(value) // size
        numbers = struct.unpack(("<" if raw.is_little_endian else ">") + code * count, value)
        if code in "fd" and any(n != n or n in (float("inf"), float("-inf")) for n in numbers):
            return None
        return {"vr": vr, "Value": list(numbers)}
    if not value.isascii() or b"\x1b" in value:
        return None
    text = value.decode("ascii")
    if vr == "IS" or vr == "DS":
        parts = text.rstrip(" \x00").split("\\")
        pattern = _IS if vr == "IS" else _DS
        if not all(pattern.fullmatch(p) for p in parts):
            return None
        if vr == "IS":
            return {"vr": vr, "Value": [int(p) for p in parts]}
        return {"vr": vr, "Value": [float(p) for p in parts]}
    if vr == "PN":
        if "=" in text:
            return None
        names = [s.rstrip("\x00 ") for s in text.split("\\")]
        if len(names) == 1 and not names[0]:
            return {"vr": vr}
        return {"vr": vr, "Value": [{"Alphabetic": n} for n in names]}
    values = _split(text, vr)
    if values is None:
        return None
    if len(values) == 1 and not values[0]:
        return {"vr": vr}
    return {"vr": vr, "Value": values}


# Explicit VR Little Endian (PS3.5 §7.1.2): these VRs have 2 reserved bytes and a 4-byte length.
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
# Values dataset_to_json may turn into BulkDataURIs: a sequence holding one takes pydicom's path.
_NOT_HERE = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "SV", "UV"})
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF


class _Unhandled(Exception):
    """Something the sequence path leaves to pydicom (it then converts the whole sequence)."""


def sequence_to_json(raw: RawDataElement) -> dict[str, Any] | None:
    """The DICOM JSON of a raw Explicit VR Little Endian sequence (PS3.5 §7.5) straight from its
    bytes: items and nested sequences parsed here, every leaf through ``raw_to_json``. ``None``
    (pydicom's path) for anything else: implicit VR or big endian, a leaf ``raw_to_json`` leaves
    to pydicom (non-ASCII text, ...), binary VRs that may be bulk data, malformed structure.

    A SEG's per-frame functional groups (thousands of items) are where STOW spends its time
    otherwise: pydicom builds a ``Dataset`` per item before the JSON is made from it.
    """
    value = raw.value
    if raw.VR != "SQ" or raw.is_implicit_VR or not raw.is_little_endian or not isinstance(value, bytes):
        return None
    if raw.length == _UNDEFINED:
        return None
    try:
        items, end = _items(value, 0, len(value), defined=True)
    except (_Unhandled, struct.error, IndexError, UnicodeDecodeError):
        return None
    if end != len(value):
        return None
    return {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}


def _items(buf: bytes, pos: int, stop: int, defined: bool) -> tuple[list[dict[str, Any]], int]:
    """Items from ``pos``: up to ``stop`` (a defined-length sequence) or its delimiter."""
    items: list[dict[str, Any]] = []
    unpack = struct.unpack_from
    while pos < stop if defined else True:
        group, element, length = unpack("<HHL", buf, pos)
        tag = group << 16 | element
        pos += 8
        if tag == _SEQUENCE_END and not defined:
            return items, pos
        if tag != _ITEM:
            raise _Unhandled("not an item")
        if length == _UNDEFINED:
            item, pos = _elements(buf, pos, len(buf), defined=False)
        else:
            if pos + length > stop:
                raise _Unhandled("item overruns its sequence")
            item, end = _elements(buf, pos, pos + length, defined=True)
            if end != pos + length:
                raise _Unhandled("item length")
            pos = end
        items.append(item)
    return items, pos


def _elements(buf: bytes, pos: int, stop: int, defined: bool) -> tuple[dict[str, Any], int]:
    """One item's data set, as dataset_to_json gives it (sorted tags, group lengths left out)."""
    out: dict[int, dict[str, Any]] = {}
    unpack = struct.unpack_from
    while pos < stop if defined else True:
        group, element = unpack("<HH", buf, pos)
        tag = group << 16 | element
        if tag == _ITEM_END and not defined:
            return _sorted(out), pos + 8
        vr = buf[pos + 4:pos + 6].decode("ascii")
        if vr in _LONG_VRS:
            (length,) = unpack("<L", buf, pos + 8)
            pos += 12
        else:
            (length,) = unpack("<H", buf, pos + 6)
            pos += 8
        if vr in _NOT_HERE or group == 0x0002 or (group, element) == (0x0008, 0x0005):
            raise _Unhandled(vr)  # bulk candidates; a character set of the item's own
        if vr == "SQ":
            if length == _UNDEFINED:
                items, pos = _items(buf, pos, len(buf), defined=False)
            else:
                if pos + length > stop:
                    raise _Unhandled("sequence overruns its item")
                items, end = _items(buf, pos, pos + length, defined=True)
                if end != pos + length:
                    raise _Unhandled("sequence length")
                pos = end
            if element != 0:
                out[tag] = {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
            continue
        if length == _UNDEFINED or pos + length > stop:
            raise _Unhandled("leaf length")
        if element != 0:
            leaf = raw_to_json(RawDataElement(tag, vr, length, buf[pos:pos + length], pos, False, True))
            if leaf is None:
                raise _Unhandled("leaf")
            out[tag] = leaf
        pos += length
    return _sorted(out), pos


def _sorted(elements: dict[int, dict[str, Any]]) -> dict[str, Any]:
    return {f"{tag:08X}": elements[tag] for tag in sorted(elements)}


__all__ = ["raw_to_json", "sequence_to_json"]
