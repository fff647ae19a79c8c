from __future__ import annotations

import pytest

from dicomweb.errors import BadRequest, UnsupportedMediaType
from dicomweb.multipart import (
    MultipartDecoder,
    PartData,
    PartEnd,
    PartStart,
    boundary_of,
    closing,
    parse_media_type,
    part_header,
)


def build(parts: list[tuple[dict[str, str], bytes]], boundary: str = "b0undary") -> bytes:
    out = b""
    for i, (headers, data) in enumerate(parts):
        ctype = headers.get("Content-Type", "application/dicom")
        out += part_header(ctype, {k: v for k, v in headers.items() if k != "Content-Type"}, first=i == 0,
                           boundary=boundary)
        out += data
    return out + closing(boundary)


def decode(body: bytes, boundary: str, chunk: int) -> list[tuple[dict[str, str], bytes]]:
    dec = MultipartDecoder(boundary)
    parts: list[tuple[dict[str, str], bytes]] = []
    events = []
    for i in range(0, len(body), chunk):
        events += list(dec.feed(body[i : i + chunk]))
    events += list(dec.close())
    cur = b""
    headers: dict[str, str] = {}
    for ev in events:
        if isinstance(ev, PartStart):
            headers, cur = ev.headers, b""
        elif isinstance(ev, PartData):
            cur += ev.data
        elif isinstance(ev, PartEnd):
            parts.append((headers, cur))
    return parts


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 16])
def test_round_trip_any_chunking(chunk: int) -> None:
    payloads = [b"\x00" * 10, b"--b0undar", b"\r\n--b0undar\r\n-", bytes(range(256)) * 40, b""]
    body = build([({"Content-Type": "application/dicom"}, p) for p in payloads])
    parts = decode(body, "b0undary", chunk)
    assert [p for _, p in parts] == payloads
    assert all(h["content-type"] == "application/dicom" for h, _ in parts)


def test_preamble_and_epilogue_are_ignored() -> None:
    body = b"preamble text\r\n" + build([({}, b"abc")]) + b"epilogue"
    assert decode(body, "b0undary", 5) == [({"content-type": "application/dicom"}, b"abc")]


def test_missing_closing_boundary_is_an_error() -> None:
    body = build([({}, b"abc")])[: -len(b"--\r\n") - 12]
    with pytest.raises(BadRequest, match="ended inside part"):
        decode(body, "b0undary", 4)


def test_wrong_boundary_is_an_error() -> None:
    with pytest.raises(BadRequest, match="no part"):
        decode(build([({}, b"abc")]), "other", 100)


@pytest.mark.parametrize(
    "header,boundary",
    [
        ('multipart/related; type="application/dicom"; boundary=abc', "abc"),
        ("multipart/related; type=application/dicom; boundary=\"a b:c\"", "a b:c"),
        ("Multipart/Related;boundary=XYZ;type=application/dicom", "XYZ"),
    ],
)
def test_boundary_parsing(header: str, boundary: str) -> None:
    assert boundary_of(header) == boundary
    assert parse_media_type(header).params["type"] == "application/dicom"


def test_boundary_errors() -> None:
    with pytest.raises(UnsupportedMediaType):
        boundary_of("application/json")
    with pytest.raises(BadRequest, match="boundary"):
        boundary_of('multipart/related; type="application/dicom"')
