"""The gateway's C-STORE SCP for local modalities: C-ECHO and C-STORE into the spool.

Calling AE titles are allow-listed by ``gateway_allowed_aes`` (comma-separated; ``*`` accepts
any) — the gateway needs no database. A C-STORE is answered success only after the object is
durable in the spool (:meth:`Spool.accept`); a spool failure answers ``A700H`` (out of
resources) and a data set without identifiers ``C000H`` (cannot understand), so the modality
keeps the object and sends it again.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

from pynetdicom import AE, AllStoragePresentationContexts, _config, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from server.dimse.scp import (
    QUERY_SYNTAXES,
    REJECT_UNKNOWN_CALLER,
    STORAGE_SYNTAXES,
    _drop_partial_dataset,
    _reject,
    _title,
)
from server.gateway.rules import ForwardRules
from server.gateway.spool import Spool, SpoolError, UnreadableObject

log = logging.getLogger("cirrus.gateway.scp")

OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000


def allowed_titles(setting: str) -> frozenset[str] | None:
    """The allow-list of ``gateway_allowed_aes``; None when it accepts any caller (``*``)."""
    titles = frozenset(t.strip() for t in setting.split(",") if t.strip())
    return None if "*" in titles else titles


class GatewayScp:
    def __init__(self, spool: Spool, *, ae_title: str, host: str, port: int, allowed: frozenset[str] | None,
                 timeout: float, max_associations: int, rules: ForwardRules | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context  # DICOM TLS for the local modalities (None: plain TCP)
        self.spool = spool
        self.rules = rules
        self.allowed = allowed
        self.host = host
        self.port = port
        self.ae_title = ae_title
        self._server: Any = None
        _config.STORE_RECV_CHUNKED_DATASET = True  # received data sets go to a file, not memory
        ae = AE(ae_title=ae_title)
        ae.maximum_associations = max_associations
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
        ae.maximum_pdu_size = 131072
        ae.add_supported_context(Verification, QUERY_SYNTAXES)
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, STORAGE_SYNTAXES)
        self.ae = ae

    def start(self) -> None:
        handlers = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_CONN_CLOSE, lambda event: _drop_partial_dataset(event.assoc)),
            (evt.EVT_C_ECHO, lambda event: 0x0000),
            (evt.EVT_C_STORE, self._on_store),
        ]
        self._server = self.ae.start_server((self.host, self.port), block=False, evt_handlers=handlers,
                                            ssl_context=self.ssl_context)
        self.port = int(self._server.server_address[1])
        log.info("gateway SCP %s listening on %s:%d", self.ae_title, self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _on_requested(self, event: evt.Event) -> None:
        title = _title(event.assoc.requestor.primitive.calling_ae_title)
        if self.allowed is not None and title not in self.allowed:
            log.warning("association from %r rejected: not in gateway_allowed_aes", title)
            _reject(event.assoc, REJECT_UNKNOWN_CALLER)

    def _on_store(self, event: evt.Event) -> int:
        caller = _title(event.assoc.requestor.ae_title)
        try:
            self.spool.accept(Path(event.dataset_path), caller, self.rules)
        except UnreadableObject as exc:
            log.warning("C-STORE from %s refused: %s", caller, exc)
            return CANNOT_UNDERSTAND
        except SpoolError as exc:
            log.error("C-STORE from %s not spooled: %s", caller, exc)
            return OUT_OF_RESOURCES
        except Exception:
            log.exception("C-STORE from %s: spooling failed", caller)
            return OUT_OF_RESOURCES
        return 0x0000
