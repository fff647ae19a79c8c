"""Change notification: wake the tasks that wait for a change (workers, live event streams).

One ``ChangeBus`` per process. ``publish(topic)`` wakes every subscriber of that topic in this
process at once and tells the other processes that share the database:

- PostgreSQL: ``NOTIFY`` on one channel; every process ``LISTEN``\\s on a dedicated connection
  and wakes its own subscribers when a notification arrives.
- SQLite (the processes share one machine and one data folder): a publishing process touches a
  signal file of its own per topic beside the database (``cirrus.db.changes/jobs.<pid>``); every
  process looks at the folder twice a second and wakes the subscribers of a topic that another
  process touched. No database write and no lock is involved.

A wake-up is a hint to look again, never the data itself: a spurious one costs a query.

Subscribers never poll the tables themselves; they wait on a ``Subscription`` and re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("cirrus.changes")

CHANNEL = "cirrus_changes"
JOBS = "jobs"
STUDIES = "studies"
READING = "reading"  # reading requests and their reports
DELETIONS = "deletions"  # instances were deleted: other processes drop their cached instance tables
WORKITEMS = "workitems"  # UPS events (server/workflow/workitem_events.py)
TOPICS = (JOBS, STUDIES, READING, DELETIONS, WORKITEMS)
SIGNAL_WATCH_SECONDS = 0.5


class Subscription:
    """A wake-up flag for one topic; ``wait`` returns True when something changed since the last wait."""

    def __init__(self, bus: ChangeBus, topic: str) -> None:
        self._bus = bus
        self.topic = topic
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._event.wait(), timeout=timeout)
        except TimeoutError:
            return False
        self._event.clear()
        return True

    def close(self) -> None:
        self._bus._subscribers[self.topic].discard(self)


class ChangeBus:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._subscribers: dict[str, set[Subscription]] = {t: set() for t in TOPICS}
        self._task: asyncio.Task[None] | None = None
        self._pg: asyncpg.Connection | None = None
        self._pg_lock = asyncio.Lock()
        self._outbox: set[str] = set()
        self._sender: asyncio.Task[None] | None = None
        self._signals: Path | None = None  # SQLite: the signal folder
        self._pid = os.getpid()
        self._remote: dict[str, list[Callable[[], None]]] = {t: [] for t in TOPICS}

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    async def start(self) -> None:
        if self.dialect == "postgresql":
            url = make_url(str(self._engine.url.render_as_string(hide_password=False)))
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._pg = await asyncpg.connect(dsn)
            await self._pg.add_listener(CHANNEL, self._on_notification)
        elif self.dialect == "sqlite" and self._engine.url.database:
            self._signals = Path(self._engine.url.database + ".changes")
            self._signals.mkdir(exist_ok=True)
            # What other processes signalled before we started is not news.
            seen = self._signal_stamps()
            self._task = asyncio.create_task(self._watch_signals(seen), name="change-signals")

    async def close(self) -> None:
        for task in (self._task, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._pg is not None:
            with contextlib.suppress(Exception):
                await self._pg.close()
            self._pg = None
        if self._signals is not None:
            for topic in TOPICS:
                (self._signals / f"{topic}.{self._pid}").unlink(missing_ok=True)

    @contextlib.contextmanager
    def subscribe(self, topic: str) -> Iterator[Subscription]:
        sub = Subscription(self, topic)
        self._subscribers[topic].add(sub)
        try:
            yield sub
        finally:
            sub.close()

    def on_remote(self, topic: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` (in the event loop, before subscribers wake) whenever another process
        publishes ``topic``: for caches of this process that a change elsewhere makes stale."""
        self._remote[topic].append(callback)

    def publish(self, topic: str) -> None:
        """Something of ``topic`` changed (call after the commit that changed it)."""
        self._wake(topic)
        if self._pg is not None:
            self._outbox.add(topic)
            if self._sender is None or self._sender.done():
                self._sender = asyncio.get_running_loop().create_task(self._send())
        elif self._signals is not None:
            try:
                (self._signals / f"{topic}.{self._pid}").touch()
            except OSError:
                log.warning("could not signal a change of %s to other processes", topic, exc_info=True)

    # -- delivery -----------------------------------------------------------------------------

    def _wake(self, topic: str) -> None:
        for sub in list(self._subscribers.get(topic, ())):
            sub.wake()

    def _wake_remote(self, topic: str) -> None:
        for callback in self._remote.get(topic, ()):
            try:
                callback()
            except Exception:
                log.exception("a change callback of %s failed", topic)
        self._wake(topic)

    def _on_notification(self, conn: Any, pid: int, _channel: str, payload: str) -> None:
        # Our own NOTIFYs come back too; their subscribers were woken when published.
        if payload in self._subscribers and pid != conn.get_server_pid():
            self._wake_remote(payload)

    async def _send(self) -> None:
        # Bursts (a worker's progress beats, a STOW of many batches) collapse into one NOTIFY per topic.
        while self._outbox and self._pg is not None:
            topics, self._outbox = self._outbox, set()
            try:
                async with self._pg_lock:
                    for topic in sorted(topics):
                        await self._pg.execute("SELECT pg_notify($1, $2)", CHANNEL, topic)
            except Exception:
                log.warning("could not send a change notification (%s)", ", ".join(sorted(topics)), exc_info=True)

    def _signal_stamps(self) -> dict[str, tuple[str, int]]:
        """Signal file name → (topic, modification time) for every other process's signal."""
        assert self._signals is not None
        out: dict[str, tuple[str, int]] = {}
        try:
            entries = list(os.scandir(self._signals))
        except OSError:
            return out
        for entry in entries:
            topic, _, pid = entry.name.partition(".")
            if pid == str(self._pid) or topic not in self._subscribers:
                continue
            try:
                out[entry.name] = (topic, entry.stat().st_mtime_ns)
            except OSError:
                continue
        return out

    async def _watch_signals(self, seen: dict[str, tuple[str, int]]) -> None:
        while True:
            await asyncio.sleep(SIGNAL_WATCH_SECONDS)
            now = self._signal_stamps()
            for topic in {topic for name, (topic, stamp) in now.items() if seen.get(name, (topic, None))[1] != stamp}:
                self._wake_remote(topic)
            seen = now


__all__ = ["ChangeBus", "DELETIONS", "JOBS", "READING", "STUDIES", "WORKITEMS", "Subscription"]
