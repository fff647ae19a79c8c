"""What a derived object is, from what it carries (SOP Class, ImageType, content label).

The workflow names each derived series by its role ("CBF", "ATT", "CBF_PMAP", "CBF_COLOUR",
"REPORT"), and the viewer picks maps and overlays the same way: never from SeriesDescription
text, which people and versions rename.

- MR images of a quantity: ImageType ``DERIVED\\SECONDARY\\<quantity>`` (e.g. ``CBF``, ``ATT``).
- Parametric Map (PS3.3 A.75): its ContentLabel names the quantity.
- Colour Secondary Capture of a quantity: ImageType ``DERIVED\\SECONDARY\\<quantity>``.
- Segmentation (PS3.3 A.51): its ContentLabel names what is segmented (``REGIONS_SEG``).
- Structured report (the TID 1500 measurements of the regions): ``MEASUREMENTS_SR``.
- Encapsulated PDF: the report.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import (
    Comprehensive3DSRStorage,
    ComprehensiveSRStorage,
    EncapsulatedPDFStorage,
    EnhancedSRStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    ParametricMapStorage,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
)

__all__ = ["derived_role"]

_SR = {str(Comprehensive3DSRStorage), str(ComprehensiveSRStorage), str(EnhancedSRStorage)}
_SECONDARY_CAPTURE = {str(SecondaryCaptureImageStorage), str(MultiFrameTrueColorSecondaryCaptureImageStorage)}


def _quantity(ds: Dataset) -> str:
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    if len(image_type) > 2 and image_type[0] == "DERIVED" and image_type[2] not in ("", "OTHER"):
        return image_type[2]
    return ""


def derived_role(ds: Dataset) -> str:
    """The role of a derived object; ``ValueError`` for an object that does not say what it is."""
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class == str(EncapsulatedPDFStorage):
        return "REPORT"
    if sop_class in _SR:
        return "MEASUREMENTS_SR"
    if sop_class == str(SegmentationStorage):
        label = str(ds.get("ContentLabel", "") or "").upper()
        return f"{label}_SEG" if label else "SEG"
    if sop_class == str(ParametricMapStorage):
        label = str(ds.get("ContentLabel", "") or "").upper()
        if not label:
            raise ValueError("parametric map without a ContentLabel")
        return f"{label}_PMAP"
    quantity = _quantity(ds)
    if not quantity:
        raise ValueError(f"derived object of SOP class {sop_class} names no quantity in ImageType")
    if sop_class in _SECONDARY_CAPTURE:
        return f"{quantity}_COLOUR"
    return quantity
