"""What one process keeps in memory: bounded caches and the STOW spool budget.

Everything here is built once per process from settings (``server.context.open_context``) and
reached through ``AppContext``; no module keeps state of its own. Each structure is bounded, by
entries and by bytes, so no sequence of requests can grow it without limit.

- ``SeriesTables``: per series, its stored instances (blob key, frame table, ...) from one indexed
  query, shared by the frame, rendered and metadata paths: a viewer opening a series costs one
  look-up, not one per frame request. Bounded by bytes (rows added to a table later count too);
  entries live ``ttl`` seconds. A DELETE evicts the study in this process at once and, through the
  change bus (``DELETIONS``), every other process's tables, instance lists and visibility decisions
  as soon as the notification arrives (``ProcessMemory.forget_study`` / ``forget_all_studies``).
- ``MetadataCache``: whole metadata answers by (resource, version, base URL). The version is read
  from the index on every request, so an entry is never served stale.
- ``PixelCaches``: parsed headers, rendered outputs, decoded frames of compressed instances, and the
  instance lists of study/series pixel requests (``ROW_TTL`` seconds).
- ``visibility``: (institution, study UID) -> visible, for ``DECISION_TTL`` seconds: the tenant
  check in front of the caches above (``server.auth.visibility.ensure_visible``).
- ``SeriesArrays``: DCE series loaded as arrays for the ROI curve endpoint, bounded by bytes and
  keyed by the series' instance fingerprint (``server.workflow.dce_cache``).
- ``MemoryBudget``: bytes of STOW parts held in memory; beyond it parts are spooled to temp files.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

V = TypeVar("V")

ROW_TTL = 5.0  # a study/series instance list for pixel requests may lag a STOW or DELETE by this
DCE_CACHE_BYTES = 1536 * 1024 * 1024  # a 256×256×20×60 float32 series is ~315 MB: a quarter must hold one
DECISION_TTL = 5.0  # a visibility decision (institution, study) kept for cache hits; a revoked grant lags by this


class LRU(Generic[V]):
    """Least recently used out first, bounded by entry count and by the total of given sizes."""

    def __init__(self, max_entries: int, max_bytes: int | None = None) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0
        self._data: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable) -> V | None:
        item = self._data.get(key)
        if item is None:
            return None
        self._data.move_to_end(key)
        return item[0]

    def put(self, key: Hashable, value: V, size: int = 0) -> None:
        if key in self._data or (self.max_bytes is not None and size > self.max_bytes // 4):
            return  # an item that would push out a quarter of the cache is not worth keeping
        self._data[key] = (value, size)
        self.size += size
        while len(self._data) > self.max_entries or (self.max_bytes is not None and self.size > self.max_bytes):
            _, (_, old) = self._data.popitem(last=False)
            self.size -= old

    def pop(self, key: Hashable) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self.size -= item[1]

    def grow(self, key: Hashable, size: int) -> bool:
        """``size`` more bytes for an entry that changed in place; False (and the entry dropped) when
        the entry no longer fits."""
        item = self._data.get(key)
        if item is None:
            return False
        total = item[1] + size
        if self.max_bytes is not None and total > self.max_bytes // 4:
            self.pop(key)
            return False
        self._data[key] = (item[0], total)
        self.size += size
        self._data.move_to_end(key)
        while self.max_bytes is not None and self.size > self.max_bytes and len(self._data) > 1:
            _, (_, old) = self._data.popitem(last=False)
            self.size -= old
        return True

    def keys(self) -> list[Hashable]:
        return list(self._data)

    def clear(self) -> None:
        self._data.clear()
        self.size = 0


class TtlLRU(Generic[V]):
    """An ``LRU`` whose entries also expire ``ttl`` seconds after they were put."""

    def __init__(self, max_entries: int, ttl: float) -> None:
        self.ttl = ttl
        self._lru: LRU[tuple[float, V]] = LRU(max_entries)

    def get(self, key: Hashable) -> V | None:
        hit = self._lru.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: Hashable, value: V) -> None:
        self._lru.pop(key)
        self._lru.put(key, (time.monotonic() + self.ttl, value))

    def evict_where(self, match: Any) -> None:
        for key in [k for k in self._lru.keys() if match(k)]:
            self._lru.pop(key)

    def clear(self) -> None:
        self._lru.clear()


class SeriesTables:
    """(study, series) -> {SOP Instance UID: stored instance}, bounded by bytes, expiring after ``ttl``."""

    def __init__(self, max_bytes: int, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self._lru: LRU[tuple[float, dict[str, Any]]] = LRU(max_entries, max_bytes)
        self.loads = 0  # series tables read from the index (a figure for tests and tuning)

    def get(self, study: str, series: str) -> dict[str, Any] | None:
        hit = self._lru.get((study, series))
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, study: str, series: str, table: dict[str, Any], size: int) -> None:
        self.loads += 1
        self._lru.pop((study, series))
        self._lru.put((study, series), (time.monotonic() + self.ttl, table), size)

    def add(self, study: str, series: str, sop: str, row: Any, size: int) -> None:
        """A row stored after the table was read: into the table, its bytes into the bound."""
        hit = self._lru.get((study, series))
        if hit is None or sop in hit[1]:
            return
        hit[1][sop] = row
        if not self._lru.grow((study, series), size):
            hit[1].pop(sop, None)  # the table was dropped; keep the caller's reference consistent

    def evict_study(self, study: str) -> None:
        for key in [k for k in self._lru.keys() if k[0] == study]:  # type: ignore[index]
            self._lru.pop(key)

    def clear(self) -> None:
        self._lru.clear()

    @property
    def size(self) -> int:
        return self._lru.size


class SeriesArrays:
    """(study, series, acquisition, fingerprint) -> a loaded DCE acquisition, bounded by its arrays' bytes."""

    def __init__(self, max_bytes: int, max_entries: int = 64) -> None:
        self._lru: LRU[Any] = LRU(max_entries, max_bytes)
        self.loads = 0  # acquisitions loaded from the store (figures for tests and tuning)
        self.hits = 0

    def get(self, key: tuple[Any, ...]) -> Any:
        hit = self._lru.get(key)
        if hit is not None:
            self.hits += 1
        return hit

    def put(self, key: tuple[Any, ...], value: Any, size: int) -> None:
        self._lru.put(key, value, size)

    def evict_where(self, match: Any) -> None:
        for key in [k for k in self._lru.keys() if match(k)]:
            self._lru.pop(key)

    def evict_study(self, study: str) -> None:
        self.evict_where(lambda k: k[0] == study)

    @property
    def size(self) -> int:
        return self._lru.size

    def __len__(self) -> int:
        return len(self._lru)


