"""Rendering against references computed here with numpy (PS3.3 C.11.2.1.2 formulas)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from dicomweb.errors import BadRequest
from dicomweb.pixels.decode import decode_dataset_frame
from dicomweb.pixels.description import PixelDescription
from dicomweb.pixels.render import RenderAttributes, palette_lut, render_frame, render_pixels
from dicomweb.pixels.render_params import RenderParams, Viewport, Window, parse_render_params

TS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "transfer-syntaxes"
# Set CIRRUS_RENDER_OUT=/some/dir to keep the PNGs of a CT, an MR, a colour and a MONOCHROME1 image.
OUT = os.environ.get("CIRRUS_RENDER_OUT")


def load(path: Path | str, **changes: object) -> tuple[np.ndarray, PixelDescription, RenderAttributes]:
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        setattr(ds, key, value)
    arr, photometric = decode_dataset_frame(ds, 0)
    desc = PixelDescription.from_dataset(ds)
    return arr, desc.with_syntax(desc.transfer_syntax_uid, photometric), RenderAttributes.from_dataset(ds)


def png(
    arr: np.ndarray, desc: PixelDescription, attrs: RenderAttributes, params: RenderParams, name: str
) -> np.ndarray:
    body = render_frame(arr, desc, attrs, params)
    if OUT:
        Path(OUT).mkdir(parents=True, exist_ok=True)
        Path(OUT, name + ".png").write_bytes(body)
    return np.asarray(Image.open(io.BytesIO(body)))


def reference_linear(values: np.ndarray, c: float, w: float) -> np.ndarray:
    lo, hi = c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2
    y = np.where(values <= lo, 0.0, np.where(values > hi, 255.0, ((values - (c - 0.5)) / (w - 1) + 0.5) * 255))
    return np.rint(y)


PNG = RenderParams(media_type="image/png")


def test_ct_window_from_parameters_and_from_dataset() -> None:
    arr, desc, attrs = load(get_testdata_file("CT_small.dcm"))
    hu = arr.astype(np.float64) * attrs.rescale_slope + attrs.rescale_intercept
    got = png(arr, desc, attrs, RenderParams("image/png", Window(40, 400)), "ct").astype(int)
    assert np.abs(got - reference_linear(hu, 40, 400)).max() <= 1
    # Dataset window (added here) is the default VOI.
    arr, desc, attrs = load(get_testdata_file("CT_small.dcm"), WindowCenter=300, WindowWidth=1500)
    got = png(arr, desc, attrs, PNG, "ct_dataset_window").astype(int)
    assert np.abs(got - reference_linear(hu, 300, 1500)).max() <= 1


def test_default_voi_is_min_max_and_sigmoid_and_exact() -> None:
    arr, desc, attrs = load(TS_DIR / "1.dcm")  # MR without... whatever window it has is overridden below
    attrs_nowin = RenderAttributes(photometric="MONOCHROME2", dataset=None)
    got = render_pixels(arr, desc, attrs_nowin, PNG).astype(int)
    v = arr.astype(np.float64)
    ref = np.rint((v - v.min()) / (v.max() - v.min()) * 255)
    assert np.abs(got - ref).max() <= 1 and got.min() == 0 and got.max() == 255
    got = render_pixels(arr, desc, attrs_nowin, RenderParams(window=Window(500, 300, "sigmoid"))).astype(int)
    ref = np.rint(255 / (1 + np.exp(-4 * (v - 500) / 300)))
    assert np.abs(got - ref).max() <= 1
    got = render_pixels(arr, desc, attrs_nowin, RenderParams(window=Window(500, 300, "linear-exact"))).astype(int)
    ref = np.rint(np.clip(((v - 500) / 300 + 0.5) * 255, 0, 255))
    assert np.abs(got - ref).max() <= 1


def test_mr_and_monochrome1_inversion() -> None:
    arr, desc, attrs = load(get_testdata_file("MR_small.dcm"))
    normal = png(arr, desc, attrs, PNG, "mr").astype(int)
    arr1, desc1, attrs1 = load(get_testdata_file("MR_small.dcm"), PhotometricInterpretation="MONOCHROME1")
    inverted = png(arr1, desc1, attrs1, PNG, "mr_monochrome1").astype(int)
    assert np.array_equal(inverted, 255 - normal)
    # Bright tissue in MONOCHROME2 is dark in MONOCHROME1.
    bright = normal > 200
    assert bright.any() and inverted[bright].max() < 56


def test_colour_spaces() -> None:
    names = ("SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_rle.dcm", "examples_ybr_color.dcm",
             "SC_ybr_full_422_uncompressed.dcm")
    for name in names:
        arr, desc, attrs = load(get_testdata_file(name))
        got = png(arr, desc, attrs, PNG, "colour_" + name.split(".")[0])
        ref = pydicom.dcmread(get_testdata_file(name)).pixel_array  # RGB after pydicom's conversion
        ref = ref[0] if ref.ndim == 4 else ref
        assert got.shape == ref.shape and np.abs(got.astype(int) - ref.astype(int)).max() <= 1, name
    # The RLE test image has known colour bars: first row band is pure red.
    arr, desc, attrs = load(get_testdata_file("SC_rgb_rle.dcm"))
    assert tuple(render_pixels(arr, desc, attrs, PNG)[5, 50]) == (255, 0, 0)


def test_palette_colour_and_pseudo_colour() -> None:
    arr, desc, attrs = load(get_testdata_file("examples_palette.dcm"))
    got = png(arr, desc, attrs, PNG, "palette_colour")
    ds = pydicom.dcmread(get_testdata_file("examples_palette.dcm"))
    lut = np.stack([np.frombuffer(ds[k].value, "<u2") for k in
                    ("RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
                     "BluePaletteColorLookupTableData")], axis=-1)
    first = int(ds.RedPaletteColorLookupTableDescriptor[1])
    ref = (lut[np.clip(arr.astype(int) - first, 0, len(lut) - 1)] >> 8).astype(np.uint8)
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1
    arr, desc, attrs = load(get_testdata_file("CT_small.dcm"))
    gray = render_pixels(arr, desc, attrs, RenderParams(window=Window(40, 400)))
    hot = render_pixels(arr, desc, attrs, RenderParams(window=Window(40, 400), palette="HOT_IRON"))
    assert np.array_equal(hot, palette_lut("HOT_IRON")[gray])


def test_viewport_region_flip_and_annotation() -> None:
    arr, desc, attrs = load(get_testdata_file("CT_small.dcm"))
    full = render_pixels(arr, desc, attrs, PNG)
    out = png(arr, desc, attrs, RenderParams("image/png", viewport=Viewport(32, 32, (0, 0, 64, 64))), "crop")
    assert out.shape == (32, 32)
    ref = np.asarray(Image.fromarray(full[:64, :64]).resize((32, 32), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(out.astype(int) - ref).mean() < 1
    flipped = png(arr, desc, attrs, RenderParams("image/png", viewport=Viewport(128, 128, (0, 0, 128, -128))), "flip")
    assert np.array_equal(flipped, full[::-1])
    with pytest.raises(BadRequest, match="^viewport"):
        render_frame(arr, desc, attrs, RenderParams(viewport=Viewport(10, 10, (500, 500, 10, 10))))
    plain = png(arr, desc, attrs, parse_render_params({"viewport": "256,256"}, "image/png"), "plain")
    annotated = png(arr, desc, attrs, parse_render_params({"viewport": "256,256", "annotation": "patient,technique"},
                                                          "image/png"), "annotated")
    changed = plain != annotated
    assert changed[:40].any() and changed[-40:].any() and not changed[100:150].any()


def test_jpeg_quality_changes_size() -> None:
    arr, desc, attrs = load(TS_DIR / "9.dcm")
    small = render_frame(arr, desc, attrs, RenderParams(quality=20))
    large = render_frame(arr, desc, attrs, RenderParams(quality=95))
    assert small[:2] == b"\xff\xd8" and len(small) < len(large)


def test_float_pixel_data_renders_min_max_and_with_window() -> None:
    values = np.linspace(-1.5, 3.0, 64 * 80, dtype=np.float32).reshape(64, 80)
    values[0, 0] = np.nan  # NaNs in parametric maps must not break rendering
    desc = PixelDescription(64, 80, 1, 32, 32, 0, "MONOCHROME2", "1.2.840.10008.1.2.1", pixel_keyword="FloatPixelData")
    attrs = RenderAttributes(photometric="MONOCHROME2")
    got = render_pixels(values, desc, attrs, PNG).astype(int)
    clean = np.nan_to_num(values)
    ref = np.rint((clean - clean.min()) / (clean.max() - clean.min()) * 255)
    assert np.abs(got - ref).max() <= 1
    got = render_pixels(values, desc, attrs, RenderParams(window=Window(0.5, 2.0, "linear-exact"))).astype(int)
    ref = np.rint(np.clip(((clean - 0.5) / 2.0 + 0.5) * 255, 0, 255))
    assert np.abs(got - ref).max() <= 1
