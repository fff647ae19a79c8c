"""Encode decoded frames into another transfer syntax.

pydicom's encoders cover RLE, JPEG-LS and JPEG 2000; imagecodecs (libjpeg-turbo
3 and OpenJPH) covers JPEG lossless SV1, JPEG baseline and HTJ2K. Every
encoder gets pixel values exactly as decoded, so lossless targets round-trip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import imagecodecs
import numpy as np
import rle
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels.encoders.base import get_encoder
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from dicomweb.errors import NotAcceptable, Unprocessable
from dicomweb.pixels.decode import decode_dataset_frame, native_le_bytes
from dicomweb.pixels.description import PixelDescription
from dicomweb.pixels.syntaxes import LOSSY_TARGETS, TARGETS


@dataclass(frozen=True)
class Encoded:
    """One encoded frame and the description of what it now holds."""

    data: bytes
    description: PixelDescription


def _unsigned_pattern(arr: np.ndarray, desc: PixelDescription) -> np.ndarray:
    """Signed samples as the unsigned bit pattern of BitsStored bits (how JPEG stores them)."""
    if not desc.pixel_representation:
        return arr
    width = desc.bits_allocated
    unsigned = arr.astype(np.dtype(f"i{width // 8}")).view(np.dtype(f"u{width // 8}"))
    return np.asarray(unsigned & np.array((1 << desc.bits_stored) - 1, dtype=unsigned.dtype))


def _require_integer(desc: PixelDescription, target: str, max_bits: int) -> None:
    if desc.is_float:
        raise NotAcceptable(f"float pixel data cannot be encoded as {UID(target).name}")
    if desc.bits_stored > max_bits or desc.bits_allocated == 1:
        raise NotAcceptable(f"{desc.bits_stored}-bit pixel data cannot be encoded as {UID(target).name}")


def _pydicom_encode(arr: np.ndarray, desc: PixelDescription, target: str, **extra: Any) -> bytes:
    opts = desc.decode_options()
    opts.pop("pixel_keyword", None)
    opts["planar_configuration"] = 0
    encoder = get_encoder(UID(target))
    opts.update(extra)
    return bytes(encoder.encode(np.ascontiguousarray(arr), **opts))


def _explicit_le(arr: np.ndarray, desc: PixelDescription, quality: int) -> Encoded:
    return Encoded(native_le_bytes(arr, desc), desc)


def _jpeg_lossless(arr: np.ndarray, desc: PixelDescription, quality: int) -> Encoded:
    _require_integer(desc, JPEGLosslessSV1, 16)
    data = imagecodecs.jpeg8_encode(
        np.ascontiguousarray(_unsigned_pattern(arr, desc)),
        lossless=True,
        predictor=1,
        bitspersample=max(desc.bits_stored, 2),
    )
    return Encoded(bytes(data), desc)


def _jpeg_baseline(arr: np.ndarray, desc: PixelDescription, quality: int) -> Encoded:
    _require_integer(desc, JPEGBaseline8Bit, 8)
    if desc.pixel_representation:
        raise NotAcceptable("signed pixel data cannot be encoded as JPEG baseline")
    colour = desc.samples_per_pixel == 3
    data = imagecodecs.jpeg8_encode(
        np.ascontiguousarray(arr, dtype=np.uint8),
        level=quality,
        colorspace="RGB" if colour else None,
        outcolorspace="YCBCR" if colour else None,
        subsampling="422" if colour else None,
    )
    photometric = "YBR_FULL_422" if colour else desc.photometric_interpretation
    return Encoded(bytes(data), replace(desc, bits_stored=8, photometric_interpretation=photometric))


def _jpeg_ls(near: int) -> Callable[[np.ndarray, PixelDescription, int], Encoded]:
    def encode(arr: np.ndarray, desc: PixelDescription, quality: int) -> Encoded:
        target = JPEGLSNearLossless if near else JPEGLSLossless
        _require_integer(desc, target, 16)
        extra = {"jls_error": near} if near else {}
        try:
            return Encoded(_pydicom_encode(arr, desc, target, **extra), desc)
        except RuntimeError:
            # pyjpegls under-sizes its output buffer for tiny images; CharLS via imagecodecs does not.
            data = imagecodecs.jpegls_encode(np.ascontiguousarray(_unsigned_pattern(arr, desc)), level=near)
            return Encoded(bytes(data), desc)

    return encode


def _j2k(lossless: bool) -> Callable[[np.ndarray, PixelDescription, int], Encoded]:
    def encode(arr: np.ndarray, desc: PixelDescription, quality: int) -> Encoded:
        target = JPEG2000Lossless if lossless else JPEG2000
        _require_integer(desc, target, 24)
        # Quality 1..100 maps to compression ratios of roughly 40:1 .. 4:1.
        ratio = max(4.0, 40.0 - 0.36 * quality)
        extra = {} if lossless else {"j2k_cr": [ratio]}
        try:
            return Encoded(_pydicom_encode(arr, desc, target, **extra), desc)
        except RuntimeError:
            # openjpeg's fixed six DWT levels need >= 32 pixels a side; use fewer for small images.
            levels = max(1, min(6, min(desc.rows, desc.columns).bit_length() - 1))
            data = imagecodecs.jpeg2k_encode(
                np.ascontiguousarray(arr),
                level=0 if lossless else int(max(1, 100 - ratio)),
                codecformat="J2K",
                reversible=lossless,
                mct=False,
                resolutions=levels,
                bitspersample=desc.bits_stored,
            )
            return Encoded(bytes(data), desc)

    return encode


def _rle(arr: np.ndarray, desc: PixelDescription, quality: int) -> Encoded:
    if desc.is_float:
        raise NotAcceptable("float pixel data cannot be encoded as RLE Lossless")
    # pylibjpeg-rle directly: pydicom's RLE encoder refuses 32-bit samples that PS3.5 G allows.
    data = rle.encode_pixel_data(  # type: ignore[attr-defined]
        native_le_bytes(arr, desc),
        rows=desc.rows,
        columns=desc.columns,
        samples_per_pixel=desc.samples_per_pixel,
        bits_allocated=desc.bits_allocated,
        byteorder="<",
    )
    return Encoded(bytes(data), desc)


def _htj2k(lossless: bool) -> Callable[[np.ndarray, PixelDescription, int], Encoded]:
    def encode(arr: np.ndarray, desc: PixelDescription, quality: int) -> Encoded:
        target = HTJ2KLossless if lossless else HTJ2K
        _require_integer(desc, target, 16)
        data = imagecodecs.htj2k_encode(
            np.ascontiguousarray(arr),
            # OpenJPH's lossy "level" is a quantisation step: quality 90 -> 0.0002, 50 -> 0.0032.
            level=None if lossless else 0.0001 * 2 ** ((100 - quality) / 10),
            reversible=lossless,
            rgb=desc.samples_per_pixel == 3,
        )
        return Encoded(bytes(data), desc)

    return encode


ENCODERS: dict[str, Callable[[np.ndarray, PixelDescription, int], Encoded]] = {
    ExplicitVRLittleEndian: _explicit_le,
    JPEGLosslessSV1: _jpeg_lossless,
    JPEGLSLossless: _jpeg_ls(0),
    JPEGLSNearLossless: _jpeg_ls(2),
    JPEG2000Lossless: _j2k(True),
    JPEG2000: _j2k(False),
    RLELossless: _rle,
    JPEGBaseline8Bit: _jpeg_baseline,
    HTJ2KLossless: _htj2k(True),
    HTJ2K: _htj2k(False),
}
assert set(ENCODERS) == set(TARGETS)


# Deepest integer samples each target holds (None: float data too).
MAX_BITS: dict[str, int | None] = {
    ExplicitVRLittleEndian: None,
    RLELossless: 32,
    JPEGLosslessSV1: 16,
    JPEGLSLossless: 16,
    JPEGLSNearLossless: 16,
    JPEG2000Lossless: 24,
    JPEG2000: 24,
    HTJ2KLossless: 16,
    HTJ2K: 16,
    JPEGBaseline8Bit: 8,
}


def check_encodable(desc: PixelDescription, target: str) -> None:
    """Raise ``NotAcceptable`` (naming why) when frames like ``desc`` cannot be encoded as ``target``.

    Lets a server refuse before it starts streaming a response.
    """
    if str(target) not in ENCODERS:
        raise NotAcceptable(f"transcoding to transfer syntax {target} is not supported")
    limit = MAX_BITS[str(target)]
    if limit is None:
        return
    if desc.is_float:
        raise NotAcceptable(f"float pixel data cannot be encoded as {UID(target).name}")
    if target == RLELossless:
        if desc.samples_per_pixel * -(-desc.bits_allocated // 8) > 15:
            raise NotAcceptable("RLE Lossless holds at most 15 byte segments per frame")
        return
    _require_integer(desc, target, limit)
    if target == JPEGBaseline8Bit and desc.pixel_representation:
        raise NotAcceptable("signed pixel data cannot be encoded as JPEG baseline")


def encode_frame(arr: np.ndarray, desc: PixelDescription, target: str, *, quality: int = 90) -> Encoded:
    """Encode one decoded frame (as returned by ``decode_frame(as_rgb=True)``).

    ``desc`` describes the *decoded* array (its photometric interpretation
    after colour conversion). Raises ``NotAcceptable`` when the target cannot
    hold this kind of pixel data, ``Unprocessable`` when the encoder fails.
    """
    encoder = ENCODERS.get(str(target))
    if encoder is None:
        raise NotAcceptable(f"transcoding to transfer syntax {target} is not supported")
    out_desc = desc.with_syntax(str(target))
    try:
        encoded = encoder(arr, out_desc, quality)
    except (NotAcceptable, Unprocessable):
        raise
    except Exception as exc:
        raise Unprocessable(f"frame cannot be encoded as {UID(target).name}: {exc}") from exc
    return encoded


def transcode_dataset(ds: Dataset, target: str) -> Dataset:
    """Return a copy of ``ds`` with every frame re-encoded in ``target``.

    Frames are decoded one at a time; the Image Pixel module and the file
    meta are updated, and lossy targets set Lossy Image Compression (PS3.3 C.7.6.1.1.5).
    """
    desc = PixelDescription.from_dataset(ds)
    frames: list[bytes] = []
    out_desc = desc
    for index in range(desc.number_of_frames):
        arr, photometric = decode_dataset_frame(ds, index)
        decoded = replace(desc, photometric_interpretation=photometric, planar_configuration=0)
        encoded = encode_frame(arr, decoded, target)
        frames.append(encoded.data)
        out_desc = encoded.description
    out = ds.copy()
    out.file_meta = ds.file_meta.copy()  # type: ignore[assignment]
    out.file_meta.TransferSyntaxUID = UID(target)
    out.PhotometricInterpretation = out_desc.photometric_interpretation
    if not desc.is_float:
        out.BitsStored = out_desc.bits_stored
    if desc.samples_per_pixel > 1:
        out.PlanarConfiguration = 0
    keyword = desc.pixel_keyword
    if target == ExplicitVRLittleEndian:
        setattr(out, keyword, b"".join(frames))
        out[keyword].VR = {"FloatPixelData": "OF", "DoubleFloatPixelData": "OD"}.get(
            keyword, "OB" if desc.bits_allocated <= 8 else "OW"
        )
    else:
        out.PixelData = encapsulate(frames, has_bot=len(frames) > 1)
        out["PixelData"].VR = "OB"
        out["PixelData"].is_undefined_length = True
    if target in LOSSY_TARGETS:
        out.LossyImageCompression = "01"
    return out
