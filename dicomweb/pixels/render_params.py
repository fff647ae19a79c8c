"""Rendered-resource query parameters (PS3.18 §8.3.5.1) parsed into a typed value.

Every error is a ``BadRequest`` that names the parameter, so a client sees
``window: width must be > 0`` rather than a stack trace.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from dicomweb.errors import BadRequest, NotAcceptable

RENDERED_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif")
VOI_FUNCTIONS = ("linear", "linear-exact", "sigmoid")
ANNOTATIONS = ("patient", "technique")
# Well-known colour palettes (PS3.6 Annex B) by name -> SOP Instance UID.
PALETTES: dict[str, str] = {
    "HOT_IRON": "1.2.840.10008.1.5.1",
    "PET": "1.2.840.10008.1.5.2",
    "HOT_METAL_BLUE": "1.2.840.10008.1.5.3",
    "PET_20_STEP": "1.2.840.10008.1.5.4",
    "SPRING": "1.2.840.10008.1.5.5",
    "SUMMER": "1.2.840.10008.1.5.6",
    "FALL": "1.2.840.10008.1.5.7",
    "WINTER": "1.2.840.10008.1.5.8",
}
MAX_VIEWPORT = 8192
DEFAULT_QUALITY = 90
THUMBNAIL_SIZE = 128


@dataclass(frozen=True)
class Window:
    """An explicit VOI window (PS3.3 C.11.2.1.2)."""

    center: float
    width: float
    function: str = "linear"


@dataclass(frozen=True)
class Viewport:
    """Output size, and optionally the source region ``(sx, sy, sw, sh)`` (negative = flip)."""

    width: int
    height: int
    region: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class RenderParams:
    media_type: str = "image/jpeg"
    window: Window | None = None
    viewport: Viewport | None = None
    quality: int = DEFAULT_QUALITY
    annotations: tuple[str, ...] = field(default_factory=tuple)
    palette: str | None = None

    def cache_key(self) -> str:
        """Canonical text of everything that changes the output bytes."""
        parts = [self.media_type, f"q{self.quality}" if self.media_type == "image/jpeg" else ""]
        if self.window:
            parts.append(f"w{self.window.center!r},{self.window.width!r},{self.window.function}")
        if self.viewport:
            parts.append(f"v{self.viewport.width},{self.viewport.height},{self.viewport.region}")
        if self.annotations:
            parts.append("a" + ",".join(self.annotations))
        if self.palette:
            parts.append("p" + self.palette)
        return "|".join(p for p in parts if p)


def _numbers(name: str, text: str, count: tuple[int, ...]) -> list[float]:
    items = [t.strip() for t in text.split(",")]
    if len(items) not in count:
        expected = " or ".join(str(c) for c in count)
        raise BadRequest(f"{name}: expected {expected} comma-separated values, got {text!r}")
    values: list[float] = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise BadRequest(f"{name}: {item!r} is not a number") from None
        if not math.isfinite(value):
            raise BadRequest(f"{name}: {item!r} is not a finite number")
        values.append(value)
    return values


def parse_window(text: str) -> Window:
    """``window=center,width,function`` (PS3.18 §8.3.5.1.4); the VOI LUT Function spelling
    (``LINEAR_EXACT``) is accepted too, and a missing function means LINEAR, the VOI LUT
    Function default (PS3.3 C.11.2.1.3). Widths the function is not defined for are a 400:
    LINEAR needs >= 1 (C.11.2.1.2.1), LINEAR_EXACT and SIGMOID > 0 (C.11.2.1.3)."""
    items = [t.strip() for t in text.split(",")]
    function = "linear"
    if len(items) == 3:
        function = items.pop().lower().replace("_", "-")
        if function not in VOI_FUNCTIONS:
            raise BadRequest(f"window: function must be one of {', '.join(VOI_FUNCTIONS)}, got {function!r}")
    center, width = _numbers("window", ",".join(items), (2,))
    if function == "linear" and width < 1:
        raise BadRequest(f"window: width must be >= 1 for the linear function, got {width:g}")
    if width <= 0:
        raise BadRequest(f"window: width must be > 0, got {width:g}")
    return Window(center, width, function)


def parse_viewport(text: str) -> Viewport:
    values = _numbers("viewport", text, (2, 6))
    vw, vh = values[0], values[1]
    if vw != int(vw) or vh != int(vh) or not (0 < vw <= MAX_VIEWPORT and 0 < vh <= MAX_VIEWPORT):
        raise BadRequest(f"viewport: width and height must be integers in 1..{MAX_VIEWPORT}, got {text!r}")
    region = None
    if len(values) == 6:
        sx, sy, sw, sh = values[2:]
        if sw == 0 or sh == 0:
            raise BadRequest("viewport: source width and height must not be 0")
        if sx < 0 or sy < 0:
            raise BadRequest("viewport: source x and y must be >= 0")
        region = (sx, sy, sw, sh)
    return Viewport(int(vw), int(vh), region)


def parse_quality(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise BadRequest(f"quality: {text!r} is not an integer") from None
    if not 1 <= value <= 100:
        raise BadRequest(f"quality: must be in 1..100, got {value}")
    return value


def parse_annotation(text: str) -> tuple[str, ...]:
    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    for item in items:
        if item not in ANNOTATIONS:
            raise BadRequest(f"annotation: must be among {', '.join(ANNOTATIONS)}, got {item!r}")
    return tuple(a for a in ANNOTATIONS if a in items)


def parse_palette(text: str) -> str | None:
    name = text.strip().upper().replace("-", "_").replace(" ", "_")
    if name in ("", "GRAY", "GREY", "GRAYSCALE", "GREYSCALE", "NONE"):
        return None
    if name not in PALETTES:
        raise BadRequest(f"palette: unknown palette {text!r}; one of {', '.join(PALETTES)}")
    return name


def negotiate_rendered_type(accept: str | None) -> str:
    """Pick image/jpeg, image/png or image/gif from an Accept value (q-values honoured)."""
    if not accept or not accept.strip():
        return "image/jpeg"
    best: tuple[float, int, str] | None = None
    for order, item in enumerate(accept.split(",")):
        pieces = [p.strip() for p in item.split(";")]
        mtype = pieces[0].lower()
        q = 1.0
        for param in pieces[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if mtype in ("*/*", "image/*", "*"):
            candidate = "image/jpeg"
        elif mtype in RENDERED_MEDIA_TYPES:
            candidate = mtype
        else:
            continue
        rank = (q, -order, candidate)
        if best is None or rank[:2] > best[:2]:
            best = rank
    if best is None:
        raise NotAcceptable(
            f"rendered media types are {', '.join(RENDERED_MEDIA_TYPES)}; asked for {accept!r}",
            available=tuple(RENDERED_MEDIA_TYPES),
        )
    return best[2]


def parse_render_params(
    query: Mapping[str, str],
    accept: str | None = None,
    *,
    default_viewport: Viewport | None = None,
) -> RenderParams:
    """Parse the query parameters of a /rendered or /thumbnail request.

    The ``accept`` query parameter wins over the Accept header (PS3.18 §8.3.3.1).
    Unknown parameters are ignored, as the standard asks of origin servers.
    """
    media_type = negotiate_rendered_type(query.get("accept") or accept)
    window = parse_window(query["window"]) if query.get("window") else None
    viewport = parse_viewport(query["viewport"]) if query.get("viewport") else default_viewport
    quality = parse_quality(query["quality"]) if query.get("quality") else DEFAULT_QUALITY
    annotations = parse_annotation(query["annotation"]) if query.get("annotation") else ()
    palette = parse_palette(query["palette"]) if query.get("palette") else None
    return RenderParams(media_type, window, viewport, quality, annotations, palette)
