"""Start and stop the SCP inside a running asyncio program (`cirrus dimse`, or `cirrus serve`'s lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from server.context import AppContext
from server.dimse.bridge import LoopBridge
from server.dimse.scp import DimseServer
from server.dimse.store import StoreBatcher
from server.services.audit import AuditWriter
from server.services.ingest import IngestService


@contextlib.asynccontextmanager
async def running_scp(ctx: AppContext, audit: AuditWriter | None = None) -> AsyncIterator[DimseServer]:
    """The SCP of ``ctx.settings`` (AE title, host, port) listening until the block ends.

    Its operations are audited through ``audit`` (the API process's writer when embedded), or a
    writer of its own (``cirrus dimse``)."""
    settings = ctx.settings
    own_audit = audit is None
    writer = audit or AuditWriter(ctx, settings.audit_queue_size, settings.audit_batch_size)
    if own_audit:
        writer.start()
    batcher = StoreBatcher(IngestService(ctx))
    batcher.start()
    bridge = LoopBridge(asyncio.get_running_loop(), settings.dimse_timeout_seconds * 10)
    server = DimseServer(ctx, bridge, batcher, ae_title=settings.dimse_ae_title, host=settings.dimse_host,
                         port=settings.dimse_port, audit=writer)
    try:
        await asyncio.to_thread(server.start)
        yield server
    finally:
        # Open associations finish their current operation through the loop meanwhile.
        await asyncio.to_thread(server.stop)
        await batcher.stop()
        if own_audit:
            await writer.stop()
