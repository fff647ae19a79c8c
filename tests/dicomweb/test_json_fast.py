"""The raw-bytes DICOM JSON path gives exactly pydicom's JSON, on every file we have."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from dicomweb.json_fast import raw_to_json
from dicomweb.json_model import dataset_to_json

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _files() -> list[str]:
    files = [f for f in get_testdata_files("*") if not f.endswith((".py", ".txt", ".json", ".gz", ".bz2", ".xz"))]
    files += sorted(str(p) for p in SHARED.rglob("*.dcm"))[:150]
    return files


def _read(path: str) -> pydicom.Dataset | None:
    try:
        return pydicom.dcmread(path, defer_size=1024, force=True)
    except Exception:
        return None


def test_same_json_as_pydicom_on_every_file() -> None:
    compared = converted = 0
    for path in _files():
        fast_ds, slow_ds = _read(path), _read(path)
        if fast_ds is None or slow_ds is None:
            continue
        try:
            slow = dataset_to_json(slow_ds, lambda p: "uri:" + p, fast=False)
        except Exception:
            continue
        fast = dataset_to_json(fast_ds, lambda p: "uri:" + p)
        assert fast == slow, path
        compared += 1
        converted += sum(1 for e in fast_ds.values() if isinstance(e, RawDataElement))
    assert compared > 100
    assert converted > 1000  # the fast path really ran (raw elements left unconverted)


def _raw(vr: str, value: bytes, little: bool = True) -> RawDataElement:
    return RawDataElement(Tag(0x00100010), vr, len(value), value, 0, False, little)


@pytest.mark.parametrize(
    ("vr", "value", "expected"),
    [
        ("CS", b"ORIGINAL\\PRIMARY ", ["ORIGINAL", "PRIMARY"]),
        ("AE", b" CIRRUS  ", ["CIRRUS"]),
        ("UI", b"1.2.3\x00", ["1.2.3"]),
        ("LO", b"a \\b ", ["a", "b"]),
        ("LT", b"  keep\\this  ", ["  keep\\this"]),
        ("IS", b" 12\\-3 ", [12, -3]),
        ("DS", b"1.5\\-2e3\\.25 ", [1.5, -2000.0, 0.25]),
        ("PN", b"Doe^John\\Roe^Jane ", [{"Alphabetic": "Doe^John"}, {"Alphabetic": "Roe^Jane"}]),
        ("US", b"\x01\x00\x02\x00", [1, 2]),
        ("FD", b"\x00\x00\x00\x00\x00\x00\xf0?", [1.0]),
    ],
)
def test_values(vr: str, value: bytes, expected: list[object]) -> None:
    assert raw_to_json(_raw(vr, value)) == {"vr": vr, "Value": expected}


def test_big_endian_numbers_and_empty_values() -> None:
    assert raw_to_json(_raw("US", b"\x00\x01", little=False)) == {"vr": "US", "Value": [1]}
    assert raw_to_json(_raw("CS", b"")) == {"vr": "CS"}
    assert raw_to_json(_raw("CS", b"  ")) == {"vr": "CS"}


@pytest.mark.parametrize(
    ("vr", "value"),
    [
        ("PN", "Yamada^Tarou=山田^太郎".encode()),  # groups and non-ASCII: pydicom
        ("LO", b"\x1b$B"),  # ISO 2022 escape
        ("IS", b"1.5"),  # not an integer string
        ("DS", b"abc"),
        ("US", b"\x01"),  # odd length
        ("AT", b"\x10\x00\x10\x00"),
        ("SQ", b"\xfe\xff\x00\xe0"),
        ("US or SS", b"\x01\x00"),
        ("FD", b"\x00\x00\x00\x00\x00\x00\xf8\x7f"),  # NaN
    ],
)
def test_left_to_pydicom(vr: str, value: bytes) -> None:
    assert raw_to_json(_raw(vr, value)) is None
