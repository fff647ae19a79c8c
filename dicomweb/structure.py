"""Structural check of a Part 10 object: every element ends inside the object, nothing is cut.

pydicom reads leniently: a value cut at the end of the file comes back shortened (a truncated
UID looks valid), and a sequence nested a few hundred levels deep exhausts the recursion limit
later, while the object is converted. This walk reads only element headers (tag, VR, length),
never values, so it costs microseconds per element and nothing per pixel byte. It answers the
first problem found, or None when the object is whole.

Works on any buffer (``bytes``, ``mmap``); knows the element encodings of PS3.5 §7.1 and the
item/delimiter rules of §7.5 (defined and undefined lengths, encapsulated pixel data, UN with
undefined length read as implicit VR little endian, PS3.5 §6.2.2).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Union

from pydicom.datadict import dictionary_VR

if TYPE_CHECKING:
    import mmap

MAX_DEPTH = 32  # sequence nesting; real objects rarely exceed 8 levels
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
LONG_VRS = frozenset(
    b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split()
)
PIXEL_DATA = 0x7FE00010


Buffer = Union[bytes, bytearray, memoryview, "mmap.mmap"]


class Cut(Exception):
    """The structural problem found (message for the STOW failure)."""


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _implicit_is_sequence(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


class _Walker:
    def __init__(self, buf: Buffer, little: bool, explicit: bool) -> None:
        self.buf = buf
        self.size = len(buf)
        self.endian = "<" if little else ">"

    def _need(self, pos: int, n: int, end: int, what: str) -> None:
        if pos + n > end:
            where = "object" if end == self.size else "enclosing item"
            raise Cut(f"{what} at byte {pos} needs {n} bytes but the {where} ends at byte {end}"
                      " (truncated or inconsistent lengths)")

    def _tag(self, pos: int, e: str) -> int:
        group, elem = struct.unpack_from(f"{e}HH", self.buf, pos)
        return int((group << 16) | elem)

    def dataset(self, pos: int, end: int, e: str, explicit: bool, depth: int, in_item: bool,
                stop_group: int | None = None) -> int:
        """Walk elements from ``pos`` up to ``end`` (or an item delimiter when ``in_item`` and the item
        has undefined length, signalled by end == -1). Returns the position after the last element."""
        limit = self.size if end < 0 else end
        while pos < limit:
            self._need(pos, 8, limit, "an element header")
            tag = self._tag(pos, e)
            if stop_group is not None and tag >> 16 != stop_group:
                return pos
            if tag == ITEM_END:
                if not (in_item and end < 0):
                    raise Cut(f"item delimiter at byte {pos} outside an item of undefined length")
                return pos + 8
            if tag in (ITEM, SEQ_END):
                raise Cut(f"unexpected {'item' if tag == ITEM else 'sequence delimiter'} at byte {pos}")
            vr = bytes(self.buf[pos + 4:pos + 6]) if explicit else None
            if explicit and vr is not None and vr in LONG_VRS:
                self._need(pos, 12, limit, f"the header of element {_tag_text(tag)}")
                (length,) = struct.unpack_from(f"{e}L", self.buf, pos + 8)
                pos += 12
            elif explicit:
                if vr is None or not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
                    raise Cut(f"element {_tag_text(tag)} at byte {pos} has no valid VR")
                (length,) = struct.unpack_from(f"{e}H", self.buf, pos + 6)
                pos += 8
            else:
                (length,) = struct.unpack_from(f"{e}L", self.buf, pos + 4)
                pos += 8
            if length == UNDEFINED:
                if explicit and vr == b"UN":
                    pos = self.sequence(pos, -1, "<", False, depth + 1)
                elif tag == PIXEL_DATA or (explicit and vr in (b"OB", b"OW")):
                    pos = self.fragments(pos, e)
                elif (explicit and vr == b"SQ") or not explicit:
                    pos = self.sequence(pos, -1, e, explicit, depth + 1)
                else:
                    raise Cut(f"element {_tag_text(tag)} has an undefined length but is not a sequence")
                continue
            if pos + length > limit:
                raise Cut(f"element {_tag_text(tag)} at byte {pos} declares {length} bytes but only "
                          f"{max(limit - pos, 0)} remain (truncated or inconsistent lengths)")
            if (explicit and vr == b"SQ") or (not explicit and _implicit_is_sequence(tag)):
                self.sequence(pos, pos + length, e, explicit, depth + 1)
            pos += length
        if in_item and end < 0:
            raise Cut("an item of undefined length has no item delimiter (truncated)")
        return pos

    def sequence(self, pos: int, end: int, e: str, explicit: bool, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise Cut(f"sequences nested deeper than {MAX_DEPTH} levels")
        limit = self.size if end < 0 else end
        while pos < limit:
            self._need(pos, 8, limit, "an item header")
            tag = self._tag(pos, e)
            (length,) = struct.unpack_from(f"{e}L", self.buf, pos + 4)
            pos += 8
            if tag == SEQ_END:
                if end >= 0:
                    raise Cut(f"sequence delimiter at byte {pos - 8} in a sequence of defined length")
                return pos
            if tag != ITEM:
                raise Cut(f"expected an item at byte {pos - 8}, found {_tag_text(tag)}")
            if length == UNDEFINED:
                pos = self.dataset(pos, -1, e, explicit, depth, True)
            else:
                if pos + length > limit:
                    raise Cut(f"item at byte {pos - 8} declares {length} bytes but only "
                              f"{max(limit - pos, 0)} remain (truncated or inconsistent lengths)")
                self.dataset(pos, pos + length, e, explicit, depth, True)
                pos += length
        if end < 0:
            raise Cut("a sequence of undefined length has no sequence delimiter (truncated)")
        return pos

    def fragments(self, pos: int, e: str) -> int:
        while True:
            self._need(pos, 8, self.size, "a pixel data fragment header")
            tag = self._tag(pos, e)
            (length,) = struct.unpack_from(f"{e}L", self.buf, pos + 4)
            pos += 8
            if tag == SEQ_END:
                return pos
            if tag != ITEM or length == UNDEFINED:
                raise Cut(f"encapsulated pixel data: expected a fragment at byte {pos - 8}")
            if pos + length > self.size:
                raise Cut(f"pixel data fragment at byte {pos - 8} declares {length} bytes but only "
                          f"{self.size - pos} remain (truncated)")
            pos += length


def meta_end(buf: Buffer) -> int:
    """Walk the File Meta Information (explicit VR little endian, after preamble and ``DICM``);
    return where the data set starts. Raises Cut."""
    if len(buf) < 132 or bytes(buf[128:132]) != b"DICM":
        raise Cut("not a DICOM Part 10 file (no 'DICM' prefix after the 128-byte preamble)")
    w = _Walker(buf, True, True)
    return w.dataset(132, len(buf), "<", True, 0, False, stop_group=0x0002)


def check_part10(buf: Buffer, little: bool, explicit: bool, *, deflated: bool = False) -> str | None:
    """The first structural problem of a Part 10 object, or None when it is whole.

    ``little``/``explicit`` describe the data set's transfer syntax; a deflated data set is only
    checked up to its File Meta Information (its body is a zlib stream, checked when inflated).
    """
    try:
        start = meta_end(buf)
        if deflated:
            return None
        w = _Walker(buf, little, explicit)
        w.dataset(start, len(buf), "<" if little else ">", explicit, 0, False)
    except Cut as exc:
        return str(exc)
    except struct.error as exc:  # a read past the end the checks above did not foresee
        return f"truncated element header ({exc})"
    return None


def check_dataset(buf: Buffer, little: bool, explicit: bool) -> str | None:
    """The first structural problem of a bare data set (no preamble or file meta), or None."""
    try:
        w = _Walker(buf, little, explicit)
        w.dataset(0, len(buf), "<" if little else ">", explicit, 0, False)
    except Cut as exc:
        return str(exc)
    except struct.error as exc:
        return f"truncated element header ({exc})"
    return None
