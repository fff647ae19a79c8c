"""The loaded 4D signal of a DCE job's series, kept per process for the ROI curve endpoint.

Drawing ROIs asks for one curve after another on the same series; reading and decoding every phase
of it again per request (hundreds of instances) would cost seconds each time. The first request
loads the series, classifies it and keeps the acquisition with its phases (and VFA volumes) as
plain float32 arrays; the datasets are dropped. Entries are bounded by bytes (the arrays' sizes,
``server.memory.LRU``) and keyed by the series' instance fingerprint (count and highest row id of
its stored instances, one indexed query per request), so new instances, a DELETE or a re-upload
in any process make the next request load again; a DELETE in this process evicts at once.
"""

from __future__ import annotations

import asyncio
import copy
import io
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pydicom
from sqlalchemy import func, select
from sqlmodel import col

from quant.dce import DceAcquisition
from server.context import AppContext
from server.db.archive import Instance, InstanceState, Series, Study
from server.workflow import dce, quant_bridge, study_loader


@dataclass(frozen=True)
class Loaded:
    acquisition: DceAcquisition
    nbytes: int


def _constant(a: np.ndarray) -> Any:
    return lambda: a


def materialise(acq: DceAcquisition) -> Loaded:
    """The acquisition with every phase and VFA volume decoded once (loaders return the arrays)."""
    phases = [replace(p, loader=_constant(np.ascontiguousarray(p.loader(), dtype=np.float32)))
              for p in acq.phases]
    vfa = [replace(v, loader=_constant(np.ascontiguousarray(v.loader(), dtype=np.float32))) for v in acq.vfa]
    reference = None
    if acq.reference is not None:  # the header only: its pixels would double the bytes kept
        reference = copy.copy(acq.reference)
        if "PixelData" in reference:
            del reference.PixelData
    kept = replace(acq, phases=phases, vfa=vfa, reference=reference)
    nbytes = sum(int(p.loader().nbytes) for p in phases) + sum(int(v.loader().nbytes) for v in vfa)
    return Loaded(kept, nbytes)


async def fingerprint(ctx: AppContext, study_uid: str, series_uids: list[str]) -> tuple[int, int]:
    """(count, highest id) of the stored instances of the series: changes with any STOW or DELETE."""
    stmt = (
        select(func.count(col(Instance.id)), func.max(col(Instance.id)))
        .join(Series, col(Series.id) == Instance.series_id)
        .join(Study, col(Study.id) == Instance.study_id)
        .where(Study.study_instance_uid == study_uid, col(Series.series_instance_uid).in_(series_uids),
               Instance.state == InstanceState.CREATED)
    )
    async with ctx.sessions() as s:
        row = (await s.exec(stmt)).one()
    return int(row[0] or 0), int(row[1] or 0)


async def acquisition(ctx: AppContext, study_uid: str, series_uids: list[str], key: str) -> DceAcquisition | None:
    """The job's DCE acquisition with its arrays in memory (None: the series no longer hold it)."""
    cache = ctx.memory.dce
    stamp = await fingerprint(ctx, study_uid, series_uids)
    cache_key = (study_uid, tuple(sorted(series_uids)), key, stamp)
    hit = cache.get(cache_key)
    if hit is not None:
        return hit.acquisition
    cache.evict_where(lambda k: k[:3] == cache_key[:3])  # older fingerprints of the same series
    cache.loads += 1
    datasets = await study_loader.load_datasets(ctx, study_uid, series_uids, pixels=True)
    found = quant_bridge.pick(await asyncio.to_thread(dce.classify, datasets), key)
    if found is None:
        return None
    loaded = await asyncio.to_thread(materialise, found.acquisition)
    del datasets, found
    cache.put(cache_key, loaded, loaded.nbytes)
    return loaded.acquisition


async def image_header(ctx: AppContext, study_uid: str, sop_uid: str) -> pydicom.Dataset | None:
    """The header (no pixels) of one stored image of the study (None: not an image of it)."""
    stmt = (
        select(Instance)
        .join(Study, col(Study.id) == Instance.study_id)
        .where(Study.study_instance_uid == study_uid, Instance.sop_instance_uid == sop_uid,
               Instance.state == InstanceState.CREATED)
    )
    async with ctx.sessions() as s:
        row = (await s.exec(stmt)).first()
    if row is None:
        return None
    inst = row[0]
    blob = await ctx.store.get_bytes(inst.blob_key)
    return await asyncio.to_thread(pydicom.dcmread, io.BytesIO(blob), stop_before_pixels=True)
