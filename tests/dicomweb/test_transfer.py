"""The transfer syntax decision (PS3.18 §8.7.3) as a table: what is asked × what is stored."""

from __future__ import annotations

import pytest

from dicomweb.errors import NotAcceptable
from dicomweb.media import Offer, negotiate, parse_accept
from dicomweb.transfer import Resource, TransferPlan, plan_transfer

ELE = "1.2.840.10008.1.2.1"
ILE = "1.2.840.10008.1.2"
BE = "1.2.840.10008.1.2.2"
DEFL = "1.2.840.10008.1.2.1.99"
JPEG_BASE = "1.2.840.10008.1.2.4.50"
JPEG_SV1 = "1.2.840.10008.1.2.4.70"
JLS = "1.2.840.10008.1.2.4.80"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
RLE = "1.2.840.10008.1.2.5"
DICOM = "application/dicom"
OCTET = "application/octet-stream"

INST, P, B = Resource.INSTANCE, Resource.PIXELS, Resource.BULK


def plan(media: str, ts: str | None, syntax: str, transcode: str | None = None) -> TransferPlan:
    return TransferPlan(media, ts or syntax, transcode)


TABLE = [
    # resource, part type, asked, stored, kwargs, expected plan
    # --- instances: no syntax named -> Explicit VR Little Endian (§8.7.3.4)
    (INST, DICOM, None, ELE, {}, plan(DICOM, ELE, ELE)),
    (INST, DICOM, None, ILE, {}, plan(DICOM, ELE, ELE, ELE)),
    (INST, DICOM, None, BE, {}, plan(DICOM, ELE, ELE, ELE)),
    (INST, DICOM, None, DEFL, {}, plan(DICOM, ELE, ELE, ELE)),
    (INST, DICOM, None, JPEG_BASE, {}, plan(DICOM, ELE, ELE, ELE)),
    (INST, DICOM, None, JLS, {}, plan(DICOM, ELE, ELE, ELE)),
    # the lossy exception, when the server opts in; undecodable data is all there is
    (INST, DICOM, None, JPEG_BASE, {"keep_lossy": True}, plan(DICOM, JPEG_BASE, JPEG_BASE)),
    (INST, DICOM, None, JLS, {"keep_lossy": True}, plan(DICOM, ELE, ELE, ELE)),
    (INST, DICOM, None, JLS, {"can_decode": False}, plan(DICOM, JLS, JLS)),
    (INST, DICOM, None, JLS, {"fits_uncompressed": False}, plan(DICOM, JLS, JLS)),
    # "*" = as stored, whatever it is
    (INST, DICOM, "*", JPEG_BASE, {}, plan(DICOM, JPEG_BASE, JPEG_BASE)),
    (INST, DICOM, "*", ILE, {}, plan(DICOM, ILE, ILE)),
    # named syntaxes
    (INST, DICOM, ELE, ELE, {}, plan(DICOM, ELE, ELE)),
    (INST, DICOM, ELE, ILE, {}, plan(DICOM, ELE, ELE, ELE)),
    (INST, DICOM, ELE, JLS, {}, plan(DICOM, ELE, ELE, ELE)),
    (INST, DICOM, JLS, JLS, {}, plan(DICOM, JLS, JLS)),
    (INST, DICOM, JLS, ELE, {}, plan(DICOM, JLS, JLS, JLS)),
    (INST, DICOM, RLE, JPEG_BASE, {}, plan(DICOM, RLE, RLE, RLE)),
    (INST, DICOM, ILE, ILE, {}, plan(DICOM, ILE, ILE)),  # exactly what is stored
    # --- pixels (frames / Pixel Data bulk)
    # octet-stream, no syntax -> uncompressed little endian (Table 8.7.3-4)
    (P, OCTET, None, ELE, {}, plan(OCTET, ELE, ELE)),
    (P, OCTET, None, ILE, {}, plan(OCTET, ELE, ELE)),
    (P, OCTET, None, BE, {}, plan(OCTET, ELE, ELE, ELE)),
    (P, OCTET, None, JPEG_BASE, {}, plan(OCTET, ELE, ELE, ELE)),
    (P, OCTET, None, JLS, {}, plan(OCTET, ELE, ELE, ELE)),
    # Implicit VR LE asked for native frames: same bytes, labelled as asked (issue item 5)
    (P, OCTET, ILE, ELE, {}, plan(OCTET, ILE, ILE)),
    (P, OCTET, ILE, ILE, {}, plan(OCTET, ILE, ILE)),
    (P, OCTET, ELE, ILE, {}, plan(OCTET, ELE, ELE)),
    (P, OCTET, ILE, JLS, {}, plan(OCTET, ILE, ILE, ELE)),
    (P, OCTET, ILE, BE, {}, plan(OCTET, ILE, ILE, ELE)),
    # "*" and wildcard ranges: the stored bitstream with its own media type
    (P, OCTET, "*", JPEG_BASE, {}, plan("image/jpeg", JPEG_BASE, JPEG_BASE)),
    (P, OCTET, "*", JLS, {}, plan("image/jls", JLS, JLS)),
    (P, OCTET, "*", ILE, {}, plan(OCTET, ELE, ELE)),
    (P, OCTET, None, JLS, {"wildcard": True}, plan("image/jls", JLS, JLS)),
    (P, OCTET, None, ELE, {"wildcard": True}, plan(OCTET, ELE, ELE)),
    # a compressed media type without a syntax: its Table 8.7.3-5 default ...
    (P, "image/jls", None, JLS, {}, plan("image/jls", JLS, JLS)),
    (P, "image/jpeg", None, JPEG_SV1, {}, plan("image/jpeg", JPEG_SV1, JPEG_SV1)),
    (P, "image/jpeg", None, ELE, {}, plan("image/jpeg", JPEG_SV1, JPEG_SV1, JPEG_SV1)),
    (P, "image/jp2", None, JLS, {}, plan("image/jp2", J2K_LOSSLESS, J2K_LOSSLESS, J2K_LOSSLESS)),
    # ... except lossy data of that very media type, which is returned as stored (§8.7.3.4)
    (P, "image/jpeg", None, JPEG_BASE, {}, plan("image/jpeg", JPEG_BASE, JPEG_BASE)),
    # named compressed syntaxes
    (P, "image/jpeg", JPEG_BASE, JPEG_BASE, {}, plan("image/jpeg", JPEG_BASE, JPEG_BASE)),
    (P, "image/jpeg", JPEG_BASE, ELE, {}, plan("image/jpeg", JPEG_BASE, JPEG_BASE, JPEG_BASE)),
    (P, "image/jls", JLS, J2K_LOSSLESS, {}, plan("image/jls", JLS, JLS, JLS)),
    (P, OCTET, JLS, ELE, {"wildcard": True}, plan("image/jls", JLS, JLS, JLS)),
    # --- other bulk data: little-endian bytes
    (B, OCTET, None, JLS, {}, plan(OCTET, ELE, ELE)),
    (B, OCTET, "*", BE, {}, plan(OCTET, ELE, ELE)),
    (B, OCTET, ILE, ELE, {}, plan(OCTET, ILE, ILE)),
]


