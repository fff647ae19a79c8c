"""Start and stop the pull worker and its receiver inside a running asyncio program
(``cirrus pull``, or ``cirrus serve``'s lifespan with ``pull_embedded``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from server.context import AppContext
from server.dimse.bridge import LoopBridge
from server.dimse.store import StoreBatcher
from server.pull.receiver import PullReceiver
from server.pull.worker import PullWorker
from server.services.ingest import IngestService


@contextlib.asynccontextmanager
async def running_pull(ctx: AppContext) -> AsyncIterator[PullWorker]:
    settings = ctx.settings
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # one line per PDU otherwise
    batcher = StoreBatcher(IngestService(ctx))
    batcher.start()
    bridge = LoopBridge(asyncio.get_running_loop(), settings.dimse_timeout_seconds * 10)
    receiver = PullReceiver(ctx, bridge, batcher)
    worker = PullWorker(ctx, receiver)
    try:
        await asyncio.to_thread(receiver.start)
        await worker.start()
        yield worker
    finally:
        await worker.stop()
        await asyncio.to_thread(receiver.stop)
        await batcher.stop()
