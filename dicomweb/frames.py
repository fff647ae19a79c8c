"""Byte ranges of every frame in a stored Part 10 object (PS3.5 §8.2, Annex A.4).

Native pixel data: frame *i* is ``frame_size`` bytes at ``value_offset + i*frame_size``.
Encapsulated pixel data: each frame is one or more fragments; the mapping comes
from the Basic Offset Table, else the Extended Offset Table, else one fragment
per frame, else a scan for the start-of-codestream markers.

Works on a binary file object positioned anywhere; reads only element and
item headers (plus 4 bytes per fragment when a marker scan is needed), never
the pixel values themselves.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from pydicom.dataset import Dataset

from dicomweb.errors import Unprocessable

# A frame is a list of (offset, length) byte ranges in the stored object.
FrameRanges = list[list[tuple[int, int]]]

PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # PixelData, FloatPixelData, DoubleFloatPixelData
ITEM = 0xFFFEE000
SEQ_DELIM = 0xFFFEE0DD
_START_MARKERS = (b"\xff\xd8", b"\xff\x4f", b"\x00\x00\x00\x0c")  # JPEG SOI, J2K SOC, JP2 box


def native_frame_size(ds: Dataset, pixel_tag: int) -> int:
    rows = int(ds.get("Rows", 0) or 0)
    cols = int(ds.get("Columns", 0) or 0)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    if pixel_tag == 0x7FE00008:
        bits = 32
    elif pixel_tag == 0x7FE00009:
        bits = 64
    else:
        bits = int(ds.get("BitsAllocated", 0) or 0)
    if bits == 1:
        # Bit-packed frames (e.g. BINARY Segmentation) follow each other without padding
        # (PS3.5 8.1.1): each starts on a byte only when a frame holds a multiple of 8 pixels.
        if rows and cols and (rows * cols * spp) % 8 == 0:
            return rows * cols * spp // 8
        raise Unprocessable("BitsAllocated 1 frames are not byte-aligned")
    if not rows or not cols or not bits:
        raise Unprocessable("pixel data without Rows, Columns or BitsAllocated")
    if spp == 3 and str(ds.get("PhotometricInterpretation", "")) == "YBR_FULL_422":
        return rows * cols * 2 * (bits // 8)  # 4:2:2 subsampled chroma: two samples per pixel
    return rows * cols * spp * (bits // 8)


def read_element_header(fp: BinaryIO, implicit: bool, little: bool) -> tuple[int, str | None, int, int]:
    """(tag, VR, length, value_offset) of the element starting at fp's position."""
    start = fp.tell()
    endian = "<" if little else ">"
    head = fp.read(8)
    if len(head) < 8:
        raise Unprocessable("file ends inside an element header")
    group, elem = struct.unpack(endian + "HH", head[:4])
    tag = (group << 16) | elem
    if implicit:
        (length,) = struct.unpack(endian + "L", head[4:8])
        return tag, None, length, start + 8
    vr = head[4:6].decode("latin-1")
    if vr in ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"):
        ext = fp.read(4)
        if len(ext) < 4:
            raise Unprocessable("file ends inside an element header")
        (length,) = struct.unpack(endian + "L", ext)
        return tag, vr, length, start + 12
    (length,) = struct.unpack(endian + "H", head[6:8])
    return tag, vr, length, start + 8


def _items(fp: BinaryIO, start: int, file_size: int) -> list[tuple[int, int]]:
    """(value_offset, length) of each item of an encapsulated value, first = offset table."""
    items: list[tuple[int, int]] = []
    pos = start
    while True:
        fp.seek(pos)
        head = fp.read(8)
        if len(head) < 8:
            raise Unprocessable("encapsulated pixel data ends without a sequence delimiter")
        group, elem, length = struct.unpack("<HHL", head)
        tag = (group << 16) | elem
        if tag == SEQ_DELIM:
            return items
        if tag != ITEM:
            raise Unprocessable(f"unexpected tag ({group:04X},{elem:04X}) inside encapsulated pixel data")
        if length == 0xFFFFFFFF or pos + 8 + length > file_size:
            raise Unprocessable("encapsulated fragment length runs past the end of the file")
        items.append((pos + 8, length))
        pos += 8 + length


