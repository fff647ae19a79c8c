"""Rendered parameters, media negotiation and the frame syntax table."""

from __future__ import annotations

import pytest

from dicomweb.errors import BadRequest, NotAcceptable
from dicomweb.pixels.render_params import Viewport, Window, negotiate_rendered_type, parse_render_params
from dicomweb.pixels.syntaxes import DEFAULT_SYNTAX, FRAME_MEDIA_TYPES, TARGETS, frame_media_type, stored_frame_syntax


def test_parse_all_parameters() -> None:
    p = parse_render_params(
        {"window": "40,400,sigmoid", "viewport": "256,128,10,20,-100,50", "quality": "70",
         "annotation": "technique,patient", "palette": "hot-iron"},
        "image/png",
    )
    assert p.media_type == "image/png"
    assert p.window == Window(40.0, 400.0, "sigmoid")
    assert p.viewport == Viewport(256, 128, (10.0, 20.0, -100.0, 50.0))
    assert p.quality == 70 and p.annotations == ("patient", "technique") and p.palette == "HOT_IRON"
    assert parse_render_params({}, None).cache_key() != p.cache_key()
    assert parse_render_params({"accept": "image/gif"}, "image/png").media_type == "image/gif"


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"window": "a,b"}, "window"),
        ({"window": "40"}, "window"),
        ({"window": "40,nan"}, "window"),
        ({"window": "40,0.5,linear"}, "window"),
        ({"window": "40,-3,linear-exact"}, "window"),
        ({"window": "40,400,gamma"}, "window"),
        ({"viewport": "0,10"}, "viewport"),
        ({"viewport": "10,10,0,0,0,5"}, "viewport"),
        ({"viewport": "10.5,10"}, "viewport"),
        ({"quality": "0"}, "quality"),
        ({"quality": "high"}, "quality"),
        ({"annotation": "everything"}, "annotation"),
        ({"palette": "rainbow"}, "palette"),
    ],
)
def test_bad_parameters_name_themselves(query: dict[str, str], name: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_render_params(query)
    assert info.value.message.startswith(name + ":")


def test_rendered_negotiation() -> None:
    assert negotiate_rendered_type(None) == "image/jpeg"
    assert negotiate_rendered_type("*/*") == "image/jpeg"
    assert negotiate_rendered_type("image/png;q=0.5, image/gif") == "image/gif"
    assert negotiate_rendered_type("image/webp, image/png;q=0.1") == "image/png"
    with pytest.raises(NotAcceptable):
        negotiate_rendered_type("image/webp")


def test_frame_syntax_tables() -> None:
    jls, le = "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.1"
    assert frame_media_type(jls) == "image/jls" and frame_media_type("1.2.840.10008.1.2") == "application/octet-stream"
    assert frame_media_type("1.2.840.10008.1.2.4.201") == "image/jphc"
    assert frame_media_type("1.2.840.10008.1.2.5") == "image/dicom-rle"
    assert stored_frame_syntax("1.2.840.10008.1.2.2") == le and stored_frame_syntax(jls) == jls
    for media, syntax in DEFAULT_SYNTAX.items():
        assert FRAME_MEDIA_TYPES[syntax] == media
    assert TARGETS <= set(FRAME_MEDIA_TYPES)
