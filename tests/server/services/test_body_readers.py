"""Request body readers: each media type read as a stream, limits and bad parts named."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dicomweb.errors import BadRequest, UnsupportedMediaType
from server.app_errors import InvalidInput, PayloadTooLarge
from server.memory import MemoryBudget
from server.services import body_readers
from server.services.body_readers import PartFailure, SpoolConfig
from server.services.ingest import Spooled

BOUNDARY = "b0undary"


async def chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def related(parts: list[tuple[str, bytes]], close: bool = True) -> bytes:
    out = b""
    for ctype, body in parts:
        out += f"--{BOUNDARY}\r\nContent-Type: {ctype}\r\n\r\n".encode() + body + b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


def spool_config(tmp_path: Path, budget: int = 1 << 20, part_max: int = 1 << 20) -> SpoolConfig:
    return SpoolConfig(tmp_path, MemoryBudget(budget), part_max)


async def collect(reader: body_readers.DicomBodyReader, body: bytes) -> list[Spooled | PartFailure]:
    return [p async for p in reader.parts(chunks(body))]


async def test_single_part_body_is_one_object_in_memory(tmp_path: Path) -> None:
    cfg = spool_config(tmp_path)
    reader = body_readers.dicom_reader("application/dicom", cfg)
    [part] = await collect(reader, b"DICM" * 100)
    assert isinstance(part, Spooled) and part.data == b"DICM" * 100 and part.path is None
    assert part.sha256 == hashlib.sha256(b"DICM" * 100).hexdigest()
    assert cfg.budget.used == 400
    part.release()
    assert cfg.budget.used == 0


async def test_multipart_parts_in_memory_then_on_disk_past_the_budget(tmp_path: Path) -> None:
    cfg = spool_config(tmp_path, budget=250)
    reader = body_readers.dicom_reader(f'multipart/related; type="application/dicom"; boundary={BOUNDARY}', cfg)
    bodies = [bytes([i]) * 100 for i in range(4)]
    parts = await collect(reader, related([("application/dicom", b) for b in bodies]))
    assert reader.malformed is None
    assert all(isinstance(p, Spooled) for p in parts)
    spooled = [p for p in parts if isinstance(p, Spooled)]
    assert [p.data is not None for p in spooled] == [True, True, False, False]
    assert cfg.budget.spills == 2
    for p, body in zip(spooled, bodies, strict=True):
        assert (p.data if p.data is not None else p.path.read_bytes()) == body  # type: ignore[union-attr]
        p.release()
    assert cfg.budget.used == 0 and not list(tmp_path.iterdir())


async def test_a_part_over_the_part_limit_goes_to_disk_with_budget_to_spare(tmp_path: Path) -> None:
    cfg = spool_config(tmp_path, part_max=50)
    reader = body_readers.dicom_reader(f"multipart/related; boundary={BOUNDARY}", cfg)
    [part] = await collect(reader, related([("application/dicom", b"x" * 80)]))
    assert isinstance(part, Spooled) and part.data is None and part.path is not None
    assert part.path.read_bytes() == b"x" * 80 and cfg.budget.used == 0
    part.release()
    assert not part.path.exists()


async def test_a_part_of_another_type_is_a_named_failure_and_the_rest_is_read(tmp_path: Path) -> None:
    cfg = spool_config(tmp_path)
    reader = body_readers.dicom_reader(f"multipart/related; boundary={BOUNDARY}", cfg)
    parts = await collect(reader, related([("text/plain", b"hello"), ("application/dicom", b"ok")]))
    assert parts[0] == PartFailure(1, "part 1 has Content-Type text/plain, expected application/dicom")
    assert isinstance(parts[1], Spooled) and parts[1].data == b"ok"
    assert cfg.budget.used == 2  # the refused part gave back what it held


async def test_a_body_that_breaks_off_keeps_the_parts_before_it(tmp_path: Path) -> None:
    cfg = spool_config(tmp_path)
    reader = body_readers.dicom_reader(f"multipart/related; boundary={BOUNDARY}", cfg)
    body = related([("application/dicom", b"first")], close=False) + f"--{BOUNDARY}\r\nContent-Ty".encode()
    parts = await collect(reader, body)
    assert [p.data for p in parts if isinstance(p, Spooled)] == [b"first"]
    assert reader.malformed
    assert cfg.budget.used == len(b"first"), "the cut part was given back"


@pytest.mark.parametrize(
    ("content_type", "error"),
    [
        (None, UnsupportedMediaType),
        ("application/json", UnsupportedMediaType),
        ('multipart/related; type="application/dicom+json"; boundary=x', UnsupportedMediaType),
        ("multipart/related; type=application/dicom", BadRequest),  # no boundary
    ],
)
def test_bodies_we_do_not_take_are_refused_by_type(tmp_path: Path, content_type: str | None, error: type) -> None:
    with pytest.raises(error):
        body_readers.dicom_reader(content_type, spool_config(tmp_path))


async def test_form_files_keep_their_names_and_plain_fields_are_ignored(tmp_path: Path) -> None:
    body = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''%E8%84%91.zip\r\n\r\nZIP!\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"g\"; filename=\"a.dcm\"\r\n\r\nDCM\r\n"
        f"--{BOUNDARY}--\r\n"
    ).encode()
    reader = body_readers.upload_reader(f"multipart/form-data; boundary={BOUNDARY}", "upload", 1000)
    files = [f async for f in reader.files(chunks(body), tmp_path)]
    assert [(name, path.read_bytes()) for name, path in files] == [("脑.zip", b"ZIP!"), ("a.dcm", b"DCM")]


async def test_upload_limits_and_empty_bodies(tmp_path: Path) -> None:
    raw = body_readers.upload_reader("application/zip", "big.zip", 10)
    with pytest.raises(PayloadTooLarge, match="limit of 10 bytes"):
        [f async for f in raw.files(chunks(b"x" * 11), tmp_path)]
    with pytest.raises(InvalidInput, match="empty"):
        [f async for f in raw.files(chunks(b""), tmp_path)]
    [(name, path)] = [f async for f in raw.files(chunks(b"PK"), tmp_path)]
    assert name == "big.zip" and path.read_bytes() == b"PK"
    with pytest.raises(InvalidInput, match="boundary"):
        body_readers.upload_reader("multipart/form-data", "x", 10)
    broken = body_readers.upload_reader(f"multipart/form-data; boundary={BOUNDARY}", "x", 100)
    with pytest.raises(InvalidInput, match="malformed multipart/form-data"):
        [f async for f in broken.files(chunks(b"no boundary here at all"), tmp_path)]
