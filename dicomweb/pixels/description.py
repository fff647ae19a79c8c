"""The few attributes needed to decode one frame, taken from a dataset."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicomweb.errors import Unprocessable

NATIVE_SYNTAXES = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian}
)

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


@dataclass(frozen=True)
class PixelDescription:
    """Image Pixel module attributes (PS3.3 C.7.6.3) of one instance."""

    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str
    transfer_syntax_uid: str
    number_of_frames: int = 1
    planar_configuration: int = 0
    # "PixelData", or "FloatPixelData"/"DoubleFloatPixelData" for Parametric Maps.
    pixel_keyword: str = "PixelData"

    @property
    def is_native(self) -> bool:
        return self.transfer_syntax_uid in NATIVE_SYNTAXES

    @property
    def is_float(self) -> bool:
        return self.pixel_keyword != "PixelData"

    @property
    def frame_length(self) -> int:
        """Bytes of one native frame (bit-packed for BitsAllocated 1)."""
        pixels = self.rows * self.columns * self.samples_per_pixel
        if self.bits_allocated == 1:
            return (pixels + 7) // 8
        if self.photometric_interpretation == "YBR_FULL_422" and self.is_native:
            return self.rows * self.columns * 2 * (self.bits_allocated // 8)
        return pixels * (self.bits_allocated // 8)

    def with_syntax(self, transfer_syntax_uid: str, photometric: str | None = None) -> PixelDescription:
        return replace(
            self,
            transfer_syntax_uid=transfer_syntax_uid,
            photometric_interpretation=photometric or self.photometric_interpretation,
        )

    def decode_options(self) -> dict[str, Any]:
        """Keyword options understood by pydicom's decoders and encoders."""
        opts: dict[str, Any] = {
            "rows": self.rows,
            "columns": self.columns,
            "samples_per_pixel": self.samples_per_pixel,
            "bits_allocated": self.bits_allocated,
            "bits_stored": self.bits_stored,
            "pixel_representation": self.pixel_representation,
            "photometric_interpretation": self.photometric_interpretation,
            "number_of_frames": 1,
            "pixel_keyword": self.pixel_keyword,
        }
        if self.samples_per_pixel > 1:
            opts["planar_configuration"] = self.planar_configuration
        return opts

    @classmethod
    def from_dataset(cls, ds: Dataset, transfer_syntax_uid: str | None = None) -> PixelDescription:
        """Build from a dataset (pixel data itself need not be loaded).

        Raises ``Unprocessable`` naming the missing attribute when the
        dataset has no usable Image Pixel module.
        """
        tsuid = transfer_syntax_uid
        if tsuid is None:
            meta = getattr(ds, "file_meta", None)
            tsuid = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
        if not tsuid:
            raise Unprocessable("instance has no Transfer Syntax UID")
        keyword = next((k for k in PIXEL_KEYWORDS if k in ds), "PixelData")
        for required in ("Rows", "Columns", "BitsAllocated"):
            if ds.get(required) in (None, ""):
                raise Unprocessable(f"instance has no {required}; it has no decodable pixel data")
        bits_allocated = int(ds.BitsAllocated)
        is_float = keyword != "PixelData"
        try:
            frames = int(ds.get("NumberOfFrames") or 1)
        except (TypeError, ValueError):
            frames = 1
        return cls(
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            samples_per_pixel=int(ds.get("SamplesPerPixel") or 1),
            bits_allocated=bits_allocated,
            bits_stored=bits_allocated if is_float else int(ds.get("BitsStored") or bits_allocated),
            pixel_representation=0 if is_float else int(ds.get("PixelRepresentation") or 0),
            photometric_interpretation=str(ds.get("PhotometricInterpretation") or "MONOCHROME2").strip(),
            transfer_syntax_uid=str(UID(tsuid)),
            number_of_frames=max(frames, 1),
            planar_configuration=int(ds.get("PlanarConfiguration") or 0),
            pixel_keyword=keyword,
        )
