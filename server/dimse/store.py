"""C-STORE: received objects through the one ingest service, grouped into batches.

pynetdicom writes each received data set to a file as it arrives (chunked receive), so no
object is held in memory. The handler moves that file into the spool and waits until the
ingest service reports it durable (two-phase: ``creating`` row → blob synced → ``created``);
only then is the C-STORE response sent. Concurrent associations share batches: while one
batch is being stored the next fills up (group commit), so four senders cost far fewer
transactions and syncs than four times one.

Status (PS3.4 B.2.3, the same codes STOW-RS reports as FailureReason): success for a new or
an identical object; ``0111H`` Duplicate SOP Instance for a different object under a stored
SOP Instance UID (never overwritten, logged); ``A700H`` out of resources; ``A900H`` data
set does not match SOP class; ``C000H`` cannot understand; ``0110H`` processing failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from dicomweb.stow import FailureReason, InstanceOutcome
from server.auth.principal import Principal
from server.services.ingest import BATCH_SIZE, IngestService, Spooled
from server.services.parse import sha256_file

log = logging.getLogger("cirrus.dimse.store")

SUCCESS = 0x0000


def store_status(outcome: InstanceOutcome) -> int:
    """The C-STORE response status for an ingest outcome."""
    if outcome.ok:
        return SUCCESS
    return int(outcome.failure_reason or FailureReason.PROCESSING_FAILURE)


def spool_received(received: Path, spool_dir: Path) -> Spooled:
    """Take over pynetdicom's received file (a hard link when the spool is on the same file
    system, else a copy) and hash it; the spool file is removed once ingested."""
    target = spool_dir / f"{uuid.uuid4().hex}.dcm"
    try:
        os.link(received, target)
    except OSError:
        shutil.copyfile(received, target)
    try:
        return Spooled(sha256_file(target), path=target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


@dataclass
class _Pending:
    item: Spooled
    principal: Principal
    done: asyncio.Future[InstanceOutcome] = field(repr=False)


class StoreBatcher:
    """Collects C-STORE objects of all associations and stores them in batches (one loop task)."""

    def __init__(self, ingest: IngestService, max_batch: int = BATCH_SIZE) -> None:
        self.ingest = ingest
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dimse-store-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            pending.item.release()
            if not pending.done.done():
                pending.done.cancel()

    async def store(self, item: Spooled, principal: Principal) -> InstanceOutcome:
        """Queue one object and wait until it is durable (or refused)."""
        done: asyncio.Future[InstanceOutcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, principal, done))
        return await done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            groups: dict[Principal, list[_Pending]] = {}
            for pending in batch:
                groups.setdefault(pending.principal, []).append(pending)
            for principal, members in groups.items():
                try:
                    outcomes = await self.ingest.ingest_batch([m.item for m in members], principal=principal)
                except Exception as exc:  # the service never raises for bad input: this is ours
                    log.exception("ingest of %d received objects failed", len(members))
                    for m in members:
                        if not m.done.done():
                            m.done.set_exception(exc)
                    continue
                for m, outcome in zip(members, outcomes, strict=True):
                    if not m.done.done():
                        m.done.set_result(outcome)
