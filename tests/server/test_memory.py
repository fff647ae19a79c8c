"""The bounded in-memory structures of a process (``server.memory``)."""

from __future__ import annotations

import time

from server.memory import LRU, MemoryBudget, TtlLRU


def test_lru_is_bounded_by_bytes_and_skips_items_over_a_quarter() -> None:
    cache: LRU[bytes] = LRU(100, max_bytes=1000)
    for i in range(10):
        cache.put(("s", str(i)), b"x" * 200, 200)
    assert cache.size <= 1000 and len(cache) == 5
    assert cache.get(("s", "0")) is None and cache.get(("s", "9")) == b"x" * 200
    cache.put(("s", "big"), b"x" * 600, 600)  # over a quarter of the budget: not kept
    assert cache.get(("s", "big")) is None


def test_lru_is_bounded_by_entries_and_keeps_the_recently_used() -> None:
    cache: LRU[int] = LRU(3)
    for i in range(3):
        cache.put(i, i)
    assert cache.get(0) == 0  # 0 is now the most recent
    cache.put(3, 3)
    assert cache.keys() == [2, 0, 3]
    cache.pop(2)
    assert len(cache) == 2 and cache.size == 0


def test_ttl_lru_expires_and_evicts_by_predicate() -> None:
    cache: TtlLRU[str] = TtlLRU(10, ttl=0.05)
    cache.put(("a", 1), "one")
    cache.put(("b", 1), "two")
    assert cache.get(("a", 1)) == "one"
    cache.evict_where(lambda key: key[0] == "a")
    assert cache.get(("a", 1)) is None and cache.get(("b", 1)) == "two"
    time.sleep(0.06)
    assert cache.get(("b", 1)) is None


def test_memory_budget_takes_only_what_fits() -> None:
    budget = MemoryBudget(100)
    assert budget.take(60) and not budget.take(50) and budget.take(40)
    budget.give(100)
    assert budget.used == 0
