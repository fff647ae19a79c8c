"""Helpers shared by the vendor modules."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import pydicom

from quant.acquisition import SeriesInfo, SeriesRole
from quant.params import Param

ANATOMY_WORDS = re.compile(r"(t1|mprage|bravo|fspgr|spgr|tfe3d|t1w|3d_t1|t1_mp)", re.IGNORECASE)


def description(ds: pydicom.Dataset) -> str:
    return str(ds.get("SeriesDescription", "") or "")


def image_type(ds: pydicom.Dataset) -> list[str]:
    value = ds.get("ImageType", [])
    return [
        str(v).upper()
        for v in (value if isinstance(value, Sequence) and not isinstance(value, str) else [value])
    ]


def number(ds: pydicom.Dataset, keyword: str) -> float | None:
    """A numeric attribute's value, or None when absent or not a number (exports carry junk)."""
    try:
        value = ds.get(keyword)
        out = float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return out if out is not None and math.isfinite(out) else None


def series_info(
    datasets: Sequence[pydicom.Dataset], vendor: str, role: SeriesRole, reason: str
) -> SeriesInfo:
    ds = datasets[0]
    series_number = number(ds, "SeriesNumber")
    return SeriesInfo(
        series_instance_uid=str(ds.SeriesInstanceUID),
        series_number=int(series_number) if series_number is not None else None,
        description=description(ds),
        vendor=vendor,
        role=role,
        n_instances=len(datasets),
        reason=reason,
    )


def tag_param(name: str, value: Any, unit: str, keyword: str) -> Param:
    return Param(name, value, unit, "tag", keyword)


def field_strength(ds: pydicom.Dataset) -> Param | None:
    tesla = number(ds, "MagneticFieldStrength")
    if tesla is None or tesla <= 0:
        return None
    if tesla > 100:  # some exports give gauss or millitesla
        tesla = tesla / 10000.0 if tesla > 1000 else tesla / 1000.0
    return tag_param("field_strength", tesla, "T", "MagneticFieldStrength")


def readout(ds: pydicom.Dataset) -> Param | None:
    value = str(ds.get("MRAcquisitionType", "") or "").upper()
    return tag_param("readout", value, "", "MRAcquisitionType") if value in ("2D", "3D") else None


def private(ds: pydicom.Dataset, group: int, creator: str, offset: int) -> Any:
    """Value of a private element by its creator (None when absent)."""
    try:
        return ds.get_private_item(group, offset, creator).value
    except KeyError:
        return None


def is_anatomy(ds: pydicom.Dataset) -> bool:
    text = description(ds) + " " + str(ds.get("ProtocolName", "") or "")
    return bool(ANATOMY_WORDS.search(text)) and "ASL" not in image_type(ds)
