"""Pixel data: frame decoding, transcoding, rendering (PS3.18 §8.3.5, §8.7.3).

Pure library: callers pass frame bytes (or fragment lists) and a small
``PixelDescription`` taken from the dataset; nothing here reads storage.
Codecs come from pydicom's pixel backends (pylibjpeg, pyjpegls, pillow) and
imagecodecs for the encoders pydicom lacks (JPEG lossless SV1, HTJ2K).
"""

from __future__ import annotations

from dicomweb.pixels.decode import decode_dataset_frame, decode_frame, native_le_bytes
from dicomweb.pixels.description import PixelDescription
from dicomweb.pixels.render import RenderAttributes, render_frame
from dicomweb.pixels.render_params import RenderParams, parse_render_params
from dicomweb.pixels.syntaxes import (
    FRAME_MEDIA_TYPES,
    LOSSLESS_TARGETS,
    LOSSY_TARGETS,
    frame_media_type,
)
from dicomweb.pixels.transcode import encode_frame, transcode_dataset

__all__ = [
    "FRAME_MEDIA_TYPES",
    "LOSSLESS_TARGETS",
    "LOSSY_TARGETS",
    "PixelDescription",
    "RenderAttributes",
    "RenderParams",
    "decode_frame",
    "decode_dataset_frame",
    "native_le_bytes",
    "parse_render_params",
    "render_frame",
    "encode_frame",
    "frame_media_type",
    "transcode_dataset",
]
