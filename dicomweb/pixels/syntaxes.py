"""Frame media types and transcoding targets as data (PS3.18 §8.7.3, Table 8.7.3-5).

A frame of a native object (implicit/explicit/big endian/deflated) is served
as little-endian bytes, i.e. ``application/octet-stream`` with Explicit VR
Little Endian; compressed frames keep their bitstream and media type.
"""

from __future__ import annotations

from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEG2000MCLossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from dicomweb.media import FRAME_MEDIA_TYPE

OCTET_STREAM = "application/octet-stream"

# The archive-wide table (dicomweb.media), plus native frames as octet-stream.
FRAME_MEDIA_TYPES: dict[str, str] = {ExplicitVRLittleEndian: OCTET_STREAM, **FRAME_MEDIA_TYPE}

# The transfer syntax implied by a frame media type without transfer-syntax= (Table 8.7.3-5).
DEFAULT_SYNTAX: dict[str, str] = {
    OCTET_STREAM: ExplicitVRLittleEndian,
    "image/jpeg": JPEGBaseline8Bit,
    "image/jls": JPEGLSLossless,
    "image/jp2": JPEG2000Lossless,
    "image/jpx": JPEG2000MCLossless,
    "image/jphc": HTJ2KLossless,
    "image/dicom-rle": RLELossless,
}

NATIVE_SYNTAXES = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian}
)

# What Cirrus encodes to. Lossy targets are produced only when asked for by name
# (or by a media type whose default syntax is lossy, like image/jpeg).
LOSSLESS_TARGETS = frozenset(
    {ExplicitVRLittleEndian, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless, RLELossless, HTJ2KLossless}
)
LOSSY_TARGETS = frozenset({JPEGBaseline8Bit, JPEGLSNearLossless, JPEG2000, HTJ2K})
TARGETS = LOSSLESS_TARGETS | LOSSY_TARGETS

def stored_frame_syntax(stored_syntax: str) -> str:
    """The syntax a stored frame is served in without transcoding."""
    return ExplicitVRLittleEndian if stored_syntax in NATIVE_SYNTAXES else stored_syntax


def frame_media_type(transfer_syntax_uid: str) -> str:
    """Media type of a frame in ``transfer_syntax_uid`` (octet-stream for native data)."""
    return FRAME_MEDIA_TYPES.get(stored_frame_syntax(transfer_syntax_uid), OCTET_STREAM)
