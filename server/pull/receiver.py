"""The C-STORE receiver of pulled studies: the C-MOVE destination (and the C-GET store handler).

A pulled study is owned by its rule's institution, not by the sending PACS, and each series is
judged on its first instance (the receive filter): so pulled objects arrive here, where the
pull in progress for their study is known, and go through the one ingest service (two-phase,
analysis detection after commit) via the SCP's ``StoreBatcher``. An object of a study no pull is
waiting for is refused (0124H, not authorised).

A C-STORE is answered once its object is in the spool, before it is ingested: the PACS still holds
it, and the pull's count check (after every pending ingest is done) is what decides completeness —
an object lost to a crash between spool and ingest is pulled again. So a PACS sending one object at
a time (a synchronous C-MOVE, one sub-operation outstanding) no longer waits for a commit per
object, and the ingest stores what arrives in batches. At most ``MAX_PENDING`` objects of a pull
wait for ingest; beyond that a C-STORE is answered when its object is stored (back-pressure).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pynetdicom import AE, AllStoragePresentationContexts, _config, evt

from server.auth.principal import Principal
from server.context import AppContext
from server.dimse.bridge import LoopBridge
from server.dimse.scp import STORAGE_SYNTAXES, _drop_partial_dataset
from server.dimse.store import StoreBatcher, spool_received, store_status
from server.pull.hints import Order, apply_order
from server.pull.matching import RECEIVE_KEYWORDS, CompiledRule, receive_reason
from server.services.ingest import Spooled
from server.services.parse import sha256_file

log = logging.getLogger("cirrus.pull")

NOT_AUTHORISED = 0x0124
OUT_OF_RESOURCES = 0xA700
PROCESSING_FAILURE = 0x0110
MAX_PENDING = 256


@dataclass
class ReceiveJob:
    study_uid: str
    principal: Principal
    rule: CompiledRule | None
    series_checked: bool  # the series filter was applied to the series C-FIND answers
    body_part_hint: str = ""  # the RIS/HIS order's body part (server/pull/hints.py), "" without one
    stored: int = 0
    skipped: int = 0
    failed: int = 0  # answered success (spooled), then refused by the ingest
    pending: int = 0  # spooled, not yet ingested
    # Series judged on their first instance: uid → reason refused ("" kept).
    verdicts: dict[str, str] = field(default_factory=dict)


def _first_instance(path: Path | None, dataset: Any) -> dict[str, Any]:
    ds = pydicom.dcmread(path, stop_before_pixels=True) if path is not None else dataset
    out: dict[str, Any] = {}
    for key in RECEIVE_KEYWORDS:
        value = ds.get(key)
        if value is None:
            continue
        out[key] = [str(v) for v in value] if type(value).__name__ == "MultiValue" else str(value)
    return out


class PullReceiver:
    """Stores objects of the pulls in progress (``expect``/``done`` bracket each pull)."""

    def __init__(self, ctx: AppContext, bridge: LoopBridge, batcher: StoreBatcher) -> None:
        self.ctx = ctx
        self.bridge = bridge
        self.batcher = batcher
        self.spool_dir = ctx.settings.tmp_dir / "pull"
        self._jobs: dict[str, ReceiveJob] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self.port = ctx.settings.pull_port

    def expect(self, job: ReceiveJob) -> None:
        with self._lock:
            self._jobs[job.study_uid] = job

    def done(self, study_uid: str, job: ReceiveJob | None = None) -> ReceiveJob | None:
        """Stop taking objects of ``study_uid`` (of that ``job`` only, when given: an asynchronous
        move finishing late does not end a later pull of the same study)."""
        with self._lock:
            if job is not None and self._jobs.get(study_uid) is not job:
                return None
            return self._jobs.pop(study_uid, None)

    # -- the listening SCP (C-MOVE destination) -----------------------------------------------

    def start(self) -> None:
        settings = self.ctx.settings
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        _config.STORE_RECV_CHUNKED_DATASET = True
        ae = AE(ae_title=settings.pull_ae_title)
        ae.maximum_associations = settings.dimse_max_associations
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.dimse_timeout_seconds
        ae.maximum_pdu_size = 131072
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, STORAGE_SYNTAXES)
        handlers = [(evt.EVT_C_STORE, self.on_store), (evt.EVT_CONN_CLOSE, self._on_closed)]
        self._server = ae.start_server((settings.pull_host, settings.pull_port), block=False,
                                       evt_handlers=handlers)
        self.port = int(self._server.server_address[1])
        log.info("pull receiver %s listening on %s:%d", settings.pull_ae_title, settings.pull_host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _on_closed(self, event: evt.Event) -> None:
        _drop_partial_dataset(event.assoc)

    # -- C-STORE --------------------------------------------------------------------------------

    def on_store(self, event: evt.Event) -> int:
        study_uid, series_uid, path = self._identify(event)
        with self._lock:
            job = self._jobs.get(study_uid)
        if job is None:
            log.warning("C-STORE of a study no pull waits for (%s) refused", study_uid)
            return NOT_AUTHORISED
        if job.rule is not None and series_uid not in job.verdicts:
            try:
                first = _first_instance(path, None if path else event.dataset)
                if job.body_part_hint:
                    first = apply_order(Order("", "", job.body_part_hint, "routine"), first, None)[0]
                reason = receive_reason(job.rule, first, job.series_checked)
            except Exception:
                log.exception("reading the first instance of series %s failed", series_uid)
                reason = None
            with self._lock:
                job.verdicts.setdefault(series_uid, reason or "")
        if job.verdicts.get(series_uid):
            with self._lock:
                job.skipped += 1
            return 0x0000  # the PACS may send it; we do not keep it (counted as skipped)
        try:
            item = spool_received(path, self.spool_dir) if path else self._spool_dataset(event)
        except OSError:
            log.exception("spooling a pulled object failed")
            return OUT_OF_RESOURCES
        with self._lock:
            job.pending += 1
            wait = job.pending > MAX_PENDING
        future = asyncio.run_coroutine_threadsafe(self._ingest(job, item), self.bridge.loop)
        return future.result(self.bridge.timeout) if wait else 0x0000

    async def _ingest(self, job: ReceiveJob, item: Spooled) -> int:
        try:
            outcome = await self.batcher.store(item, job.principal)
            status, message = store_status(outcome), outcome.message
        except Exception as exc:
            log.exception("ingest of a pulled object of %s failed", job.study_uid)
            status, message = PROCESSING_FAILURE, str(exc)
        with self._lock:
            job.pending -= 1
            if status == 0:
                job.stored += 1
            else:
                job.failed += 1
        if status != 0:
            log.warning("pulled object of %s refused (0x%04X): %s", job.study_uid, status, message)
        return status

    def _identify(self, event: evt.Event) -> tuple[str, str, Path | None]:
        path = getattr(event, "dataset_path", None)
        if path is not None:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["StudyInstanceUID",
                                                                            "SeriesInstanceUID"])
            return str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", "")), Path(path)
        ds = event.dataset
        return str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", "")), None

    def _spool_dataset(self, event: evt.Event) -> Spooled:
        # C-GET without chunked receive: the data set is in memory; write it as a Part 10 file.
        ds = event.dataset
        ds.file_meta = event.file_meta
        target = self.spool_dir / f"{ds.SOPInstanceUID}.get.dcm"
        ds.save_as(target, enforce_file_format=True)
        return Spooled(sha256_file(target), path=target)