def _group_fragments(
    fp: BinaryIO, ds: Dataset, bot: tuple[int, int], fragments: list[tuple[int, int]], n_frames: int
) -> FrameRanges:
    if n_frames <= 1:
        return [[f for f in fragments]] if fragments else []
    first_frag = fragments[0][0] - 8 if fragments else 0
    # Basic Offset Table: offsets of each frame's first item, relative to the first fragment's item tag.
    if bot[1] >= 4 * n_frames:
        fp.seek(bot[0])
        offsets = list(struct.unpack(f"<{bot[1] // 4}L", fp.read(bot[1])))[:n_frames]
        return _by_offsets(fragments, [first_frag + o for o in offsets])
    eot = ds.get("ExtendedOffsetTable")
    if eot is not None and len(eot) >= 8 * n_frames:
        offsets = list(struct.unpack(f"<{n_frames}Q", bytes(eot)[: 8 * n_frames]))
        return _by_offsets(fragments, [first_frag + o for o in offsets])
    if len(fragments) == n_frames:
        return [[f] for f in fragments]
    frames: FrameRanges = []
    for off, length in fragments:
        fp.seek(off)
        head = fp.read(4)
        if not frames or any(head.startswith(m) for m in _START_MARKERS):
            frames.append([(off, length)])
        else:
            frames[-1].append((off, length))
    if len(frames) != n_frames:
        raise Unprocessable(
            f"cannot map {len(fragments)} fragments to {n_frames} frames (no offset table)"
        )
    return frames


def _by_offsets(fragments: list[tuple[int, int]], starts: list[int]) -> FrameRanges:
    item_starts = [off - 8 for off, _ in fragments]
    frames: FrameRanges = []
    positions = {s: i for i, s in enumerate(item_starts)}
    for k, s in enumerate(starts):
        if s not in positions:
            raise Unprocessable("offset table entry does not point at a fragment")
        i = positions[s]
        j = positions[starts[k + 1]] if k + 1 < len(starts) and starts[k + 1] in positions else len(fragments)
        frames.append(fragments[i:j])
    return frames


def frame_ranges(fp: BinaryIO, ds: Dataset, pixel_offset: int, file_size: int) -> tuple[FrameRanges, str]:
    """Frame byte ranges for the pixel element at ``pixel_offset``; also its VR.

    ``ds`` is the dataset read up to (not including) the pixel data.
    """
    ts = ds.file_meta.TransferSyntaxUID
    fp.seek(pixel_offset)
    tag, vr, length, value_offset = read_element_header(fp, ts.is_implicit_VR, ts.is_little_endian)
    if tag not in PIXEL_TAGS:
        raise Unprocessable(f"expected pixel data at offset {pixel_offset}, found tag {tag:08X}")
    vr = vr or ("OB" if int(ds.get("BitsAllocated", 16) or 16) <= 8 else "OW")
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if length == 0xFFFFFFFF:
        items = _items(fp, value_offset, file_size)
        if not items:
            raise Unprocessable("encapsulated pixel data without a Basic Offset Table item")
        return _group_fragments(fp, ds, items[0], items[1:], n_frames), "OB"
    if value_offset + length > file_size:
        raise Unprocessable(
            f"pixel data declares {length} bytes but only {file_size - value_offset} remain in the file"
        )
    size = native_frame_size(ds, tag)
    if size * n_frames > length:
        raise Unprocessable(
            f"pixel data holds {length} bytes, fewer than {n_frames} frames of {size} bytes"
        )
    return [[(value_offset + i * size, size)] for i in range(n_frames)], vr
