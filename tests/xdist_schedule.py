"""How `make test` shares the test files between its two xdist workers (``--dist loadfile``).

xdist's loadfile hands out the files with the most tests first. The slowest files have only a few
tests each (the PACS pull e2e, the hostile corpus: minutes per test), so they came last, and one
worker ran them alone while the other sat idle. Here the known heavy files go first. Their SQLite
and PostgreSQL halves are separate work units, so the two halves can run on the two workers at once;
their fixtures are parametrised by database, so a half never needs the other half's server. Every
other file stays whole on one worker, in xdist's order (most tests first), as with plain loadfile.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

# The slowest files (relative --durations figures), slowest first; each is split per database.
HEAVY = (
    "tests/e2e/test_pull.py",
    "tests/e2e/test_hostile_corpus.py",
)


def _path(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _database(nodeid: str) -> str:
    params = nodeid.rpartition("[")[2] if nodeid.endswith("]") else ""
    return "postgres" if "postgres" in params else "sqlite"


class HeavyFirstFileScheduling(LoadScopeScheduling):
    """loadfile, with the heavy files split per database, in the order the workers collected."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        config.option.loadscopereorder = False  # the order comes from pytest_collection_modifyitems

    def _split_scope(self, nodeid: str) -> str:
        path = _path(nodeid)
        return f"{path}@{_database(nodeid)}" if path in HEAVY else path


def _loadfile(config: pytest.Config) -> bool:
    return bool(config.getoption("dist", "no") == "loadfile")


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    return HeavyFirstFileScheduling(config, log) if _loadfile(config) else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Heavy files first (PostgreSQL half, the slower, before SQLite), then the other files by
    number of tests; the order inside a file (pytest's fixture grouping) is kept: the sort is stable."""
    if not _loadfile(config):
        return
    rank = {path: i for i, path in enumerate(HEAVY)}
    sizes: dict[str, int] = {}
    for item in items:
        sizes[_path(item.nodeid)] = sizes.get(_path(item.nodeid), 0) + 1

    def key(item: pytest.Item) -> tuple[int, int, int]:
        path = _path(item.nodeid)
        if path in rank:
            return (0, rank[path], 0 if _database(item.nodeid) == "postgres" else 1)
        return (1, -sizes[path], 0)

    items.sort(key=key)
