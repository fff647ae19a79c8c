"""The outbound queue: batches of one study from the spool to the cloud, retried with backoff.

One thread. While the link is down (or the cloud answers 5xx/429) the batch stays queued, its
``reason`` tells why, and the next try waits twice as long as the last one (from
``gateway_retry_initial_seconds`` up to ``gateway_retry_max_seconds``); the first success
resets the wait. Permanent refusals become ``failed`` with their reason and are not retried.
"""

from __future__ import annotations

import logging
import threading

from server.gateway.spool import Spool
from server.gateway.stow import StowClient

log = logging.getLogger("cirrus.gateway.forward")


class Forwarder:
    def __init__(self, spool: Spool, client: StowClient, *, batch_size: int, settle_seconds: float,
                 retry_initial: float, retry_max: float, poll_seconds: float = 0.2) -> None:
        self.spool = spool
        self.client = client
        self.batch_size = batch_size
        self.settle_seconds = settle_seconds
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.backoff = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gateway-forwarder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def step(self) -> bool:
        """Send one batch if one is ready; whether anything was tried."""
        batch = self.spool.next_batch(self.batch_size, self.settle_seconds)
        if not batch:
            return False
        result = self.client.send(batch)
        if result.retry_reason:
            self.spool.note_retry(batch, result.retry_reason)
            self.backoff = min(self.retry_max, self.backoff * 2 if self.backoff else self.retry_initial)
            log.warning("forwarding %d instances of study %s deferred (%s); next try in %.1fs", len(batch),
                        batch[0].study_instance_uid, result.retry_reason, self.backoff)
            return True
        self.backoff = 0.0
        if result.sent:
            self.spool.mark_sent(batch, result.sent)
        if result.failed:
            self.spool.mark_failed(batch, result.failed)
            for sop, why in result.failed.items():
                log.error("instance %s refused by the cloud: %s", sop, why)
        log.info("study %s: %d sent, %d failed", batch[0].study_instance_uid, len(result.sent), len(result.failed))
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                tried = self.step()
            except Exception:
                log.exception("forwarding failed")
                self.backoff = min(self.retry_max, self.backoff * 2 if self.backoff else self.retry_initial)
                tried = True
            wait = self.backoff if self.backoff else (0.0 if tried else self.poll_seconds)
            if wait:
                self._stop.wait(wait)
