"""VOI window functions against values computed by hand from PS3.3 C.11.2.1.2 / C.11.2.1.3.

Each expected value is the formula worked out on paper (shown in the comment), then
rounded half up to a display value.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from pydicom.dataset import Dataset

from dicomweb.errors import BadRequest
from dicomweb.pixels.description import PixelDescription
from dicomweb.pixels.render import RenderAttributes, render_pixels, voi_lut_function
from dicomweb.pixels.render_params import RenderParams, Window, parse_render_params, parse_window

CASES = [
    # LINEAR, c=40 w=400: y = ((x - 39.5) / 399 + 0.5) * 255, 0 at or below -160, 255 above 239
    ("linear", 40, 400, -161, 0),
    ("linear", 40, 400, -160, 0),  # x <= c - 0.5 - (w-1)/2 = -160
    ("linear", 40, 400, -159, 1),  # (-198.5/399 + 0.5) * 255 = 0.639
    ("linear", 40, 400, 0, 102),  # (-39.5/399 + 0.5) * 255 = 102.256
    ("linear", 40, 400, 40, 128),  # (0.5/399 + 0.5) * 255 = 127.820
    ("linear", 40, 400, 100, 166),  # (60.5/399 + 0.5) * 255 = 166.165
    ("linear", 40, 400, 239, 255),  # (199.5/399 + 0.5) * 255 = 255
    ("linear", 40, 400, 240, 255),
    # LINEAR, c=100 w=2: y = (x - 99.5 + 0.5) * 255 -> the step 99 -> 0, 100 -> 255
    ("linear", 100, 2, 99, 0),
    ("linear", 100, 2, 100, 255),
    # LINEAR, w=1: only the two end conditions apply, the step is at c - 0.5 (no division by zero)
    ("linear", 100, 1, 99, 0),
    ("linear", 100, 1, 100, 255),
    # LINEAR_EXACT, c=40 w=400: y = ((x - 40) / 400 + 0.5) * 255, 0 at or below -160, 255 above 240
    ("linear-exact", 40, 400, -160, 0),
    ("linear-exact", 40, 400, -159, 1),  # 0.0025 * 255 = 0.6375
    ("linear-exact", 40, 400, 0, 102),  # 0.4 * 255 = 102
    ("linear-exact", 40, 400, 40, 128),  # 0.5 * 255 = 127.5, rounded half up
    ("linear-exact", 40, 400, 100, 166),  # 0.65 * 255 = 165.75
    ("linear-exact", 40, 400, 139, 191),  # 0.7475 * 255 = 190.6125
    ("linear-exact", 40, 400, 240, 255),
    # SIGMOID, c=40 w=400: y = 255 / (1 + exp(-4 (x - 40) / 400))
    ("sigmoid", 40, 400, 40, 128),  # 255 / 2 = 127.5
    ("sigmoid", 40, 400, 140, 186),  # 255 / (1 + e^-1) = 186.420
    ("sigmoid", 40, 400, -60, 69),  # 255 / (1 + e) = 68.580
    ("sigmoid", 40, 400, 440, 250),  # 255 / (1 + e^-4) = 250.413
    ("sigmoid", 40, 400, -360, 5),  # 255 / (1 + e^4) = 4.587
]

DESC = PixelDescription(rows=1, columns=1, samples_per_pixel=1, bits_allocated=16, bits_stored=16,
                        pixel_representation=1, photometric_interpretation="MONOCHROME2",
                        transfer_syntax_uid="1.2.840.10008.1.2.1")


def render(values: list[float], window: Window, dtype: str = "int16", **attrs: object) -> list[int]:
    arr = np.array([values], dtype=dtype)
    kwargs = {"photometric": "MONOCHROME2", **attrs}
    return [int(v) for v in render_pixels(arr, DESC, RenderAttributes(**kwargs), RenderParams(window=window))[0]]


@pytest.mark.parametrize("function,c,w,x,expected", CASES)
def test_hand_computed_values(function: str, c: float, w: float, x: int, expected: int) -> None:
    window = Window(c, w, function)
    assert render([x], window) == [expected]  # integer pixels: the affine / lookup path
    assert render([x], window, dtype="float64") == [expected]  # float pixels: the general path
    # through a Modality LUT stage: stored = (x + 100) / 2 with slope 2, intercept -100
    assert render([(x + 100) / 2], window, dtype="float64", rescale_slope=2.0, rescale_intercept=-100.0) == [expected]


def exact_display(x: int, window: Window, invert: bool = False) -> int:
    """PS3.3 C.11.2.1.2.1 / C.11.2.1.3.2 in exact rational arithmetic, rounded half up."""
    c, w, xx = Fraction(str(window.center)), Fraction(str(window.width)), Fraction(x)
    if window.function == "linear":
        if xx <= c - Fraction(1, 2) - (w - 1) / 2:
            y = Fraction(0)
        elif xx > c - Fraction(1, 2) + (w - 1) / 2:
            y = Fraction(255)
        else:
            y = ((xx - (c - Fraction(1, 2))) / (w - 1) + Fraction(1, 2)) * 255
    else:
        y = min(max(((xx - c) / w + Fraction(1, 2)) * 255, Fraction(0)), Fraction(255))
    if invert:
        y = 255 - y
    return math.floor(y + Fraction(1, 2))


def test_paths_agree_with_exact_arithmetic_on_every_value_including_halves() -> None:
    x = np.arange(-2048, 2048, dtype=np.int16)
    for window in (Window(40, 400, "linear"), Window(40, 400, "linear-exact"), Window(0.5, 3, "linear"),
                   Window(-1000, 2001, "linear-exact"), Window(40, 1, "linear"), Window(10.25, 7.5, "linear-exact")):
        for photometric, invert in (("MONOCHROME2", False), ("MONOCHROME1", True)):
            attrs = RenderAttributes(photometric=photometric)
            expected = [exact_display(int(v), window, invert) for v in x]
            fast = render_pixels(x[None, :], DESC, attrs, RenderParams(window=window))[0]  # integer pixels
            assert fast.astype(int).tolist() == expected, (window, photometric)
            floats = render_pixels(x[None, :].astype(np.float64), DESC, attrs, RenderParams(window=window))[0]
            assert floats.astype(int).tolist() == expected, (window, photometric)


def test_function_output_range_and_definition_domain() -> None:
    # y_min / y_max are parameters of the PS3.3 formulas (here a 12-bit output range).
    assert voi_lut_function(np.array([40.0]), 40, 400, "linear-exact", 0, 4095)[0] == 2047.5
    assert voi_lut_function(np.array([-160.0, 240.0]), 40, 400, "linear-exact", 0, 4095).tolist() == [0, 4095]
    for function, width in (("linear", 0.5), ("linear", 0.0), ("linear-exact", 0.0), ("sigmoid", -1.0)):
        with pytest.raises(BadRequest, match="width"):
            voi_lut_function(np.array([1.0]), 0, width, function)


@pytest.mark.parametrize(
    "text,window",
    [
        ("40,400", Window(40, 400, "linear")),
        ("40,400,linear", Window(40, 400, "linear")),
        ("40,400,linear-exact", Window(40, 400, "linear-exact")),
        ("40,400,LINEAR_EXACT", Window(40, 400, "linear-exact")),
        ("40,400,Sigmoid", Window(40, 400, "sigmoid")),
        ("40,1,linear", Window(40, 1, "linear")),
        ("-1000.5,0.5,linear-exact", Window(-1000.5, 0.5, "linear-exact")),
    ],
)
def test_window_parameter(text: str, window: Window) -> None:
    assert parse_window(text) == window
    assert parse_render_params({"window": text}).window == window


@pytest.mark.parametrize("text", ["40,0.5,linear", "40,0,linear-exact", "40,-1,sigmoid", "40,0", "40", "40,400,gamma",
                                  "40,inf", "x,400"])
def test_bad_windows_are_400_naming_the_parameter(text: str) -> None:
    with pytest.raises(BadRequest, match="window"):
        parse_window(text)


def test_dataset_voi_lut_function_is_honoured() -> None:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 40, 400, "LINEAR_EXACT"
    attrs = RenderAttributes.from_dataset(ds)
    assert attrs.voi_function == "linear-exact"
    arr = np.array([[40, 139]], dtype=np.int16)
    assert render_pixels(arr, DESC, attrs, RenderParams()).tolist() == [[128, 191]]
    ds.VOILUTFunction = "SIGMOID"
    # 255 / (1 + e^-0.99) = 185.917
    assert render_pixels(arr, DESC, RenderAttributes.from_dataset(ds), RenderParams()).tolist() == [[128, 186]]
    # a dataset window of width 1 with LINEAR is the step, not a crash
    ds.WindowWidth, ds.VOILUTFunction = 1, "LINEAR"
    assert render_pixels(arr, DESC, RenderAttributes.from_dataset(ds), RenderParams()).tolist() == [[255, 255]]
