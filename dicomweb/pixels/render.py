"""Render one decoded frame to JPEG/PNG/GIF (PS3.18 §8.3.5, PS3.3 C.11).

Grayscale pipeline: stored values -> Modality LUT (rescale or LUT) -> VOI
(explicit window, else the dataset's window, else its VOI LUT, else the
frame's min-max) -> MONOCHROME1 / INVERSE inversion -> optional palette.
Colour data arrives as RGB (decoders convert YBR); PALETTE COLOR is
expanded through the instance's palette. Integer frames take a lookup-table
path: the whole chain is computed once per distinct stored value.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import imagecodecs
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi_lut

from dicomweb.errors import BadRequest, Unprocessable
from dicomweb.pixels.description import PixelDescription
from dicomweb.pixels.render_params import PALETTES, RenderParams, Viewport, Window

_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF"}


def _first(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, list | tuple) or hasattr(value, "__len__") and not isinstance(value, str):
            value = value[0]
        return float(value)
    except (TypeError, ValueError, IndexError):
        return None


def _frame_group(ds: Dataset, index: int, keyword: str) -> Dataset | None:
    """An item of a functional group macro for frame ``index`` (per-frame wins over shared)."""
    for seq_kw, idx in (("PerFrameFunctionalGroupsSequence", index), ("SharedFunctionalGroupsSequence", 0)):
        seq = ds.get(seq_kw)
        if seq and len(seq) > idx:
            group = seq[idx].get(keyword)
            if group:
                return group[0]  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True)
class RenderAttributes:
    """Presentation attributes of one frame, taken from the dataset header."""

    photometric: str
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    window_center: float | None = None
    window_width: float | None = None
    voi_function: str = "linear"
    presentation_inverse: bool = False
    has_modality_lut: bool = False
    has_voi_lut: bool = False
    # The header dataset, kept for LUT sequences, palettes and annotations.
    dataset: Dataset | None = None

    @classmethod
    def from_dataset(cls, ds: Dataset, frame_index: int = 0) -> RenderAttributes:
        slope = _first(ds.get("RescaleSlope"))
        intercept = _first(ds.get("RescaleIntercept"))
        center = _first(ds.get("WindowCenter"))
        width = _first(ds.get("WindowWidth"))
        function = str(ds.get("VOILUTFunction") or "LINEAR")
        transform = _frame_group(ds, frame_index, "PixelValueTransformationSequence")
        if transform is not None:
            slope = _first(transform.get("RescaleSlope")) or slope
            intercept = _first(transform.get("RescaleIntercept"))
        voi = _frame_group(ds, frame_index, "FrameVOILUTSequence")
        if voi is not None:
            center = _first(voi.get("WindowCenter"))
            width = _first(voi.get("WindowWidth"))
            function = str(voi.get("VOILUTFunction") or function)
        function = function.strip().upper().replace("_", "-")
        return cls(
            photometric=str(ds.get("PhotometricInterpretation") or "MONOCHROME2").strip(),
            rescale_slope=slope if slope else 1.0,
            rescale_intercept=intercept or 0.0,
            window_center=center,
            window_width=width if width and width > 0 else None,
            voi_function={"LINEAR-EXACT": "linear-exact", "SIGMOID": "sigmoid"}.get(function, "linear"),
            presentation_inverse=str(ds.get("PresentationLUTShape") or "").upper() == "INVERSE",
            has_modality_lut="ModalityLUTSequence" in ds,
            has_voi_lut="VOILUTSequence" in ds,
            dataset=ds,
        )


def voi_lut_function(
    x: np.ndarray, center: float, width: float, function: str, y_min: float = 0.0, y_max: float = 255.0
) -> np.ndarray:
    """The VOI LUT functions of PS3.3 C.11.2.1.2 and C.11.2.1.3, exactly as written (float64).

    LINEAR (C.11.2.1.2.1), defined for width >= 1::

        x <= c - 0.5 - (w-1)/2  ->  y_min
        x >  c - 0.5 + (w-1)/2  ->  y_max
        else  y = ((x - (c - 0.5)) / (w-1) + 0.5) * (y_max - y_min) + y_min

    (width 1 is the step at c - 0.5: the middle formula is never used). LINEAR_EXACT
    (C.11.2.1.3.2), width > 0::

        x <= c - w/2  ->  y_min;   x > c + w/2  ->  y_max;   else  y = ((x - c) / w + 0.5) * (y_max - y_min) + y_min

    SIGMOID (C.11.2.1.3.1), width > 0::

        y = (y_max - y_min) / (1 + exp(-4 (x - c) / w)) + y_min

    The piecewise ends equal the clipped middle formula at the bounds, so the linear
    functions are computed as a clipped affine map.
    """
    v = np.asarray(x, dtype=np.float64)
    span = y_max - y_min
    if function == "sigmoid":
        if not width > 0:
            raise BadRequest(f"window: width must be > 0 for the sigmoid function, got {width:g}")
        with np.errstate(over="ignore"):
            return span / (1.0 + np.exp(-4.0 * (v - center) / width)) + y_min
    if function == "linear-exact":
        if not width > 0:
            raise BadRequest(f"window: width must be > 0 for the linear-exact function, got {width:g}")
        return np.clip(((v - center) / width + 0.5) * span + y_min, y_min, y_max)
    if not width >= 1:
        raise BadRequest(f"window: width must be >= 1 for the linear function, got {width:g}")
    if width == 1:
        return np.where(v > center - 0.5, y_max, y_min)
    return np.clip(((v - (center - 0.5)) / (width - 1) + 0.5) * span + y_min, y_min, y_max)


def voi_window(values: np.ndarray, window: Window) -> np.ndarray:
    """PS3.3 C.11.2.1.2 window functions mapping to 0..255 (float)."""
    return voi_lut_function(values, window.center, window.width, window.function)


# Display values are the VOI output rounded half up. The 1e-9 guard keeps float64 rounding from
# pulling a value PS3.3 puts exactly on a half below it; a rational window (decimal centre and
# width) cannot put a value that is not a half within 1e-9 of one.
_HALF_UP = 0.5 + 1e-9


def _to_uint8(y: np.ndarray) -> np.ndarray:
    """Display values: round half up, the same rule as the affine path."""
    return np.asarray(np.floor(np.asarray(y) + _HALF_UP).clip(0, 255).astype(np.uint8))


def _modality(values: np.ndarray, attrs: RenderAttributes) -> np.ndarray:
    if attrs.has_modality_lut and attrs.dataset is not None:
        return np.asarray(apply_modality_lut(values, attrs.dataset), dtype=np.float64)
    if attrs.rescale_slope == 1.0 and attrs.rescale_intercept == 0.0:
        return values.astype(np.float64)
    return values.astype(np.float64) * attrs.rescale_slope + attrs.rescale_intercept


def _affine(arr: np.ndarray, attrs: RenderAttributes, window: Window | None, invert: bool) -> np.ndarray:
    """Rescale + linear VOI (+ inversion) folded into one multiply-add.

    The hot path of rendering. It runs in float64: in float32 the folded coefficients
    (e.g. 255 / 400) are so inexact that values PS3.3 puts exactly on a half (the window
    centre of ``window=40,400,linear-exact``) rounded down. Costs about a millisecond
    more per 512x512 frame than float32.
    """
    slope, intercept = attrs.rescale_slope, attrs.rescale_intercept
    values = np.multiply(arr, 1.0, dtype=np.float64)
    if arr.dtype.kind == "f":
        np.nan_to_num(values, copy=False)
    if window is None:
        ends = sorted((float(values.min()) * slope + intercept, float(values.max()) * slope + intercept))
        window = Window((ends[0] + ends[1]) / 2.0, max(ends[1] - ends[0], 1e-9), "linear-exact")
    c, w = window.center, window.width
    if window.function == "linear":
        # PS3.3 C.11.2.1.2.1: y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, clipped (w > 1 here).
        a, b = 255.0 / (w - 1), ((0.5 - c) / (w - 1) + 0.5) * 255.0
    else:
        # C.11.2.1.3.2 (LINEAR_EXACT): y = ((x - c) / w + 0.5) * 255, clipped.
        a, b = 255.0 / w, (-c / w + 0.5) * 255.0
    scale, offset = a * slope, a * intercept + b
    if invert:
        scale, offset = -scale, 255.0 - offset
    values *= scale
    values += offset + _HALF_UP  # then truncation = rounding half up on [0, 255]
    np.clip(values, 0.0, 255.0, out=values)
    return np.asarray(values.astype(np.uint8))


def _grayscale(arr: np.ndarray, attrs: RenderAttributes, window: Window | None) -> np.ndarray:
    """Stored grayscale values -> uint8 display values."""
    if window is None and attrs.window_center is not None and attrs.window_width is not None:
        window = Window(attrs.window_center, attrs.window_width, attrs.voi_function)
        if window.function == "linear" and window.width < 1:
            window = replace(window, function="linear-exact")
    use_voi_lut = window is None and attrs.has_voi_lut and attrs.dataset is not None
    invert = attrs.photometric == "MONOCHROME1" or (attrs.photometric == "MONOCHROME2" and attrs.presentation_inverse)
    affine = window is None or window.function == "linear-exact" or (window.function == "linear" and window.width > 1)
    if not use_voi_lut and not attrs.has_modality_lut and arr.size and affine:
        return _affine(arr, attrs, window, invert)
    integer = arr.dtype.kind in "iub" and arr.size > 0
    if integer:
        lo, hi = int(arr.min()), int(arr.max())
        # Lookup-table path: the chain runs once per distinct stored value.
        domain = np.arange(lo, hi + 1, dtype=np.int64)
        src, index = domain, (arr.astype(np.int64) - lo) if lo else arr
    else:
        src, index = np.nan_to_num(arr.astype(np.float64)), None
    if use_voi_lut:
        assert attrs.dataset is not None
        lut_in = src if not attrs.has_modality_lut else np.asarray(apply_modality_lut(src, attrs.dataset))
        voi = np.asarray(apply_voi_lut(lut_in, attrs.dataset), dtype=np.float64)
        vmin, vmax = float(voi.min()), float(voi.max())
        out = (voi - vmin) / (vmax - vmin) * 255.0 if vmax > vmin else np.zeros_like(voi)
    else:
        values = _modality(src, attrs)
        if window is None:
            vmin, vmax = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
            window = Window((vmin + vmax) / 2.0, max(vmax - vmin, 1e-9), "linear-exact")
        out = voi_window(values, window)
    # Invert before rounding, as the affine path does, so both paths agree on every value.
    mapped = _to_uint8(255.0 - out if invert else out)
    if index is not None:
        return np.asarray(mapped[index])
    return mapped


def _colour(arr: np.ndarray, attrs: RenderAttributes, desc: PixelDescription, window: Window | None) -> np.ndarray:
    if attrs.photometric == "PALETTE COLOR":
        if attrs.dataset is None:
            raise Unprocessable("PALETTE COLOR image without its palette")
        try:
            rgb = apply_color_lut(arr, attrs.dataset)
        except Exception as exc:
            raise Unprocessable(f"palette colour lookup failed: {exc}") from exc
        return rgb[..., :3] if rgb.dtype == np.uint8 else (rgb[..., :3] >> 8).astype(np.uint8)
    if window is not None:
        return _to_uint8(voi_window(arr, window))
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "f":
        lo, hi = float(arr.min()), float(arr.max())
        return _to_uint8((arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr))
    shift = max(desc.bits_stored - 8, 0)
    return (arr.astype(np.uint64) >> shift).clip(0, 255).astype(np.uint8)


@lru_cache(maxsize=16)
def palette_lut(name: str) -> np.ndarray:
    """256x3 uint8 table of a well-known palette (PS3.6 Annex B)."""
    return np.asarray(apply_color_lut(np.arange(256, dtype=np.uint8), palette=PALETTES[name]))


MAX_OUTPUT_PIXELS = 4096 * 4096  # an enlarged rendering; never more pixels than this (or the source)


def _apply_viewport(img: Image.Image, viewport: Viewport | None) -> Image.Image:
    if viewport is None:
        return img
    if viewport.region is not None:
        sx, sy, sw, sh = viewport.region
        # (sx, sy) is the region's top-left corner; a negative width or height flips that axis.
        x0, x1 = sx, sx + abs(sw)
        y0, y1 = sy, sy + abs(sh)
        x1, y1 = min(x1, float(img.width)), min(y1, float(img.height))
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise BadRequest(f"viewport: region {viewport.region} lies outside the {img.width}x{img.height} image")
        img = img.crop((int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))))
        if sw < 0:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if sh < 0:
            img = img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    scale = min(viewport.width / img.width, viewport.height / img.height)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    if size[0] * size[1] > MAX_OUTPUT_PIXELS and size[0] * size[1] > img.width * img.height:
        raise BadRequest(f"viewport: the rendered image would be {size[0]}x{size[1]} pixels, more than the limit "
                         f"of {MAX_OUTPUT_PIXELS} (4096x4096)")
    if size == img.size:
        return img
    resample = Image.Resampling.BILINEAR if scale > 1 else Image.Resampling.LANCZOS
    return img.resize(size, resample, reducing_gap=3.0 if scale < 0.5 else None)


def _annotation_lines(attrs: RenderAttributes, kinds: tuple[str, ...], window_used: str) -> tuple[list[str], list[str]]:
    ds = attrs.dataset if attrs.dataset is not None else Dataset()
    top: list[str] = []
    bottom: list[str] = []
    if "patient" in kinds:
        top = [
            str(ds.get("PatientName", "") or ""),
            " ".join(str(ds.get(k, "") or "") for k in ("PatientID", "PatientSex", "PatientBirthDate")).strip(),
            " ".join(str(ds.get(k, "") or "") for k in ("StudyDate", "StudyDescription")).strip(),
        ]
    if "technique" in kinds:
        bottom = [
            " ".join(str(ds.get(k, "") or "") for k in ("Modality", "SeriesDescription")).strip(),
            " ".join(
                f"{label}{ds.get(k)}"
                for label, k in (
                    ("ST ", "SliceThickness"),
                    ("kVp ", "KVP"),
                    ("TR ", "RepetitionTime"),
                    ("TE ", "EchoTime"),
                )
                if ds.get(k) not in (None, "")
            ),
            window_used,
        ]
    return [t for t in top if t], [t for t in bottom if t]


def _annotate(img: Image.Image, attrs: RenderAttributes, kinds: tuple[str, ...], window_used: str) -> Image.Image:
    top, bottom = _annotation_lines(attrs, kinds, window_used)
    if not top and not bottom:
        return img
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    draw = ImageDraw.Draw(img)
    size = max(9, min(img.width, img.height) // 28)
    font = ImageFont.load_default(size)
    fill = 255 if img.mode == "L" else (255, 255, 255)
    stroke = 0 if img.mode == "L" else (0, 0, 0)
    y = 2
    for line in top:
        draw.text((3, y), line, fill=fill, font=font, stroke_width=1, stroke_fill=stroke)
        y += size + 2
    y = img.height - (size + 2) * len(bottom) - 2
    for line in bottom:
        draw.text((3, y), line, fill=fill, font=font, stroke_width=1, stroke_fill=stroke)
        y += size + 2
    return img


def render_pixels(arr: np.ndarray, desc: PixelDescription, attrs: RenderAttributes, params: RenderParams) -> np.ndarray:
    """Decoded frame -> display array (uint8, HxW or HxWx3), before viewport and annotation."""
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2 and attrs.photometric != "PALETTE COLOR":
        out = _grayscale(arr, attrs, params.window)
        if params.palette:
            out = palette_lut(params.palette)[out]
        return out
    return _colour(arr, attrs, desc, params.window)


def render_frame(arr: np.ndarray, desc: PixelDescription, attrs: RenderAttributes, params: RenderParams) -> bytes:
    """Render one decoded frame (``decode_frame(..., as_rgb=True)`` output) to image bytes."""
    if params.media_type not in _FORMATS:
        raise BadRequest(f"accept: cannot render {params.media_type}")
    display = render_pixels(arr, desc, attrs, params)
    if params.media_type == "image/jpeg" and params.viewport is None and not params.annotations:
        # Straight from the array to libjpeg-turbo: the common full-size case skips PIL entirely.
        return bytes(imagecodecs.jpeg8_encode(np.ascontiguousarray(display), level=params.quality))
    img = Image.fromarray(display)
    img = _apply_viewport(img, params.viewport)
    if params.annotations:
        window = params.window
        used = (
            f"W {window.width:g} C {window.center:g}"
            if window
            else (
                f"W {attrs.window_width:g} C {attrs.window_center:g}"
                if attrs.window_width is not None and attrs.window_center is not None
                else "W/C auto"
            )
        )
        img = _annotate(img, attrs, params.annotations, used)
    return encode_image(img, params)


def encode_image(img: Image.Image, params: RenderParams) -> bytes:
    buf = io.BytesIO()
    fmt = _FORMATS[params.media_type]
    if fmt == "JPEG":
        return bytes(imagecodecs.jpeg8_encode(np.asarray(img), level=params.quality))
    elif fmt == "PNG":
        img.save(buf, format="PNG", compress_level=3)
    elif img.mode == "RGB":
        img.convert("P", palette=Image.Palette.ADAPTIVE).save(buf, format="GIF")
    else:
        img.save(buf, format="GIF")
    return buf.getvalue()


def render_animation(
    frames: list[tuple[np.ndarray, PixelDescription, RenderAttributes]],
    params: RenderParams,
    frame_ms: int = 100,
) -> bytes:
    """Several decoded frames as one animated GIF (multi-frame rendered instance, PS3.18 §8.3.5.1)."""
    images = []
    for arr, desc, attrs in frames:
        img = _apply_viewport(Image.fromarray(render_pixels(arr, desc, attrs, params)), params.viewport)
        images.append(img.convert("P", palette=Image.Palette.ADAPTIVE) if img.mode == "RGB" else img)
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return buf.getvalue()
