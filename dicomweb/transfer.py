"""Which transfer syntax answers a retrieve, and whether the stored bytes can be sent as they are.

PS3.18 §8.7.3 makes Explicit VR Little Endian the default for instances and
uncompressed bulk data ("If no media type Transfer Syntax parameter is
specified, then the Explicit VR Little Endian Transfer Syntax shall be used"),
``transfer-syntax=*`` lets the origin server answer "without needing to
transcode" (§8.7.3.5.2), and each compressed bulk data media type has a default
syntax of its own (Table 8.7.3-5). The exception — a server that only has lossy
(or too large) compressed pixel data may return it — is applied here too.

:func:`plan_transfer` is the whole decision, made from the negotiated media
range (see :mod:`dicomweb.media`) and what is stored; the caller supplies what
its codecs can do. It returns a :class:`TransferPlan` (serve the stored bytes,
or transcode to a syntax) or raises ``NotAcceptable`` naming the reason. The
test table ``tests/dicomweb/test_transfer.py`` is the specification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from dicomweb.errors import NotAcceptable
from dicomweb.media import (
    DEFLATED_LE,
    DICOM,
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    NATIVE_SYNTAXES,
    OCTET_STREAM,
    frame_media_type,
)

__all__ = [
    "DEFAULT_SYNTAX_FOR_MEDIA_TYPE",
    "LOSSY_SYNTAXES",
    "Resource",
    "TransferPlan",
    "plan_transfer",
]


class Resource(Enum):
    INSTANCE = "instance"  # application/dicom (PS3.18 Table 8.7.3-2)
    PIXELS = "pixels"  # frames, or the Pixel Data bulk data element (Tables 8.7.3-4, 8.7.3-5)
    BULK = "bulk"  # any other bulk data element: uncompressed little-endian bytes (Table 8.7.3-4)


# Default syntax of each compressed bulk data media type (PS3.18 Table 8.7.3-5, the "D" rows).
DEFAULT_SYNTAX_FOR_MEDIA_TYPE: dict[str, str] = {
    OCTET_STREAM: EXPLICIT_VR_LE,
    "image/jpeg": "1.2.840.10008.1.2.4.70",  # JPEG Lossless, First-Order Prediction (SV1)
    "image/dicom-rle": "1.2.840.10008.1.2.5",
    "image/jls": "1.2.840.10008.1.2.4.80",
    "image/jp2": "1.2.840.10008.1.2.4.90",
    "image/jpx": "1.2.840.10008.1.2.4.92",
    "image/jphc": "1.2.840.10008.1.2.4.201",
    "video/mpeg": "1.2.840.10008.1.2.4.101",
    "video/mp4": "1.2.840.10008.1.2.4.102",
}

# Syntaxes whose pixel data may have lost information: the PS3.18 §8.7.3.4 exception lets the
# server return them as stored when no syntax is asked for. JPEG 2000 (.91, .93) and HTJ2K (.203)
# allow lossy coding, so they count as lossy unless the caller knows better.
LOSSY_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.93",
        "1.2.840.10008.1.2.4.203",
        "1.2.840.10008.1.2.4.100",
        "1.2.840.10008.1.2.4.101",
        "1.2.840.10008.1.2.4.102",
        "1.2.840.10008.1.2.4.103",
        "1.2.840.10008.1.2.4.104",
        "1.2.840.10008.1.2.4.105",
        "1.2.840.10008.1.2.4.106",
        "1.2.840.10008.1.2.4.107",
        "1.2.840.10008.1.2.4.108",
    }
)

# Native syntaxes whose frames are little-endian bytes at a known offset in the stored object.
_DIRECT_NATIVE = frozenset({EXPLICIT_VR_LE, IMPLICIT_VR_LE})
# Never produced for DICOMweb (PS3.18 §8.7.3: "shall not be used with Web Services"); answered
# only when they are what is stored and the client asked for exactly that (or for "*").
_NOT_PRODUCED = frozenset({IMPLICIT_VR_LE, EXPLICIT_VR_BE})


@dataclass(frozen=True)
class TransferPlan:
    """How to answer one part.

    ``transcode_to`` is None when the stored bytes are sent unchanged (for pixels: the stored
    frame bytes, which for native data are little-endian). ``transfer_syntax`` is the label of
    the part's ``Content-Type``.
    """

    media_type: str
    transfer_syntax: str
    transcode_to: str | None = None

    def content_type(self) -> str:
        return f"{self.media_type}; transfer-syntax={self.transfer_syntax}"


def _always(_: str) -> bool:
    return True


def plan_transfer(
    resource: Resource,
    part_type: str,
    asked: str | None,
    stored: str,
    *,
    wildcard: bool = False,
    can_decode: bool = True,
    can_encode: Callable[[str], bool] = _always,
    lossy: bool | None = None,
    fits_uncompressed: bool = True,
    keep_lossy: bool = False,
) -> TransferPlan:
    """Decide the answer for one stored object.

    ``part_type`` and ``asked`` come from the negotiated choice (the offer's media type and the
    range's ``transfer-syntax`` parameter: a UID, ``"*"`` or None); ``wildcard`` says the range
    named no particular type (``*/*`` or ``type="*/*"``), which Cirrus reads as "anything,
    preferably as stored". ``can_decode`` tells whether the stored pixel data can be decoded,
    ``can_encode(uid)`` whether Cirrus can encode to ``uid``; ``lossy`` overrides the guess from
    the syntax (e.g. from Lossy Image Compression (0028,2110)); ``fits_uncompressed`` is False
    when the decoded pixel data would not fit a native value field. ``keep_lossy`` applies the
    §8.7.3.4 permission to answer an instance request without a syntax with lossy pixel data as
    stored; off by default, so the default answer is Explicit VR Little Endian whenever the
    pixel data can be decoded.
    """
    is_lossy = stored in LOSSY_SYNTAXES if lossy is None else lossy
    if resource is Resource.INSTANCE:
        return _instance(asked, stored, can_decode, can_encode, is_lossy and keep_lossy, fits_uncompressed)
    if resource is Resource.BULK:
        return _bulk(asked)
    return _pixels(part_type, asked, stored, wildcard, can_decode, can_encode, is_lossy, fits_uncompressed)


def _refuse(message: str) -> NotAcceptable:
    return NotAcceptable(message)


def _instance(
    asked: str | None,
    stored: str,
    can_decode: bool,
    can_encode: Callable[[str], bool],
    lossy: bool,
    fits: bool,
) -> TransferPlan:
    as_stored = TransferPlan(DICOM, stored)
    if asked == "*" or asked == stored:
        return as_stored
    if asked in _NOT_PRODUCED:
        raise _refuse(f"transfer syntax {asked} is not used with DICOMweb (PS3.18 §8.7.3); the instance is "
                      f"stored as {stored}: ask for {EXPLICIT_VR_LE} or transfer-syntax=*")
    target = asked or EXPLICIT_VR_LE
    if target == stored:
        return as_stored
    if stored in NATIVE_SYNTAXES:
        if target == EXPLICIT_VR_LE:
            # Only the data set encoding changes (and the byte order of big-endian pixel data).
            return TransferPlan(DICOM, EXPLICIT_VR_LE, transcode_to=EXPLICIT_VR_LE)
        if can_encode(target):
            return TransferPlan(DICOM, target, transcode_to=target)
        raise _refuse(f"transcoding to transfer syntax {target} is not available")
    # Stored compressed.
    if asked is None and (lossy or not fits or not can_decode):
        # PS3.18 §8.7.3.4 note 2: lossy (or too large) pixel data may be returned as stored;
        # an undecodable bitstream is all there is, so it is returned as stored as well.
        return as_stored
    if not can_decode:
        raise _refuse(f"the pixel data of this instance ({stored}) cannot be decoded, so it cannot be sent as "
                      f"{target}; ask for transfer-syntax={stored} or transfer-syntax=*")
    if target == EXPLICIT_VR_LE and not fits:
        raise _refuse("the decompressed pixel data would not fit an Explicit VR Little Endian value field "
                      "(PS3.18 §8.7.8.1 note 1); ask for a compressed transfer syntax or transfer-syntax=*")
    if target != EXPLICIT_VR_LE and not can_encode(target):
        raise _refuse(f"transcoding to transfer syntax {target} is not available")
    return TransferPlan(DICOM, target, transcode_to=target)


def _bulk(asked: str | None) -> TransferPlan:
    # Bulk data other than pixel data is a stream of little-endian bytes (Table 8.7.3-4); its
    # representation is the same whatever the stored syntax (the stored value is read and, for
    # big-endian objects, swapped by the caller).
    if asked in (None, "*", EXPLICIT_VR_LE, IMPLICIT_VR_LE):
        return TransferPlan(OCTET_STREAM, asked if asked in (EXPLICIT_VR_LE, IMPLICIT_VR_LE) else EXPLICIT_VR_LE)
    raise _refuse(f"bulk data that is not pixel data is only available uncompressed ({EXPLICIT_VR_LE}), "
                  f"not as {asked}")


def _pixels(
    part_type: str,
    asked: str | None,
    stored: str,
    wildcard: bool,
    can_decode: bool,
    can_encode: Callable[[str], bool],
    lossy: bool,
    fits: bool,
) -> TransferPlan:
    native = stored in NATIVE_SYNTAXES
    stored_type = frame_media_type(stored)
    # The stored bitstream as it is: native frames are little-endian bytes (big-endian and
    # deflated objects need converting first); compressed frames keep their own media type.
    if native:
        as_stored = TransferPlan(OCTET_STREAM, EXPLICIT_VR_LE,
                                 transcode_to=None if stored in _DIRECT_NATIVE else EXPLICIT_VR_LE)
    else:
        as_stored = TransferPlan(stored_type, stored)

    def decoded(label: str) -> TransferPlan:
        if native:
            return TransferPlan(OCTET_STREAM, label, transcode_to=as_stored.transcode_to)
        if not can_decode:
            raise _refuse(f"the stored frames ({stored}) cannot be decoded to uncompressed pixel data; "
                          f"ask for transfer-syntax={stored} or transfer-syntax=*")
        if not fits:
            raise _refuse("the decompressed frames would not fit a native value field")
        return TransferPlan(OCTET_STREAM, label, transcode_to=EXPLICIT_VR_LE)

    def encoded(target: str) -> TransferPlan:
        media = frame_media_type(target)
        if not wildcard and media != part_type:
            raise _refuse(f"transfer syntax {target} is carried as {media}, not as {part_type}")
        if target == stored:
            return as_stored
        if not (native or can_decode) or not can_encode(target):
            raise _refuse(f"transcoding frames stored as {stored} to {target} is not available")
        return TransferPlan(media, target, transcode_to=target)

    if asked == "*":
        return as_stored
    if asked is None:
        if wildcard:
            return as_stored
        if part_type == OCTET_STREAM:
            return decoded(EXPLICIT_VR_LE)
        default = DEFAULT_SYNTAX_FOR_MEDIA_TYPE.get(part_type)
        if part_type == stored_type and (stored == default or lossy or not fits or default is None):
            return as_stored  # the stored bitstream is already of this media type (lossy: §8.7.3.4)
        if default is None:
            raise _refuse(f"no default transfer syntax for {part_type}; name one with transfer-syntax=")
        if part_type == stored_type and not (can_decode and can_encode(default)):
            return as_stored
        return encoded(default)
    if asked in (EXPLICIT_VR_LE, IMPLICIT_VR_LE):
        if not wildcard and part_type != OCTET_STREAM:
            raise _refuse(f"uncompressed frames ({asked}) are carried as {OCTET_STREAM}, not as {part_type}")
        # Little-endian bytes are the same for both syntaxes: label the part with what was asked.
        return decoded(asked)
    if asked in (EXPLICIT_VR_BE, DEFLATED_LE):
        raise _refuse(f"frames are not available as {asked}; uncompressed frames are little-endian "
                      f"({EXPLICIT_VR_LE})")
    return encoded(asked)
