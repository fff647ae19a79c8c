"""Frame media types and transcoding targets as data (PS3.18 §8.7.3, Table 8.7.3-5).

A frame of a native object (implicit/explicit/big endian/deflated) is served
as little-endian bytes, i.e. ``application/octet-stream`` with Explicit VR
Little Endian; compressed frames keep their bitstream and media type.
"""

from __future__ import annotations

from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    JPEG2000MC,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEG2000MCLossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from dicomweb.errors import NotAcceptable

OCTET_STREAM = "application/octet-stream"

FRAME_MEDIA_TYPES: dict[str, str] = {
    ExplicitVRLittleEndian: OCTET_STREAM,
    JPEGBaseline8Bit: "image/jpeg",
    JPEGExtended12Bit: "image/jpeg",
    JPEGLossless: "image/jpeg",
    JPEGLosslessSV1: "image/jpeg",
    JPEGLSLossless: "image/jls",
    JPEGLSNearLossless: "image/jls",
    JPEG2000Lossless: "image/jp2",
    JPEG2000: "image/jp2",
    JPEG2000MCLossless: "image/jpx",
    JPEG2000MC: "image/jpx",
    HTJ2KLossless: "image/jphc",
    HTJ2KLosslessRPCL: "image/jphc",
    HTJ2K: "image/jphc",
    RLELossless: "image/dicom-rle",
}

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

ANY_TYPES = frozenset({"*/*", "*", "", "application/*", "image/*"})


def stored_frame_syntax(stored_syntax: str) -> str:
    """The syntax a stored frame is served in without transcoding."""
    return ExplicitVRLittleEndian if stored_syntax in NATIVE_SYNTAXES else stored_syntax


def frame_media_type(transfer_syntax_uid: str) -> str:
    """Media type of a frame in ``transfer_syntax_uid`` (octet-stream for native data)."""
    return FRAME_MEDIA_TYPES.get(stored_frame_syntax(transfer_syntax_uid), OCTET_STREAM)


def resolve_frame_syntax(stored_syntax: str, media_type: str | None, transfer_syntax: str | None) -> str:
    """Pick the syntax to send frames in for one Accept media range.

    ``media_type`` is the part type asked for (``None`` or ``*/*`` = any),
    ``transfer_syntax`` its ``transfer-syntax`` parameter (``None`` when
    absent, ``"*"`` for "as stored"). Returns the stored frame syntax when no
    transcoding is needed, else a member of ``TARGETS``. Raises
    ``NotAcceptable`` naming what cannot be given.
    """
    stored = stored_frame_syntax(stored_syntax)
    mtype = (media_type or "").strip().lower()
    any_type = mtype in ANY_TYPES
    stored_type = FRAME_MEDIA_TYPES.get(stored, OCTET_STREAM)
    if transfer_syntax == "*":
        # "anything": clients like OHIF send type=application/octet-stream with '*'.
        if any_type or mtype == stored_type or mtype == OCTET_STREAM:
            return stored
        if mtype in DEFAULT_SYNTAX:
            return _checked_target(DEFAULT_SYNTAX[mtype], stored_syntax)
        raise NotAcceptable(f"frames cannot be returned as {media_type}")
    if not transfer_syntax:
        if any_type or mtype == stored_type:
            return stored
        if mtype not in DEFAULT_SYNTAX:
            raise NotAcceptable(f"frames cannot be returned as {media_type}")
        return _checked_target(DEFAULT_SYNTAX[mtype], stored_syntax)
    wanted = UID(transfer_syntax.strip().strip('"'))
    if not any_type and FRAME_MEDIA_TYPES.get(wanted) != mtype:
        raise NotAcceptable(f"transfer syntax {wanted} is not a valid syntax for media type {media_type}")
    if wanted == stored:
        return stored
    return _checked_target(wanted, stored_syntax)


def _checked_target(target: str, stored_syntax: str) -> str:
    if stored_frame_syntax(stored_syntax) == target:
        return target
    if target not in TARGETS:
        raise NotAcceptable(f"transcoding to transfer syntax {target} is not supported")
    return target
