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


__all__ = ["raw_to_json"]
