from __future__ import annotations

import pytest

from dicomweb.errors import NotAcceptable
from dicomweb.media import Offer, negotiate, parse_accept

DICOM = Offer("application/dicom")
OCTET = Offer("application/octet-stream")
JPEG = Offer("image/jpeg")


@pytest.mark.parametrize(
    "accept,offers,expected,ts",
    [
        (None, [DICOM], DICOM, None),
        ('multipart/related; type="application/dicom"', [DICOM], DICOM, None),
        ("multipart/related; type=application/dicom; transfer-syntax=*", [DICOM], DICOM, "*"),
        ('multipart/related; type="*/*"', [OCTET, JPEG], OCTET, None),
        ("multipart/related; type=application/octet-stream; transfer-syntax=*", [OCTET, JPEG], OCTET, "*"),
        ("multipart/related; type=image/jpeg;q=0.5, multipart/related; type=application/octet-stream",
         [OCTET, JPEG], OCTET, None),
        ("multipart/related; type=image/jpeg, multipart/related; type=application/octet-stream;q=0.5",
         [OCTET, JPEG], JPEG, None),
        ("*/*", [DICOM], DICOM, None),
        ("application/dicom+json, */*;q=0.1", [Offer("application/dicom+json", multipart=False)],
         Offer("application/dicom+json", multipart=False), None),
    ],
)
def test_negotiation(accept, offers, expected, ts) -> None:  # type: ignore[no-untyped-def]
    choice = negotiate(parse_accept(accept), offers)
    assert choice.offer == expected
    assert choice.transfer_syntax == ts


def test_not_acceptable_names_what_was_asked() -> None:
    with pytest.raises(NotAcceptable, match="image/png"):
        negotiate(parse_accept('multipart/related; type="image/png"'), [DICOM])
    with pytest.raises(NotAcceptable):
        negotiate(parse_accept("application/json"), [DICOM])


def test_q_zero_excluded() -> None:
    with pytest.raises(NotAcceptable):
        negotiate(parse_accept('multipart/related; type="application/dicom"; q=0'), [DICOM])
