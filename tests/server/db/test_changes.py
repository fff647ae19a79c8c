"""Change notification across tasks and processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from server.db.changes import JOBS, STUDIES, ChangeBus
from server.db.database import create_engine


async def test_publish_wakes_local_subscribers_of_the_topic_only(database_url: str) -> None:
    engine = create_engine(database_url)
    bus = ChangeBus(engine)
    await bus.start()
    try:
        with bus.subscribe(JOBS) as jobs, bus.subscribe(STUDIES) as studies:
            assert not await jobs.wait(0.05)
            bus.publish(JOBS)
            assert await jobs.wait(1.0)
            assert not await studies.wait(0.05)
            assert not await jobs.wait(0.05), "a wake-up is consumed by the wait that saw it"
    finally:
        await bus.close()
        await engine.dispose()


async def test_a_change_in_another_process_wakes_the_subscriber(database_url: str) -> None:
    """Two buses on two engines stand for two processes sharing the database."""
    engines = [create_engine(database_url), create_engine(database_url)]
    here, there = ChangeBus(engines[0]), ChangeBus(engines[1])
    there._pid = -1  # what tells processes apart on SQLite: the publisher's own signal file
    await here.start()
    await there.start()
    try:
        with here.subscribe(JOBS) as sub:
            started = time.monotonic()
            there.publish(JOBS)  # PostgreSQL: NOTIFY; SQLite: the publisher's signal file
            assert await sub.wait(3.0), "the other process's change woke this one"
            assert time.monotonic() - started < 2.0
    finally:
        await here.close()
        await there.close()
        for e in engines:
            await e.dispose()


@pytest.mark.parametrize("topic", ["nonsense"])
async def test_an_unknown_topic_is_refused(sqlite_url: str, topic: str) -> None:
    bus = ChangeBus(create_engine(sqlite_url))
    with pytest.raises(KeyError):
        with bus.subscribe(topic):
            pass
