"""DICOM JSON model (PS3.18 Annex F) with bulk data handed to a callable.

``dataset_to_json`` never reads bulk values: an element whose declared length
exceeds the threshold and whose VR can hold bulk data becomes a BulkDataURI
made by ``bulk_uri(path)``, where ``path`` is the tag path as 8-hex-digit
strings joined by "." (sequence item indices included, e.g.
``"00880200.0.7FE00010"``). Deferred values are therefore never loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_deferred_data_element
from pydicom.tag import BaseTag

from dicomweb.json_fast import raw_to_json, sequence_to_json

BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
DEFAULT_BULK_THRESHOLD = 1024
# Pixel data is always referenced, whatever its size: clients fetch it as frames.
PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})

BulkUriFactory = Callable[[str], str]


def tag_hex(tag: int) -> str:
    return f"{int(tag):08X}"


def _deferred_sequence(ds: Dataset, tag: BaseTag) -> RawDataElement | None:
    """A sequence whose reading was deferred (longer than ``defer_size``), with its bytes read
    but not parsed; None for any other element. (``get_item`` would parse it into data sets.)"""
    raw = ds.get_item(tag, keep_deferred=True)
    if not isinstance(raw, RawDataElement) or raw.VR != "SQ" or raw.value is not None or raw.length in (0, 0xFFFFFFFF):
        return None
    buffer = getattr(ds, "buffer", None)
    source = buffer if buffer is not None and not getattr(buffer, "closed", False) else ds.filename
    if source is None:
        return None
    return read_deferred_data_element(ds.fileobj_type, source, ds.timestamp, raw)


def _declared_length(elem: DataElement | RawDataElement) -> int | None:
    if isinstance(elem, RawDataElement):
        return None if elem.length == 0xFFFFFFFF else int(elem.length)
    return None


def dataset_to_json(
    ds: Dataset,
    bulk_uri: BulkUriFactory | None,
    threshold: int = DEFAULT_BULK_THRESHOLD,
    prefix: str = "",
    fast: bool = True,
) -> dict[str, Any]:
    """Convert ``ds`` to a DICOM JSON object (PS3.18 §F.2).

    Group 0x0002 (file meta) and group length elements are left out, as are
    elements that cannot be decoded (lenient on read). ``fast``: common raw elements are
    converted from their bytes (``dicomweb.json_fast``, same output); ``False`` is pydicom only.
    """
    out: dict[str, Any] = {}
    for tag in sorted(ds.keys()):
        btag = BaseTag(tag)
        if btag.group == 0x0002 or btag.element == 0x0000:
            continue
        key = tag_hex(btag)
        path = f"{prefix}{key}"
        if fast:
            deferred = _deferred_sequence(ds, btag)
            converted = sequence_to_json(deferred) if deferred is not None else None
            if converted is not None:
                out[key] = converted
                continue
        raw = ds.get_item(btag)
        vr = getattr(raw, "VR", None)
        length = _declared_length(raw) if raw is not None else None
        is_undefined = isinstance(raw, RawDataElement) and raw.length == 0xFFFFFFFF
        if bulk_uri is not None and (
            btag in PIXEL_DATA_TAGS
            or (vr in BULK_VRS and ((length is not None and length > threshold) or is_undefined))
        ):
            out[key] = {"vr": vr, "BulkDataURI": bulk_uri(path)}
            continue
        if fast and isinstance(raw, RawDataElement) and vr not in BULK_VRS:
            converted = sequence_to_json(raw) if vr == "SQ" else raw_to_json(raw)
            if converted is not None:
                out[key] = converted
                continue
        try:
            elem = ds[btag]
        except Exception:  # undecodable element: skip it rather than fail the instance
            continue
        if elem.VR == "SQ":
            items = [
                dataset_to_json(item, bulk_uri, threshold, prefix=f"{path}.{i}.", fast=fast)
                for i, item in enumerate(elem.value)
            ]
            out[key] = {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
            continue
        if bulk_uri is not None and elem.VR in BULK_VRS and elem.value is not None:
            if len(elem.value) > threshold:
                out[key] = {"vr": elem.VR, "BulkDataURI": bulk_uri(path)}
                continue
        try:
            out[key] = elem.to_json_dict(None, threshold if bulk_uri is None else 1 << 62)
        except Exception:
            continue
    return out
