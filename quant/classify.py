"""Sort a study's images into ASL acquisitions (Series Description first, tags confirm)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import pydicom

from quant.acquisition import Array, AslAcquisition, Geometry, SeriesInfo
from quant.errors import NotAslError, QuantError
from quant.images import geometry_of, sort_slices, stack_loader
from quant.presets import protocol_key
from quant.regions.anatomy import anatomy_loader
from quant.vendors import ge, philips, siemens
from quant.vendors.common import image_type, is_anatomy, series_info

__all__ = ["classify_study", "classify_series"]

VENDORS = (ge, philips, siemens)


def _group(datasets: Sequence[pydicom.Dataset]) -> dict[str, list[pydicom.Dataset]]:
    groups: dict[str, list[pydicom.Dataset]] = defaultdict(list)
    for ds in datasets:
        uid = ds.get("SeriesInstanceUID")
        if uid:
            groups[str(uid)].append(ds)
    return groups


def classify_series(datasets: Sequence[pydicom.Dataset]) -> SeriesInfo:
    """Role of one series: ``asl``, ``m0``, ``anatomy``, ``scanner_map`` or ``other``."""
    ds = datasets[0]
    for vendor in VENDORS:
        if vendor.matches(ds):
            info: SeriesInfo | None = vendor.recognise(datasets)
            if info is not None:
                return info
            break
    manufacturer = str(ds.get("Manufacturer", "") or "unknown")
    if is_anatomy(ds):
        return series_info(datasets, manufacturer, "anatomy", "T1-weighted anatomy (Series Description)")
    return series_info(datasets, manufacturer, "other", "not ASL")


def _map_images(datasets: Sequence[pydicom.Dataset]) -> tuple[Geometry, Callable[[], Array]] | None:
    """Grid and loader of a single-frame scanner map (None for mosaics or unsortable series)."""
    if any("MOSAIC" in image_type(d) for d in datasets):
        return None
    try:
        slices = sort_slices(datasets)
        return geometry_of(slices), stack_loader(slices)
    except QuantError:
        return None


def classify_study(datasets: Sequence[pydicom.Dataset]) -> list[AslAcquisition]:
    """Group ``datasets`` by series and return every ASL acquisition found.

    Scanner-derived maps are listed on each acquisition (``scanner_maps``) but never used as
    input; a T1 anatomy series, if any, is named in ``anatomy_series_uid``. Raises
    :class:`~quant.errors.NotAslError` when no ASL series is present.
    """
    groups = _group(datasets)
    infos = {uid: classify_series(items) for uid, items in groups.items()}
    maps = [i for i in infos.values() if i.role == "scanner_map"]
    anatomy = next((i.series_instance_uid for i in infos.values() if i.role == "anatomy"), None)
    m0 = [(i, groups[uid]) for uid, i in infos.items() if i.role == "m0"]
    map_images = {m.series_instance_uid: img for m in maps if (img := _map_images(groups[m.series_instance_uid]))}
    acquisitions: list[AslAcquisition] = []
    for uid, info in sorted(infos.items(), key=lambda kv: kv[1].series_number or 0):
        if info.role != "asl":
            continue
        items = groups[uid]
        if info.vendor == ge.VENDOR:
            acq = ge.build(info, items)
        elif info.vendor == philips.VENDOR:
            acq = philips.build(info, items)
            own_m0 = [x for x in m0 if x[0].vendor == philips.VENDOR]
            if own_m0:
                vol, geometry = philips.m0_volume(*own_m0[0])
                acq.geometry.check_same_grid(geometry, f"Philips M0 series {own_m0[0][0].description!r}")  # type: ignore[arg-type]
                acq.volumes.append(vol)
                acq.series.append(own_m0[0][0])
        else:
            acq = siemens.build(info, items, [x for x in m0 if x[0].vendor == siemens.VENDOR])
        acq.scanner_maps = list(maps)
        acq.scanner_map_images = dict(map_images)
        acq.anatomy_series_uid = anatomy
        acq.protocol = protocol_key(acq)
        acq.anatomy = anatomy_loader(groups[anatomy]) if anatomy else None
        acquisitions.append(acq)
    if not acquisitions:
        found = ", ".join(f"{i.description!r} ({i.role})" for i in infos.values()) or "no images"
        raise NotAslError(f"no ASL series found among: {found}")
    return acquisitions
