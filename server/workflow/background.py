"""The analysis work of a process: the ingest listener, the stability detector and workers.

Started explicitly: by the app's lifespan in ``server.app.create_app`` (API processes: the
detector always, in-process workers when ``CIRRUS_WORKERS`` > 0) and by ``cirrus worker``.
Nothing registers itself at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from server.context import AppContext
from server.workflow import detector
from server.workflow.worker import DEFAULT_LEASE_SECONDS, worker_loop, worker_name

log = logging.getLogger("cirrus.analysis")


@contextlib.contextmanager
def analysis_host(data_dir: Path) -> Iterator[bool]:
    """True in the one process of this data folder that runs the in-process analysis workers.

    ``cirrus serve`` with N HTTP worker processes would otherwise run N × ``CIRRUS_WORKERS``
    analyses at once. The elected process holds an exclusive lock on a file of the data folder; the
    kernel drops it when that process ends (even by kill -9), and the next start elects again.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "analysis-workers.lock", "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class AnalysisBackground:
    def __init__(
        self,
        ctx: AppContext,
        workers: int,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        poll_seconds: float = 1.0,
        run_detector: bool = True,
    ) -> None:
        self.ctx = ctx
        self.workers = max(0, workers)
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.run_detector = run_detector
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if detector.record_change not in self.ctx.ingest_listeners:
            self.ctx.ingest_listeners.append(detector.record_change)
        if self.run_detector:
            self.tasks.append(
                asyncio.create_task(detector.detector_loop(self.ctx, self.stop_event), name="analysis-detector")
            )
        for i in range(self.workers):
            loop = worker_loop(
                self.ctx, self.stop_event, worker_name(i),
                lease_seconds=self.lease_seconds, poll_seconds=self.poll_seconds,
            )
            self.tasks.append(asyncio.create_task(loop, name=f"analysis-worker-{i}"))

    async def stop(self) -> None:
        self.stop_event.set()
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        if detector.record_change in self.ctx.ingest_listeners:
            self.ctx.ingest_listeners.remove(detector.record_change)