@pytest.mark.parametrize("resource,part,asked,stored,kwargs,expected", TABLE)
def test_plan(resource, part, asked, stored, kwargs, expected) -> None:  # type: ignore[no-untyped-def]
    assert plan_transfer(resource, part, asked, stored, **kwargs) == expected


REFUSED = [
    (INST, DICOM, ILE, ELE, {}, "not used with DICOMweb"),
    (INST, DICOM, BE, JLS, {}, "not used with DICOMweb"),
    (INST, DICOM, ELE, JLS, {"can_decode": False}, "cannot be decoded"),
    (INST, DICOM, ELE, JLS, {"fits_uncompressed": False}, "would not fit"),
    (INST, DICOM, JLS, ELE, {"can_encode": lambda ts: False}, "not available"),
    (P, OCTET, None, JLS, {"can_decode": False}, "cannot be decoded"),
    (P, OCTET, JLS, ELE, {}, "carried as image/jls"),
    (P, "image/jpeg", ELE, ELE, {}, "carried as application/octet-stream"),
    (P, OCTET, BE, BE, {}, "little-endian"),
    (P, "image/jls", JLS, JPEG_BASE, {"can_decode": False}, "not available"),
    (P, "image/jls", JLS, ELE, {"can_encode": lambda ts: False}, "not available"),
    (B, OCTET, JLS, ELE, {}, "only available uncompressed"),
]


@pytest.mark.parametrize("resource,part,asked,stored,kwargs,message", REFUSED)
def test_refused(resource, part, asked, stored, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotAcceptable, match=message):
        plan_transfer(resource, part, asked, stored, **kwargs)


@pytest.mark.parametrize(
    "accept,stored,expected",
    [
        (None, JLS, plan("image/jls", JLS, JLS)),  # no Accept = */*: as stored
        ('multipart/related; type="*/*"', JLS, plan("image/jls", JLS, JLS)),  # dicomweb-client
        ("multipart/related; type=application/octet-stream; transfer-syntax=*", JLS, plan("image/jls", JLS, JLS)),
        ('multipart/related; type="application/octet-stream"', JLS, plan(OCTET, ELE, ELE, ELE)),
        ('multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2', ELE,
         plan(OCTET, ILE, ILE)),
        ('multipart/related; type="image/jls"', JLS, plan("image/jls", JLS, JLS)),
    ],
)
def test_from_negotiated_frames_request(accept, stored, expected) -> None:  # type: ignore[no-untyped-def]
    offers = [Offer(OCTET), Offer("image/jls"), Offer("image/jpeg")]
    choice = negotiate(parse_accept(accept), offers)
    got = plan_transfer(P, choice.offer.part_type, choice.transfer_syntax, stored, wildcard=choice.wildcard)
    assert got == expected
    assert got.content_type() == f"{expected.media_type}; transfer-syntax={expected.transfer_syntax}"
