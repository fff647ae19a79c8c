"""Character set negotiation (PS3.18 §8.8, RFC 7231 §5.3.3).

Cirrus answers every text representation (DICOM JSON, DICOM XML, JSON) in UTF-8, the
default of PS3.18 §8.8 and the only encoding JSON may use between systems (RFC 8259 §8.1).
A request that accepts only character sets Cirrus cannot produce is answered 406 naming them;
one that accepts UTF-8, explicitly or through ``*``, or says nothing, gets UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicomweb.errors import NotAcceptable

__all__ = ["UTF8", "CharsetRange", "choose_charset", "parse_accept_charset"]

UTF8 = "utf-8"
# Names of UTF-8 a client may send: the IANA name and its registered alias (case-insensitive).
UTF8_NAMES = frozenset({"utf-8", "csutf8"})


@dataclass(frozen=True)
class CharsetRange:
    """One element of ``Accept-Charset`` (or of the ``charset`` query parameter)."""

    name: str  # lower-cased; ``*`` for any
    q: float


def _q(params: list[str]) -> float | None:
    q = 1.0
    for p in params:
        key, _, val = p.partition("=")
        if key.strip().lower() == "q":
            try:
                q = float(val.strip())
            except ValueError:
                return None
            if not 0.0 <= q <= 1.0:
                return None
    return q


def parse_accept_charset(text: str) -> list[CharsetRange]:
    """The usable ranges of an ``Accept-Charset`` value; malformed ones are ignored (§8.7.7 rule)."""
    out = []
    for element in text.split(","):
        name, *params = element.split(";")
        name = name.strip().strip('"').lower()
        q = _q(params)
        if not name or q is None or any(c in name for c in " \t/="):
            continue
        out.append(CharsetRange(name, q))
    return out


def choose_charset(header: str | None, query: list[str] | None = None,
                   media_charsets: list[str | None] | None = None) -> str:
    """The charset of the answer: always UTF-8, or 406 when the client excludes it.

    ``query`` holds the values of the ``charset`` query parameter (PS3.18 §8.3.3.2); when given
    they take the place of the header, as the ``accept`` query parameter does for ``Accept``.
    ``media_charsets`` are the ``charset`` parameters of the Accept header's media ranges (None for
    a range without one): when every range names one and none is UTF-8, the answer is 406 too.
    """
    if media_charsets and all(c is not None for c in media_charsets):
        named = [str(c).strip().strip('"').lower() for c in media_charsets]
        if not any(c in UTF8_NAMES for c in named):
            raise NotAcceptable("Accept: Cirrus answers in UTF-8 only; the media ranges ask for charset "
                                + ", ".join(dict.fromkeys(named)), available=(UTF8,))
    text = ",".join(query) if query else (header or "")
    ranges = parse_accept_charset(text)
    if not ranges:
        return UTF8  # absent, empty, or nothing usable: the §8.8 default
    explicit = [r.q for r in ranges if r.name in UTF8_NAMES]
    star = [r.q for r in ranges if r.name == "*"]
    q = max(explicit) if explicit else (max(star) if star else 0.0)
    if q > 0:
        return UTF8
    asked = ", ".join(dict.fromkeys(r.name for r in ranges if r.q > 0)) or "none (every charset has q=0)"
    source = "charset parameter" if query else "Accept-Charset"
    raise NotAcceptable(f"{source}: Cirrus answers in UTF-8 only; the request accepts {asked}",
                        available=(UTF8,))
