"""The Accept negotiation matrix (PS3.18 §8.7.5 – §8.7.8, RFC 7231 §5.3) as a table."""

from __future__ import annotations

import pytest

from dicomweb.errors import NotAcceptable
from dicomweb.media import Offer, negotiate, negotiate_all, parse_accept

JSON = Offer("application/dicom+json", multipart=False)
PLAIN_JSON = Offer("application/json", multipart=False)
XML = Offer("application/dicom+xml")
QIDO = [JSON, PLAIN_JSON, XML]

DICOM = Offer("application/dicom")
DICOM_SINGLE = Offer("application/dicom", multipart=False)
RETRIEVE = [DICOM, DICOM_SINGLE]

OCTET = Offer("application/octet-stream")
JPEG = Offer("image/jpeg")
JLS = Offer("image/jls")
FRAMES = [OCTET, JPEG, JLS]

MATRIX = [
    # (Accept, offers, chosen offer, transfer syntax)
    (None, QIDO, JSON, None),
    ("", QIDO, JSON, None),
    ("*/*", QIDO, JSON, None),
    ("application/dicom+json", QIDO, JSON, None),
    ("Application/DICOM+JSON; charset=utf-8", QIDO, JSON, None),
    ("application/json", QIDO, PLAIN_JSON, None),
    ("application/*", QIDO, JSON, None),
    ('multipart/related; type="application/dicom+xml"', QIDO, XML, None),
    ("multipart/related; type=application/dicom+xml", QIDO, XML, None),
    ("multipart/related", QIDO, XML, None),
    # both q=1: the client's order decides
    ("application/json, application/dicom+json", QIDO, PLAIN_JSON, None),
    # q-values
    ("application/dicom+json;q=0.5, multipart/related; type=application/dicom+xml", QIDO, XML, None),
    ("application/dicom+json;q=0.9, multipart/related; type=application/dicom+xml;q=0.2", QIDO, JSON, None),
    # most specific range sets the q: */* does not lift DICOM JSON above its own q
    ("*/*;q=0.9, application/dicom+json;q=0.1", QIDO, PLAIN_JSON, None),
    # q=0 excludes what it names, even when */* would admit it
    ("application/dicom+json;q=0, */*", QIDO, PLAIN_JSON, None),
    ("application/dicom+json;q=0, application/json;q=0, */*;q=0.3", QIDO, XML, None),
    # unusable ranges are ignored, the rest still counts
    ("garbage, application/json", QIDO, PLAIN_JSON, None),
    ("application/dicom+json;q=high, application/json", QIDO, PLAIN_JSON, None),
    ("application/dicom+json;q=2, application/json", QIDO, PLAIN_JSON, None),
    # retrieve: multipart vs single part (OHIF "singlepart")
    ('multipart/related; type="application/dicom"', RETRIEVE, DICOM, None),
    ("application/dicom", RETRIEVE, DICOM_SINGLE, None),
    ("*/*", RETRIEVE, DICOM, None),
    ('multipart/related; type="application/dicom"; transfer-syntax=*', RETRIEVE, DICOM, "*"),
    ("multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2.1", RETRIEVE, DICOM,
     "1.2.840.10008.1.2.1"),
    ("application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50", RETRIEVE, DICOM_SINGLE, "1.2.840.10008.1.2.4.50"),
    # frames: OHIF sends the type unquoted, dicomweb-client sends type="*/*"
    ("multipart/related; type=application/octet-stream; transfer-syntax=*", FRAMES, OCTET, "*"),
    ('multipart/related; type="*/*"', FRAMES, OCTET, None),
    ('multipart/related; type="image/*"', FRAMES, JPEG, None),
    ('multipart/related; type="image/jls"', FRAMES, JLS, None),
    ("multipart/related; type=image/jpeg;q=0.5, multipart/related; type=application/octet-stream", FRAMES, OCTET,
     None),
    ("multipart/related; type=image/jpeg, multipart/related; type=application/octet-stream;q=0.5", FRAMES, JPEG,
     None),
    ('multipart/related; type="image/jpeg"; q=0, multipart/related; type="image/*"', FRAMES, JLS, None),
    ("multipart/*", FRAMES, OCTET, None),
]


@pytest.mark.parametrize("accept,offers,expected,ts", MATRIX)
def test_matrix(accept, offers, expected, ts) -> None:  # type: ignore[no-untyped-def]
    choice = negotiate(parse_accept(accept), offers)
    assert (choice.offer, choice.transfer_syntax) == (expected, ts)


NOT_ACCEPTABLE = [
    ("image/png", QIDO),
    ('multipart/related; type="application/dicom"', QIDO),
    ("application/dicom+json;q=0", QIDO),
    ("application/dicom+json;q=0, application/json;q=0, multipart/related;q=0", QIDO),
    ("text/html, image/*", QIDO),
    ("application/dicom", [DICOM]),  # a single part asked, only multipart offered
    ('multipart/related; type="application/dicom"', [DICOM_SINGLE]),
    ('multipart/related; type="image/png"', FRAMES),
    ("garbage", QIDO),
    (",,,", QIDO),
]


@pytest.mark.parametrize("accept,offers", NOT_ACCEPTABLE)
def test_not_acceptable_lists_what_is_available(accept, offers) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotAcceptable) as info:
        negotiate(parse_accept(accept), offers)
    # Also an Accept with no usable range at all lists what the resource offers (§8.5).
    assert info.value.available == tuple(o.text() for o in offers)
    for o in offers:
        assert o.text() in info.value.message


def test_several_transfer_syntaxes_give_ordered_alternatives() -> None:
    accept = (
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50, '
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.57; q=0.5'
    )
    choices = negotiate_all(parse_accept(accept), [DICOM])
    assert [c.transfer_syntax for c in choices] == ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.57"]
    assert [c.q for c in choices] == [1.0, 0.5]


def test_quoted_comma_does_not_split_ranges() -> None:
    ranges = parse_accept('multipart/related; type="application/dicom"; x="a,b", application/json;q=0.2')
    assert [r.type for r in ranges] == ["multipart/related", "application/json"]
    assert ranges[0].part_type == "application/dicom"
