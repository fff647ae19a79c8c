"""The DICOM SCP of `cirrus dimse` (pynetdicom): C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET.

Association acceptance (PS3.8 §7.1.1.9, A-ASSOCIATE-RJ reasons): the calling AE title is
looked up in the AE table at every association, so several processes behind a TCP load
balancer agree and a change made with ``cirrus ae`` applies to the next association.

- not in the table (or not allowed to call): rejected-permanent, service user, "calling AE
  title not recognised" — unless ``dimse_accept_any`` (lab setups: the default institution);
- more open associations than the AE's ``max_associations``: rejected-transient, service
  provider (presentation), "local limit exceeded".

Every operation acts as the calling AE's principal (``AuthMethod.DIMSE``, its institution):
what it stores is owned by that institution, what it finds and retrieves is what that
institution may see.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pydicom.uid
from pynetdicom import AE, AllStoragePresentationContexts, _config, build_context, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from dicomweb.dimse_query import InformationModel
from dicomweb.errors import DicomWebError
from dicomweb.media import NATIVE_SYNTAXES
from server.context import AppContext
from server.db.audit import AuditOutcome
from server.dimse.ae_table import AEEntry, dimse_principal, find_ae
from server.dimse.bridge import LoopBridge
from server.dimse.query import RetrieveItem, find, instances_to_retrieve
from server.dimse.store import StoreBatcher, spool_received, store_status
from server.dimse.tls import client_context, is_tls_destination, server_context
from server.dimse.ups import SOP_CLASSES as UPS_SOP_CLASSES
from server.dimse.ups import UpsService
from server.services.audit import AuditWriter, association_rejected_entry, dimse_entry

log = logging.getLogger("cirrus.dimse")

# Preference of the SCP when a context offers several syntaxes (pynetdicom takes the first of
# ours the requestor offers): the compressed ones first, so an object is kept as the modality
# compressed it; then native syntaxes, explicit before implicit.
_NATIVE_ORDER = [
    pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.DeflatedExplicitVRLittleEndian,
    pydicom.uid.ExplicitVRBigEndian, pydicom.uid.ImplicitVRLittleEndian,
]
STORAGE_SYNTAXES = [
    *[str(ts) for ts in pydicom.uid.AllTransferSyntaxes if str(ts) not in NATIVE_SYNTAXES],
    *[str(ts) for ts in _NATIVE_ORDER],
]
FIND_MODELS = {
    PatientRootQueryRetrieveInformationModelFind: InformationModel.PATIENT_ROOT,
    StudyRootQueryRetrieveInformationModelFind: InformationModel.STUDY_ROOT,
}
MOVE_MODELS = {
    PatientRootQueryRetrieveInformationModelMove: InformationModel.PATIENT_ROOT,
    StudyRootQueryRetrieveInformationModelMove: InformationModel.STUDY_ROOT,
}
GET_MODELS = {
    PatientRootQueryRetrieveInformationModelGet: InformationModel.PATIENT_ROOT,
    StudyRootQueryRetrieveInformationModelGet: InformationModel.STUDY_ROOT,
}
QUERY_SYNTAXES = [str(ts) for ts in _NATIVE_ORDER]

# Statuses (PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4).
PENDING = 0xFF00
CANCEL = 0xFE00
IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC001
NOT_AUTHORISED = 0x0124
MOVE_DESTINATION_UNKNOWN = 0xA801

# A-ASSOCIATE-RJ (result, source, diagnostic), PS3.8 Table 9-21.
REJECT_UNKNOWN_CALLER = (0x01, 0x01, 0x03)
REJECT_LIMIT = (0x02, 0x03, 0x02)


class RetrieveRefused(Exception):
    pass


@dataclass(frozen=True)
class Caller:
    ae_title: str
    entry: AEEntry | None  # None: accepted by ``dimse_accept_any``

    def principal(self, default_institution: int):  # type: ignore[no-untyped-def]
        if self.entry is not None:
            return self.entry.principal()
        return dimse_principal(default_institution, self.ae_title)


def _reject(assoc: Association, reason: tuple[int, int, int]) -> None:
    """Send A-ASSOCIATE-RJ and wait until it is on the wire (as pynetdicom's own rejections do)."""
    assoc.acse.send_reject(*reason)
    evt.trigger(assoc, evt.EVT_REJECTED, {})
    assoc.kill()


def _drop_partial_dataset(assoc: Association) -> None:
    """Remove the file of a data set whose transfer was cut off (abort, lost connection):
    pynetdicom leaves it behind when the C-STORE never completes."""
    message = getattr(getattr(assoc, "dimse", None), "message", None)
    partial = getattr(message, "_data_set_file", None)
    if partial is None:
        return
    try:
        partial.close()
        Path(partial.name).unlink(missing_ok=True)
        log.warning("association from %s ended mid-transfer: the partial data set was discarded",
                    _title(assoc.requestor.ae_title))
    except OSError:
        log.exception("removing a partial data set failed")


def _title(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value or "").strip()


class DimseServer:
    """One listening SCP bound to an AppContext whose loop runs in another thread."""

    def __init__(self, ctx: AppContext, bridge: LoopBridge, batcher: StoreBatcher, *,
                 ae_title: str, host: str, port: int, audit: AuditWriter | None = None) -> None:
        self.ctx = ctx
        self.audit = audit
        self.bridge = bridge
        self.batcher = batcher
        self.ae_title = ae_title
        self.host = host
        self.port = port
        self.spool_dir = ctx.settings.tmp_dir / "dimse"
        self._callers: dict[Association, Caller] = {}
        # C-STOREs of each open association: (study, status) → instances, one audit record each
        # when the association ends (a study's images are one transfer, not a record per image).
        self._stored: dict[Association, Counter[tuple[str, int]]] = {}
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self.ae = self._build_ae()
        self.ups = UpsService(ctx, bridge, self._principal,
                              lambda event, op, status, detail: self._audit(event, op, status, detail=detail))

    # -- set-up -------------------------------------------------------------------------------

    def _build_ae(self) -> AE:
        settings = self.ctx.settings
        # Received data sets go to a file as they arrive, never whole into memory.
        _config.STORE_RECV_CHUNKED_DATASET = True
        ae = AE(ae_title=self.ae_title)
        ae.maximum_associations = settings.dimse_max_associations
        ae.acse_timeout = settings.dimse_timeout_seconds
        ae.dimse_timeout = settings.dimse_timeout_seconds
        ae.network_timeout = settings.dimse_timeout_seconds
        # What a peer may send in one PDU: pynetdicom reads a whole PDU into memory before it
        # goes to the file, so this bounds the memory of a receive (DCMTK's own maximum).
        ae.maximum_pdu_size = 131072
        ae.add_supported_context(Verification, QUERY_SYNTAXES)
        for cx in AllStoragePresentationContexts:
            # Both roles: a peer stores to us, and a C-GET peer takes the SCP role on them.
            ae.add_supported_context(cx.abstract_syntax, STORAGE_SYNTAXES, scu_role=True, scp_role=True)
        for uid in (*FIND_MODELS, *MOVE_MODELS, *GET_MODELS, *UPS_SOP_CLASSES):
            ae.add_supported_context(uid, QUERY_SYNTAXES)
        return ae

    def start(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        handlers = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_CONN_CLOSE, self._on_closed),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_FIND, self._on_find),
            (evt.EVT_C_MOVE, self._on_move),
            (evt.EVT_C_GET, self._on_get),
            *self.ups.handlers(),  # UPS over DIMSE (server/dimse/ups.py)
        ]
        self._server = self.ae.start_server((self.host, self.port), block=False, evt_handlers=handlers,
                                            ssl_context=server_context(self.ctx.settings))
        self.port = int(self._server.server_address[1])
        log.info("DIMSE SCP %s listening on %s:%d", self.ae_title, self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    # -- association --------------------------------------------------------------------------

    def _on_requested(self, event: evt.Event) -> None:
        assoc = event.assoc
        title = _title(assoc.requestor.primitive.calling_ae_title)
        try:
            entry = self.bridge.run(find_ae(self.ctx, title))
        except Exception:
            log.exception("AE table look-up failed for %r", title)
            self._audit_rejected(assoc, title, AuditOutcome.ERROR, "rejected: the AE table could not be read")
            _reject(assoc, (0x02, 0x01, 0x01))  # transient, no reason given
            return
        if entry is None or not entry.accepts_calls:
            if not self.ctx.settings.dimse_accept_any:
                log.warning("association from %r rejected: calling AE title not in the AE table", title)
                why = "not in the AE table" if entry is None else "not allowed to call"
                self._audit_rejected(assoc, title, AuditOutcome.DENIED, f"rejected: calling AE title {why}",
                                     entry)
                _reject(assoc, REJECT_UNKNOWN_CALLER)
                return
            entry = None
        limit = entry.max_associations if entry is not None else 0
        with self._lock:
            over = bool(limit) and self._open.get(title, 0) >= limit
            if not over:
                self._open[title] = self._open.get(title, 0) + 1
                self._callers[assoc] = Caller(title, entry)
        if over:  # outside the lock: rejecting closes the connection, whose handler takes it
            log.warning("association from %r rejected: %d open, limit %d", title, limit, limit)
            self._audit_rejected(assoc, title, AuditOutcome.REFUSED,
                                 f"rejected: {limit} association(s) open, the AE's limit", entry)
            _reject(assoc, REJECT_LIMIT)

    def _on_closed(self, event: evt.Event) -> None:
        _drop_partial_dataset(event.assoc)
        with self._lock:
            caller = self._callers.pop(event.assoc, None)
            if caller is not None:
                self._open[caller.ae_title] -= 1
            stored = self._stored.pop(event.assoc, None)
        for (study_uid, status), count in sorted((stored or {}).items()):
            self._audit(event, "C-STORE", status, study_uid, f"{count} instance(s)", caller)

    def _caller(self, event: evt.Event) -> Caller | None:
        with self._lock:
            return self._callers.get(event.assoc)

    def _principal(self, event: evt.Event):  # type: ignore[no-untyped-def]
        caller = self._caller(event)
        return None if caller is None else caller.principal(self.ctx.institution_id)

    # -- audit --------------------------------------------------------------------------------

    def _audit(self, event: evt.Event, operation: str, status: int, study_uid: str = "", detail: str = "",
               caller: Caller | None = None) -> None:
        """Queue the audit record of one operation on the loop (``AuditWriter.record`` is not
        thread-safe; it never waits)."""
        if self.audit is None:
            return
        assoc = event.assoc
        caller = caller or self._caller(event)
        entry = dimse_entry(
            operation, principal=None if caller is None else caller.principal(self.ctx.institution_id),
            calling_ae=_title(assoc.requestor.ae_title), called_ae=self.ae_title, status=status,
            study_uid=study_uid, client_address=str(assoc.requestor.address or ""), detail=detail)
        self.bridge.loop.call_soon_threadsafe(self.audit.record, entry)

    def _audit_rejected(self, assoc: Association, title: str, outcome: AuditOutcome, reason: str,
                        entry: AEEntry | None = None) -> None:
        """Queue the record of a refused association: actor the calling AE (its institution when
        the AE table knows it), the client address, why."""
        if self.audit is None:
            return
        record = association_rejected_entry(
            calling_ae=title, called_ae=self.ae_title, outcome=outcome, reason=reason,
            principal=None if entry is None else entry.principal(),
            client_address=str(assoc.requestor.address or ""))
        self.bridge.loop.call_soon_threadsafe(self.audit.record, record)

    def _tally_store(self, event: evt.Event, study_uid: str, status: int) -> None:
        with self._lock:
            self._stored.setdefault(event.assoc, Counter())[(study_uid, status)] += 1

    # -- services -----------------------------------------------------------------------------

    def _on_echo(self, event: evt.Event) -> int:
        self._audit(event, "C-ECHO", 0x0000)
        return 0x0000

    def _on_store(self, event: evt.Event) -> int:
        principal = self._principal(event)
        if principal is None:
            self._tally_store(event, "", NOT_AUTHORISED)
            return NOT_AUTHORISED
        sop = _title(event.request.AffectedSOPInstanceUID)
        try:
            item = spool_received(Path(event.dataset_path), self.spool_dir)
        except OSError:
            log.exception("spooling a received object failed (%s)", sop)
            self._tally_store(event, "", 0xA700)
            return 0xA700
        outcome = self.bridge.run(self.batcher.store(item, principal))
        status = store_status(outcome)
        self._tally_store(event, outcome.study_instance_uid, status)
        if status:
            log.warning("C-STORE of %s from %s refused (0x%04X): %s", sop, principal.username, status,
                        outcome.message)
        return status

    def _on_find(self, event: evt.Event) -> Iterator[tuple[int, Any]]:
        if event.request.AffectedSOPClassUID in UPS_SOP_CLASSES:
            yield from self.ups.on_find(event)
            return
        principal = self._principal(event)
        if principal is None:
            self._audit(event, "C-FIND", NOT_AUTHORISED)
            yield NOT_AUTHORISED, None
            return
        model = FIND_MODELS[event.request.AffectedSOPClassUID]
        try:
            identifier = event.identifier
            study_uid = _named_study(identifier)
            level = _title(identifier.get("QueryRetrieveLevel", ""))
            answers = self.bridge.run(find(self.ctx, identifier, model, principal, self.ae_title))
        except DicomWebError as exc:
            log.warning("C-FIND from %s refused: %s", principal.username, exc.message)
            self._audit(event, "C-FIND", IDENTIFIER_DOES_NOT_MATCH, detail=exc.message)
            yield IDENTIFIER_DOES_NOT_MATCH, None
            return
        except Exception:
            log.exception("C-FIND from %s failed", principal.username)
            self._audit(event, "C-FIND", UNABLE_TO_PROCESS)
            yield UNABLE_TO_PROCESS, None
            return
        sent = 0
        for answer in answers:
            if event.is_cancelled:
                self._audit(event, "C-FIND", CANCEL, study_uid, f"{level} level; cancelled after {sent} match(es)")
                yield CANCEL, None
                return
            sent += 1
            yield PENDING, answer
        self._audit(event, "C-FIND", 0, study_uid, f"{level} level; {sent} match(es)")

    def _retrieve_items(self, event: evt.Event, models: dict[str, InformationModel], operation: str,
                        detail: str = "") -> tuple[list[RetrieveItem] | None, int]:
        """The instances to send, audited: one record per study they belong to (or one refusal)."""
        principal = self._principal(event)
        if principal is None:
            self._audit(event, operation, NOT_AUTHORISED, detail=detail)
            return None, NOT_AUTHORISED
        try:
            items = self.bridge.run(instances_to_retrieve(
                self.ctx, event.identifier, models[event.request.AffectedSOPClassUID], principal))
        except DicomWebError as exc:
            log.warning("retrieve from %s refused: %s", principal.username, exc.message)
            self._audit(event, operation, IDENTIFIER_DOES_NOT_MATCH, detail=_join(detail, exc.message))
            return None, IDENTIFIER_DOES_NOT_MATCH
        except Exception:
            log.exception("retrieve look-up failed")
            self._audit(event, operation, UNABLE_TO_PROCESS, detail=detail)
            return None, UNABLE_TO_PROCESS
        per_study = Counter(item.study_instance_uid for item in items)
        for study_uid, count in per_study.items():
            self._audit(event, operation, 0, study_uid, _join(detail, f"{count} instance(s)"))
        if not items:
            self._audit(event, operation, 0, _named_study(event.identifier), _join(detail, "0 instances"))
        return items, 0

    def _load(self, item: RetrieveItem) -> pydicom.Dataset:
        data = self.bridge.run(self.ctx.store.get_bytes(item.blob_key))
        return pydicom.dcmread(io.BytesIO(data))

    def _send(self, event: evt.Event, items: list[RetrieveItem]) -> Iterator[tuple[int, Any]]:
        for item in items:
            if event.is_cancelled:
                yield CANCEL, None
                return
            try:
                ds = self._load(item)
            except Exception:
                log.exception("reading stored instance %s failed", item.sop_instance_uid)
                yield UNABLE_TO_PROCESS, None
                return
            yield PENDING, ds

    def _on_get(self, event: evt.Event) -> Iterator[Any]:
        items, status = self._retrieve_items(event, GET_MODELS, "C-GET")
        if items is None:
            yield status, None
            return
        yield len(items)
        yield from self._send(event, items)

    def _on_move(self, event: evt.Event) -> Iterator[Any]:
        destination = _title(event.move_destination)
        principal = self._principal(event)
        entry = self.bridge.run(find_ae(self.ctx, destination)) if principal is not None else None
        if entry is None or not entry.is_destination or (
            principal is not None and entry.institution_id != principal.institution_id
        ):
            log.warning("C-MOVE to %r refused: not a C-MOVE destination of the caller's institution", destination)
            self._audit(event, "C-MOVE", MOVE_DESTINATION_UNKNOWN, _named_study(event.identifier),
                        f"destination {destination} refused")
            yield None, None  # A801H Move destination unknown
            return
        items, status = self._retrieve_items(event, MOVE_MODELS, "C-MOVE", f"destination {destination}")
        if items is None:
            # After the address pynetdicom takes only a count: refusing here answers C513H
            # (failure, unable to process) without contacting the destination.
            yield entry.host, entry.port
            raise RetrieveRefused(f"C-MOVE identifier refused (0x{status:04X})")
        options: dict[str, Any] = {"contexts": _contexts_for(items)}
        if is_tls_destination(self.ctx.settings, destination):
            options["tls_args"] = (client_context(self.ctx.settings), entry.host)
        yield entry.host, entry.port, options
        yield len(items)
        yield from self._send(event, items)


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _named_study(identifier: Any) -> str:
    """The one Study Instance UID an identifier names ("" for none, a list or a wildcard)."""
    try:
        value = identifier.get("StudyInstanceUID", "")
    except Exception:
        return ""
    value = str(value or "").strip()
    return value if value and "\\" not in value and "*" not in value and "?" not in value else ""


def _contexts_for(items: list[RetrieveItem]) -> list[Any]:
    """Presentation contexts proposed to a C-MOVE destination: each SOP class in each stored
    syntax on its own (so the destination cannot pick another one for it), and for SOP classes
    stored natively one more with explicit and implicit little endian as a fallback; at most 128."""
    own: dict[tuple[str, str], None] = {}
    fallback: dict[str, None] = {}
    for item in items:
        own[(item.sop_class_uid, item.transfer_syntax_uid)] = None
        if item.transfer_syntax_uid in NATIVE_SYNTAXES:
            fallback[item.sop_class_uid] = None
    contexts = [build_context(sop_class, [ts]) for sop_class, ts in own]
    little = [str(pydicom.uid.ExplicitVRLittleEndian), str(pydicom.uid.ImplicitVRLittleEndian)]
    contexts += [build_context(sop_class, little) for sop_class in fallback]
    return contexts[:128]
