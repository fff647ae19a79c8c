from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

from dicomweb.errors import Unprocessable
from dicomweb.frames import frame_ranges


def make(frames: int, encapsulated: bytes | None = None, ts: str = ExplicitVRLittleEndian) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 4, 3, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = frames
    if encapsulated is None:
        ds.PixelData = (np.arange(frames * 12, dtype="<u2")).tobytes()
    else:
        ds.PixelData = encapsulated
        ds["PixelData"].VR = "OB"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def ranges_of(data: bytes) -> list[bytes]:
    fp = io.BytesIO(data)
    ds = pydicom.dcmread(fp, stop_before_pixels=True)
    ranges, _vr = frame_ranges(fp, ds, fp.tell(), len(data))
    return [b"".join(data[o : o + n] for o, n in frame) for frame in ranges]


def test_native_frames_are_consecutive_slices() -> None:
    data = make(5)
    frames = ranges_of(data)
    pixels = np.arange(60, dtype="<u2").tobytes()
    assert frames == [pixels[i * 24 : (i + 1) * 24] for i in range(5)]


@pytest.mark.parametrize("with_bot", [True, False])
def test_encapsulated_one_fragment_per_frame(with_bot: bool) -> None:
    payloads = [b"\xff\xd8frame%d\xff\xd9" % i for i in range(3)]
    frames = ranges_of(make(3, encapsulate(payloads, has_bot=with_bot), RLELossless))
    assert frames == payloads


def test_encapsulated_multi_fragment_frames_with_bot() -> None:
    payloads = [b"\xff\xd8" + b"A" * 30 + b"\xff\xd9", b"\xff\xd8" + b"B" * 50 + b"\xff\xd9"]
    encaps = encapsulate(payloads, fragments_per_frame=2, has_bot=True)
    assert ranges_of(make(2, encaps, RLELossless)) == payloads


def test_encapsulated_multi_fragment_frames_without_bot_uses_markers() -> None:
    payloads = [b"\xff\xd8" + b"A" * 30 + b"\xff\xd9", b"\xff\xd8" + b"B" * 50 + b"\xff\xd9"]
    encaps = encapsulate(payloads, fragments_per_frame=2, has_bot=False)
    assert ranges_of(make(2, encaps, RLELossless)) == payloads


def test_truncated_native_pixel_data_is_reported() -> None:
    data = make(5)
    with pytest.raises(Unprocessable, match="remain in the file|fewer than"):
        ranges_of(data[:-30])


def test_bit_packed_frames_have_a_size_only_when_byte_aligned() -> None:
    from dicomweb.frames import native_frame_size

    ds = Dataset()
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.SamplesPerPixel = 64, 64, 1, 1
    assert native_frame_size(ds, 0x7FE00010) == 512  # a BINARY SEG frame of 64×64
    ds.Rows = ds.Columns = 86  # 7396 bits: the next frame starts inside a byte
    with pytest.raises(Unprocessable, match="not byte-aligned"):
        native_frame_size(ds, 0x7FE00010)
