"""The C-STORE receiver of pulled studies: the C-MOVE destination (and the C-GET store handler).

A pulled study is owned by its rule's institution, not by the sending PACS, and each series is
judged on its first instance (the receive filter): so pulled objects arrive here, where the
pull in progress for their study is known, and go through the one ingest service (two-phase,
analysis detection after commit) via the SCP's ``StoreBatcher``. An object of a study no pull is
waiting for is refused (0124H, not authorised). A C-STORE is answered once its object is durable.
"""

from __future__ import annotations

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


@dataclass
class ReceiveJob:
    study_uid: str
    principal: Principal
    rule: CompiledRule | None
    series_checked: bool  # the series filter was applied to the series C-FIND answers
    body_part_hint: str = ""  # the RIS/HIS order's body part (server/pull/hints.py), "" without one
    stored: int = 0
    skipped: int = 0
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
        outcome = self.bridge.run(self.batcher.store(item, job.principal))
        status = store_status(outcome)
        if status == 0:
            with self._lock:
                job.stored += 1
        else:
            log.warning("pulled object of %s refused (0x%04X): %s", study_uid, status, outcome.message)
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