@dataclass
class PixelCaches:
    headers: LRU[Any] = field(default_factory=lambda: LRU(4096, 128 * 1024 * 1024))
    outputs: LRU[bytes] = field(default_factory=lambda: LRU(100_000, 256 * 1024 * 1024))
    decoded: LRU[Any] = field(default_factory=lambda: LRU(10_000, 128 * 1024 * 1024))
    rows: TtlLRU[Any] = field(default_factory=lambda: TtlLRU(10_000, ROW_TTL))
    # Where frames were rendered: in the render pool's processes (native) or a worker thread (others).
    renders_pooled: int = 0
    renders_threaded: int = 0


class MemoryBudget:
    """Bytes of STOW parts held in memory across this process; beyond it, parts go to disk."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.spills = 0  # parts that went to disk because they did not fit (a figure for tuning)

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n


@dataclass
class ProcessMemory:
    """The bounded in-memory structures of one process."""

    stow_budget: MemoryBudget
    series: SeriesTables = field(default_factory=lambda: SeriesTables(64 * 1024 * 1024, 60.0))
    metadata: LRU[bytes] = field(default_factory=lambda: LRU(100_000, 64 * 1024 * 1024))
    pixels: PixelCaches = field(default_factory=PixelCaches)
    visibility: TtlLRU[bool] = field(default_factory=lambda: TtlLRU(100_000, DECISION_TTL))
    # DCE series as 4D arrays for the ROI curve endpoint (server.workflow.dce_cache).
    dce: SeriesArrays = field(default_factory=lambda: SeriesArrays(DCE_CACHE_BYTES))

    def forget_study(self, study: str) -> None:
        """A study lost instances in this process: its series tables, instance lists, visibility
        decisions and loaded DCE arrays go (rendered outputs and headers are keyed by blob and
        unreachable without them)."""
        self.series.evict_study(study)
        self.pixels.rows.evict_where(lambda key: key[0] == study)
        self.visibility.evict_where(lambda key: key[1] == study)
        self.dce.evict_study(study)

    def forget_all_studies(self) -> None:
        """Another process deleted instances (which, the notification does not say): forget every
        series table, instance list and visibility decision."""
        self.series.clear()
        self.pixels.rows.clear()
        self.visibility.clear()


__all__ = ["LRU", "MemoryBudget", "PixelCaches", "ProcessMemory", "DECISION_TTL", "ROW_TTL", "SeriesArrays",
           "SeriesTables", "TtlLRU"]
