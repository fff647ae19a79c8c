"""Builders of hostile and odd ZIP archives for upload tests (made in the test, never stored)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def traversal_zip() -> bytes:
    return zip_bytes({"ok.txt": b"x", "../../etc/cirrus-owned": b"pwned"})


def absolute_zip() -> bytes:
    return zip_bytes({"/tmp/cirrus-owned": b"pwned"})


def bomb_zip(size: int = 50 * 1024 * 1024) -> bytes:
    # 50 MB of zeros deflate to ~50 KB: a ratio of ~1000:1.
    return zip_bytes({"zeros.dcm": b"\0" * size})


def nested_zip(inner_files: dict[str, bytes]) -> bytes:
    return zip_bytes({"inner.zip": zip_bytes(inner_files), "readme.txt": b"hello"})


def empty_zip() -> bytes:
    return zip_bytes({})


def gbk_named_zip(data: bytes) -> bytes:
    """A member whose name is GBK bytes without the UTF-8 flag (as Chinese Windows writes it)."""
    raw = "检查/图像1.dcm".encode("gbk")
    placeholder = b"x" * (len(raw) - 4) + b".dcm"
    # zipfile would write a non-ASCII name as flagged UTF-8: write an ASCII
    # placeholder of the same length and swap the bytes in both headers.
    return zip_bytes({placeholder.decode(): data}).replace(placeholder, raw)


def dicom_zip(paths: list[Path], prefix: str = "DICOM") -> bytes:
    return zip_bytes({f"{prefix}/{p.parent.name}/{p.name}": p.read_bytes() for p in paths})


def overlapping_zip(copies: int = 50, size: int = 1024 * 1024) -> bytes:
    """One stored entry listed ``copies`` times in the central directory (a non-recursive zip bomb:
    every listing inflates the same bytes). Names are kept equal to the local header's."""
    import struct

    single = zip_bytes({"a.dcm": bytes(range(256)) * (size // 256)}, zipfile.ZIP_DEFLATED)
    eocd_at = single.rindex(b"PK\x05\x06")
    _, _, _, _, _, cd_size, cd_offset, _ = struct.unpack("<4sHHHHIIH", single[eocd_at:eocd_at + 22])
    record = single[cd_offset:cd_offset + cd_size]
    body = single[:cd_offset] + record * copies
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, copies, copies, cd_size * copies, cd_offset, 0)
    return body + eocd


def lying_size_zip() -> bytes:
    """An entry whose central directory states a smaller size than what it inflates to."""
    import struct

    data = zip_bytes({"a.dcm": b"x" * 100_000})
    eocd_at = data.rindex(b"PK\x05\x06")
    cd_offset = struct.unpack("<I", data[eocd_at + 16:eocd_at + 20])[0]
    out = bytearray(data)
    out[cd_offset + 24:cd_offset + 28] = struct.pack("<I", 10)  # uncompressed size in the central record
    return bytes(out)
