"""Accept-header negotiation for WADO-RS (PS3.18 §8.7) and transfer-syntax media types.

An Accept header is parsed into media ranges (quoted or unquoted ``type=``,
several ranges, q-values). ``negotiate`` picks the first acceptable offer in
q order; ``NotAcceptable`` is raised when nothing fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicomweb.errors import NotAcceptable
from dicomweb.multipart import MediaType, parse_media_type

EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"

NATIVE_SYNTAXES = frozenset({EXPLICIT_VR_LE, IMPLICIT_VR_LE, DEFLATED_LE, EXPLICIT_VR_BE})

# Frame / bulk media type of each encapsulated transfer syntax (PS3.18 Table 8.7.3-5).
FRAME_MEDIA_TYPE: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",  # JPEG baseline
    "1.2.840.10008.1.2.4.51": "image/jpeg",  # JPEG extended
    "1.2.840.10008.1.2.4.57": "image/jpeg",  # JPEG lossless P14
    "1.2.840.10008.1.2.4.70": "image/jpeg",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.100": "video/mpeg",
    "1.2.840.10008.1.2.4.102": "video/mp4",
    "1.2.840.10008.1.2.4.103": "video/mp4",
}


def frame_media_type(transfer_syntax_uid: str) -> str:
    return FRAME_MEDIA_TYPE.get(transfer_syntax_uid, "application/octet-stream")


@dataclass(frozen=True)
class MediaRange:
    type: str  # e.g. "multipart/related", "*/*", "application/dicom+json"
    part_type: str | None  # the "type" parameter of multipart/related, if any
    transfer_syntax: str | None
    q: float
    order: int

    def matches(self, media: str) -> bool:
        return _type_match(self.type, media)


def _type_match(pattern: str, media: str) -> bool:
    if pattern in ("*/*", media):
        return True
    p_main, _, p_sub = pattern.partition("/")
    m_main, _, _ = media.partition("/")
    return p_sub == "*" and p_main == m_main


def _split_ranges(header: str) -> list[str]:
    """Split an Accept header on commas that are not inside quotes."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [s for s in (x.strip() for x in out) if s]


def parse_accept(header: str | None) -> list[MediaRange]:
    """Media ranges sorted by q (descending), then by order of appearance."""
    if not header or not header.strip():
        return [MediaRange("*/*", None, None, 1.0, 0)]
    ranges = []
    for i, text in enumerate(_split_ranges(header)):
        try:
            mt: MediaType = parse_media_type(text)
        except Exception:
            continue
        try:
            q = float(mt.params.get("q", "1"))
        except ValueError:
            q = 1.0
        if q <= 0:
            continue
        part_type = mt.params.get("type")
        ranges.append(MediaRange(mt.type, part_type.lower() if part_type else None,
                                 mt.params.get("transfer-syntax"), q, i))
    if not ranges:
        raise NotAcceptable(f"no usable media range in Accept: {header[:200]}")
    return sorted(ranges, key=lambda r: (-r.q, r.order))


@dataclass(frozen=True)
class Offer:
    """One representation a resource can produce.

    ``multipart`` offers are matched against ``multipart/related; type=<part>``
    ranges (and ``*/*``); single-part offers against ``<part>`` itself.
    """

    part_type: str
    multipart: bool = True


@dataclass(frozen=True)
class Choice:
    offer: Offer
    transfer_syntax: str | None  # requested syntax, "*" or None (none named)


def negotiate(ranges: list[MediaRange], offers: list[Offer]) -> Choice:
    """Pick the best offer for the ranges; raise NotAcceptable naming what was asked."""
    for r in ranges:
        for offer in offers:
            if offer.multipart:
                if r.type == "multipart/related":
                    if r.part_type is None or _type_match(r.part_type, offer.part_type):
                        return Choice(offer, r.transfer_syntax)
                    continue
                if r.type in ("*/*", "multipart/*"):
                    return Choice(offer, r.transfer_syntax)
            elif r.type != "multipart/related" and r.matches(offer.part_type):
                return Choice(offer, r.transfer_syntax)
    asked = ", ".join(
        r.type + (f'; type="{r.part_type}"' if r.part_type else "")
        + (f"; transfer-syntax={r.transfer_syntax}" if r.transfer_syntax else "")
        for r in ranges
    )
    can = ", ".join(
        (f'multipart/related; type="{o.part_type}"' if o.multipart else o.part_type) for o in offers
    )
    raise NotAcceptable(f"cannot produce any of [{asked}]; available: {can}")
