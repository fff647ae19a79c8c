"""The image plane of a colour Secondary Capture made from a map slice.

A colour slice is the map upscaled by a whole factor (nearest neighbour) with a scale bar added on
the right. Secondary Capture has no Image Plane module of its own, but a viewer can only scroll it
in step with the map (or place it in patient space at all) when it carries one; so the colour
images get the map slice's plane, with the pixel spacing divided by the factor and the position
moved to the centre of the first upscaled pixel (PS3.3 C.7.6.2.1.1: the position is the centre of
the first transmitted pixel). The scale bar's columns lie outside the map, to its right, as on screen.
"""

from __future__ import annotations

import math

import numpy as np
from pydicom.dataset import Dataset

DISPLAY_MIN_SIZE = 256
"""The colour slice is upscaled until its longer side is at least this many pixels."""


def _ds(value: float) -> str:
    """A decimal string that fits DS (at most 16 characters, PS3.5 6.2)."""
    return f"{float(value):.10g}"


def display_scale(rows: int, cols: int) -> int:
    """The whole factor a ``rows`` × ``cols`` map slice is upscaled by for its colour picture."""
    return max(1, math.ceil(DISPLAY_MIN_SIZE / max(rows, cols)))


def copy_plane(target: Dataset, source: Dataset, scale: int) -> None:
    """Give ``target`` (the colour picture of ``source``'s slice) ``source``'s plane at ``scale``.

    Copies the Frame of Reference, orientation and slice thickness/location; the position and the
    pixel spacing follow the upscaling. Does nothing when ``source`` has no plane.
    """
    needed = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")
    if any(source.get(k) is None for k in needed):
        return
    position = np.array([float(v) for v in source.ImagePositionPatient])
    orientation = [float(v) for v in source.ImageOrientationPatient]
    along_row, along_col = np.array(orientation[:3]), np.array(orientation[3:])
    row_spacing, col_spacing = (float(v) for v in source.PixelSpacing)  # PS3.3 C.7.6.2.1.1: row\column
    # The first upscaled pixel's centre lies (scale - 1) / 2 small pixels before the source pixel's.
    shift = (scale - 1) / (2 * scale)
    first = position - along_row * shift * col_spacing - along_col * shift * row_spacing
    target.ImagePositionPatient = [_ds(v) for v in first]
    target.ImageOrientationPatient = orientation
    target.PixelSpacing = [_ds(row_spacing / scale), _ds(col_spacing / scale)]
    for keyword in ("FrameOfReferenceUID", "SliceThickness", "SliceLocation", "PositionReferenceIndicator"):
        if source.get(keyword) is not None:
            setattr(target, keyword, source.get(keyword))
