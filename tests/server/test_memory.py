"""The bounded in-memory structures of a process (``server.memory``)."""

from __future__ import annotations

import time

from server.memory import LRU, MemoryBudget, ProcessMemory, SeriesTables, TtlLRU


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


def test_series_tables_count_late_rows_and_drop_a_table_that_outgrows_its_share() -> None:
    tables = SeriesTables(max_bytes=4000, ttl=60.0)
    tables.put("st", "se", {"a": "row a"}, 100)
    tables.add("st", "se", "b", "row b", 300)
    assert tables.get("st", "se") == {"a": "row a", "b": "row b"} and tables.size == 400
    tables.add("st", "se", "b", "row b", 300)  # already there: not counted twice
    assert tables.size == 400
    tables.add("st", "other", "c", "row c", 300)  # no table for that series: nothing kept
    assert tables.get("st", "other") is None and tables.size == 400
    tables.add("st", "se", "d", "row d", 700)  # 1100 > a quarter of 4000: the table goes
    assert tables.get("st", "se") is None and tables.size == 0


def test_series_tables_late_rows_push_out_the_least_recently_used() -> None:
    tables = SeriesTables(max_bytes=8000, ttl=60.0)
    for i in range(5):
        tables.put("st", f"se{i}", {"x": i}, 1580)
    tables.add("st", "se4", "y", "late", 400)  # 8300 > 8000: the oldest table goes
    assert tables.get("st", "se0") is None and tables.get("st", "se4") == {"x": 4, "y": "late"}
    assert tables.size == 4 * 1580 + 400


def test_forgetting_a_study_drops_its_tables_lists_and_decisions_only() -> None:
    memory = ProcessMemory(stow_budget=MemoryBudget(1))
    for study in ("s1", "s2"):
        memory.series.put(study, "se", {"x": 1}, 10)
        memory.pixels.rows.put((study, None, None), ["row"])
        memory.visibility.put((7, study), True)
    memory.forget_study("s1")
    assert memory.series.get("s1", "se") is None and memory.series.get("s2", "se") == {"x": 1}
    assert memory.pixels.rows.get(("s1", None, None)) is None and memory.pixels.rows.get(("s2", None, None))
    assert memory.visibility.get((7, "s1")) is None and memory.visibility.get((7, "s2"))
    memory.forget_all_studies()
    assert memory.series.get("s2", "se") is None and memory.series.size == 0
    assert memory.pixels.rows.get(("s2", None, None)) is None and memory.visibility.get((7, "s2")) is None
