"""Accept-header negotiation for DICOMweb (PS3.18 §8.7.5 – §8.7.8, RFC 7231 §5.3).

An Accept header is parsed into media ranges (quoted or unquoted ``type=``,
several ranges, q-values, ``*/*``, ``type/*``). Every representation the
resource can produce (an :class:`Offer`) takes the q-value of the *most
specific* range that matches it (PS3.18 §8.7.8.1 step 2; RFC 7231 §5.3.2), so
``application/dicom+json;q=0, */*`` excludes DICOM JSON while ``*/*`` still
admits the rest. The offer with the highest q wins; ties go to the range that
came first in the header, then to the server's order of offers (its first offer
is the default media type, which is what ``*/*`` selects).

Parameters that are not understood are ignored, as are ranges that cannot be
parsed (§8.7.7); ``NotAcceptable`` names what was asked and lists what the
resource can produce.
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



MULTIPART = "multipart/related"
DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class MediaRange:
    type: str  # e.g. "multipart/related", "*/*", "application/dicom+json"
    part_type: str | None  # the "type" parameter of multipart/related, if any
    transfer_syntax: str | None
    q: float
    order: int
    charset: str | None = None

    def matches(self, media: str) -> bool:
        return _type_match(self.type, media)

    def text(self) -> str:
        out = self.type + (f'; type="{self.part_type}"' if self.part_type else "")
        if self.transfer_syntax:
            out += f"; transfer-syntax={self.transfer_syntax}"
        return out + (f"; q={self.q:g}" if self.q != 1.0 else "")


def _type_match(pattern: str, media: str) -> bool:
    if pattern in ("*/*", media):
        return True
    p_main, _, p_sub = pattern.partition("/")
    m_main, _, _ = media.partition("/")
    return p_sub == "*" and p_main == m_main


def _specificity(pattern: str, media: str) -> int:
    """3 exact, 2 ``type/*``, 1 ``*/*``, 0 no match."""
    if pattern == media:
        return 3
    if pattern == "*/*":
        return 1
    return 2 if _type_match(pattern, media) else 0


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


def _qvalue(text: str | None) -> float | None:
    """RFC 7231 qvalue: 0..1 with at most three decimals; ``None`` when malformed."""
    if text is None:
        return 1.0
    try:
        q = float(text)
    except ValueError:
        return None
    return q if 0.0 <= q <= 1.0 else None


def parse_accept(header: str | None) -> list[MediaRange]:
    """Media ranges sorted by q (descending), then by order of appearance.

    No Accept header (or an empty one) means ``*/*``: PS3.18 §8.7.5 asks for a
    406 there, but RFC 7231 §5.3.2 and every browser, curl and most DICOMweb
    clients treat it as "anything" (a documented choice, see CONFORMANCE.md).
    Ranges that cannot be parsed are ignored (§8.7.7); if none is left the list is
    empty and :func:`negotiate` answers 406 with the available media types.
    Ranges with ``q=0`` are kept: they exclude what they match.
    """
    if not header or not header.strip():
        return [MediaRange("*/*", None, None, 1.0, 0)]
    ranges = []
    for i, text in enumerate(_split_ranges(header)):
        try:
            mt: MediaType = parse_media_type(text)
        except Exception:
            continue
        if mt.type.count("/") != 1 or mt.type.startswith("*/") and mt.type != "*/*":
            continue
        q = _qvalue(mt.params.get("q"))
        if q is None:
            continue
        part_type = mt.params.get("type")
        part = part_type.strip().lower() if part_type else None
        if part is not None and (part.count("/") != 1 or part.startswith("*/") and part != "*/*"):
            part = None  # not a media range: the parameter is ignored
        ts = mt.params.get("transfer-syntax")
        ranges.append(MediaRange(mt.type, part, ts.strip() if ts else None, q, i, mt.params.get("charset")))
    return sorted(ranges, key=lambda r: (-r.q, r.order))


@dataclass(frozen=True)
class Offer:
    """One representation a resource can produce.

    ``multipart`` offers are matched against ``multipart/related; type=<part>``
    ranges (and ``*/*``, ``multipart/*``); single-part offers against ``<part>``
    itself (and ``*/*``, ``type/*``).
    """

    part_type: str
    multipart: bool = True

    def text(self) -> str:
        return f'{MULTIPART}; type="{self.part_type}"' if self.multipart else self.part_type


@dataclass(frozen=True)
class Choice:
    offer: Offer
    transfer_syntax: str | None  # requested syntax, "*" or None (none named)
    q: float = 1.0
    # The range named no type at all (``*/*``, ``multipart/*``, ``multipart/related`` with no
    # type or ``type="*/*"``): any representation is acceptable.
    wildcard: bool = False


def _match(r: MediaRange, offer: Offer) -> int:
    """How specifically range ``r`` names ``offer`` (0: not at all).

    For multipart offers: ``multipart/related; type=<exact>`` 6, ``type=<t>/*`` 5,
    ``type=*/*`` or no type 4, ``multipart/*`` 2, ``*/*`` 1. For single-part
    offers: exact 6, ``<t>/*`` 5, ``*/*`` 1. A multipart range never matches a
    single-part offer and the other way round.
    """
    if offer.multipart:
        if r.type == MULTIPART:
            if r.part_type is None:
                return 4
            spec = _specificity(r.part_type, offer.part_type)
            return 0 if spec == 0 else 3 + spec
        if r.type == "multipart/*":
            return 2
        return 1 if r.type == "*/*" else 0
    if r.type == MULTIPART or r.type == "multipart/*":
        return 0
    spec = _specificity(r.type, offer.part_type)
    return {3: 6, 2: 5, 1: 1}.get(spec, 0)


def negotiate_all(ranges: list[MediaRange], offers: list[Offer]) -> list[Choice]:
    """Every acceptable (offer, range) pairing, best first.

    Each offer takes the q of its most specific matching ranges (several ranges
    of the same specificity — e.g. one per transfer syntax — each yield a
    choice, so a server that cannot make the first can try the next).
    """
    scored: list[tuple[float, int, int, Choice]] = []
    for oi, offer in enumerate(offers):
        best = 0
        matched: list[MediaRange] = []
        for r in ranges:
            spec = _match(r, offer)
            if spec > best:
                best, matched = spec, [r]
            elif spec == best and spec > 0:
                matched.append(r)
        for r in matched:
            if r.q > 0:
                scored.append((-r.q, r.order, oi, Choice(offer, r.transfer_syntax, r.q, wildcard=best <= 4)))
    scored.sort(key=lambda t: t[:3])
    return [c for *_, c in scored]


def negotiate(ranges: list[MediaRange], offers: list[Offer]) -> Choice:
    """Pick the best offer for the ranges; raise NotAcceptable naming what was asked."""
    choices = negotiate_all(ranges, offers)
    if choices:
        return choices[0]
    available = tuple(o.text() for o in offers)
    if not ranges:
        raise NotAcceptable(f"no usable media range in the Accept header; available: {', '.join(available)}",
                            available=available)
    asked = ", ".join(r.text() for r in ranges)
    raise NotAcceptable(f"cannot produce any of [{asked}]; available: {', '.join(available)}", available=available)
