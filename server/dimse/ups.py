"""UPS over DIMSE (PS3.4 Annex CC) in `cirrus dimse`: N-CREATE, N-SET, N-GET, N-ACTION and C-FIND
on the UPS Push, Pull, Watch and Query SOP Classes.

One authority: every operation is the UPS-RS service's own (``server.workflow.workitems``),
called with the calling AE's principal, so a workitem created over DIMSE is the same row that
``/dicom-web/workitems`` shows, with the same state table, Transaction UID lock, events and
tenant rule. Datasets cross as DICOM JSON (pydicom's ``to_json_dict`` / ``from_json``);
``dicomweb.ups.dimse`` translates identifiers, action types and statuses.

Not served: N-EVENT-REPORT to subscribed AEs (subscriptions made over DIMSE are recorded and
their events are delivered on the UPS-RS WebSocket channel of the Receiving AE).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from pydicom.dataset import Dataset
from pynetdicom import evt

from dicomweb.errors import BadRequest, DicomWebError, NotFound
from dicomweb.ups import dimse as tr
from dicomweb.ups.dimse import Action, DimseStatus
from server.app_errors import AppError
from server.auth.principal import Principal
from server.context import AppContext
from server.dimse.bridge import LoopBridge
from server.workflow import workitems

log = logging.getLogger("cirrus.dimse")

SOP_CLASSES = (tr.UPS_PUSH, tr.UPS_PULL, tr.UPS_WATCH, tr.UPS_QUERY)
PENDING = 0xFF00
CANCEL = 0xFE00


def _json(ds: Dataset | None) -> dict[str, Any]:
    return {} if ds is None else ds.to_json_dict()


def _dataset(data: dict[str, Any]) -> Dataset:
    ds = Dataset.from_json(data)
    if "00080005" not in data:
        ds.SpecificCharacterSet = "ISO_IR 192"  # the service's strings are Unicode
    return ds


def _status(code: int, comment: str = "") -> Dataset:
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = comment[:64]
    return status


def _failure(exc: Exception, not_found: int = DimseStatus.NO_SUCH_UPS) -> Dataset:
    """The DIMSE status of a refusal by the service: the UPS code its message starts with, else by kind."""
    message = exc.message if isinstance(exc, (DicomWebError, AppError)) else "processing failure"
    if isinstance(exc, NotFound):
        default = not_found
    elif isinstance(exc, BadRequest):
        default = DimseStatus.MISSING_ATTRIBUTE if "missing" in message.lower() else \
            DimseStatus.INVALID_ATTRIBUTE_VALUE
    else:
        default = DimseStatus.PROCESSING_FAILURE
    return _status(tr.status_of(message, default), message)


class UpsService:
    """The UPS handlers of one SCP; ``principal_of`` gives the calling AE's principal (None: refused)."""

    def __init__(self, ctx: AppContext, bridge: LoopBridge, principal_of: Callable[[evt.Event], Principal | None],
                 audit: Callable[[evt.Event, str, int, str], None]) -> None:
        self.ctx = ctx
        self.bridge = bridge
        self.principal_of = principal_of
        self.audit = audit

    def handlers(self) -> list[tuple[Any, Callable[..., Any]]]:
        return [(evt.EVT_N_CREATE, self.on_create), (evt.EVT_N_SET, self.on_set), (evt.EVT_N_GET, self.on_get),
                (evt.EVT_N_ACTION, self.on_action)]

    def _call(self, event: evt.Event, operation: str, detail: str, run: Callable[[Principal], Any],
              not_found: int = DimseStatus.NO_SUCH_UPS, uid: str = "") -> tuple[Dataset | int, Any]:
        uid = uid or detail
        principal = self.principal_of(event)
        if principal is None:
            self.audit(event, operation, 0x0124, detail)
            return _status(0x0124, "calling AE not authorised"), None
        try:
            status, reply = self.bridge.run(run(principal))
        except (DicomWebError, AppError) as exc:
            refusal = _failure(exc, not_found)
            log.info("%s of %s from %s refused: %s", operation, uid, principal.username, refusal.ErrorComment)
            self.audit(event, operation, int(refusal.Status), detail)
            return refusal, None
        except Exception:
            log.exception("%s of %s failed", operation, uid)
            self.audit(event, operation, DimseStatus.PROCESSING_FAILURE, detail)
            return _status(DimseStatus.PROCESSING_FAILURE), None
        self.audit(event, operation, int(status.Status) if isinstance(status, Dataset) else status, detail)
        return status, reply

    # -- N-CREATE (UPS Push, CC.2.5) --------------------------------------------------------------

    def on_create(self, event: evt.Event) -> tuple[Dataset | int, Any]:
        uid = str(event.request.AffectedSOPInstanceUID or "")
        body = orjson.dumps(_json(event.attribute_list))

        async def run(p: Principal) -> tuple[Any, Any]:
            created, added = await workitems.create(self.ctx, p, body, uid or None)
            reply = _dataset(await workitems.retrieve(self.ctx, p, created))
            if not uid:  # the SCP chose the UID: pynetdicom moves it into the response (PS3.7 10.1.5.1.4)
                reply.AffectedSOPInstanceUID = created
            # B300: created with modifications (Type 2 attributes added empty).
            return (_status(0xB300, "added empty: " + ", ".join(added)) if added else 0), reply

        return self._call(event, "N-CREATE", uid, run)

    # -- N-SET (UPS Pull, CC.2.6): the Transaction UID is in the modification list ----------------

    def on_set(self, event: evt.Event) -> tuple[Dataset | int, Any]:
        uid = str(event.request.RequestedSOPInstanceUID or "")
        changes = _json(event.modification_list)
        body = orjson.dumps(changes)

        async def run(p: Principal) -> tuple[Any, Any]:
            await workitems.update_workitem(self.ctx, p, uid, body, None)
            changed = {k: v for k, v in changes.items() if k != "00081195"}
            return 0, _dataset(changed)

        return self._call(event, "N-SET", uid, run)

    # -- N-GET (CC.2.7): the Transaction UID is never returned --------------------------------------

    def on_get(self, event: evt.Event) -> tuple[Dataset | int, Any]:
        uid = str(event.request.RequestedSOPInstanceUID or "")
        listed = event.request.AttributeIdentifierList
        tags = [int(t) for t in (listed if isinstance(listed, list) else [listed] if listed else [])]

        async def run(p: Principal) -> tuple[Any, Any]:
            ds = await workitems.retrieve(self.ctx, p, uid)
            return 0, _dataset(tr.select_attributes(ds, tags))

        return self._call(event, "N-GET", uid, run)

    # -- N-ACTION: change state (Pull), request cancel (Push/Watch), (un)subscribe, suspend (Watch) --

    def on_action(self, event: evt.Event) -> tuple[Dataset | int, Any]:
        uid = str(event.request.RequestedSOPInstanceUID or "")
        action = tr.action_of(int(event.action_type or 0))
        info = _json(event.action_information)
        if action is None:
            return _status(DimseStatus.NO_SUCH_ACTION, f"action type {event.action_type} is not a UPS action"), None
        body = orjson.dumps(info)

        async def run(p: Principal) -> tuple[Any, Any]:
            if action is Action.CHANGE_STATE:
                text = await workitems.change_state(self.ctx, p, uid, body)
            elif action is Action.REQUEST_CANCEL:
                text = await workitems.request_cancel(self.ctx, p, uid, body)
            else:
                ae, params = tr.subscription_params(info)
                if action is Action.SUBSCRIBE:
                    await workitems.subscribe(self.ctx, p, uid, ae, params)
                elif action is Action.UNSUBSCRIBE:
                    await workitems.unsubscribe(self.ctx, p, uid, ae)
                else:
                    await workitems.suspend(self.ctx, p, uid, ae)
                text = "0000"
            code = tr.status_of(text, 0)
            return (_status(code, text) if code else 0), None

        return self._call(event, "N-ACTION", f"{action.name.replace('_', ' ').lower()} {uid}", run, uid=uid)

    # -- C-FIND (UPS Pull / Watch / Query, CC.2.8) -------------------------------------------------

    def on_find(self, event: evt.Event) -> Iterator[tuple[int | Dataset, Any]]:
        principal = self.principal_of(event)
        if principal is None:
            self.audit(event, "C-FIND", 0x0124, "UPS")
            yield 0x0124, None
            return
        identifier = _json(event.identifier)
        params = tr.find_params(identifier)
        found: list[dict[str, Any]] = []
        try:
            while True:
                page = self.bridge.run(workitems.search(self.ctx, principal, [*params, ("offset", str(len(found)))]))
                found += page
                if len(page) < int(dict(params)["limit"]):
                    break
        except (DicomWebError, AppError) as exc:
            refusal = _failure(exc, DimseStatus.IDENTIFIER_DOES_NOT_MATCH)
            if isinstance(exc, BadRequest):
                refusal.Status = DimseStatus.IDENTIFIER_DOES_NOT_MATCH
            self.audit(event, "C-FIND", int(refusal.Status), f"UPS: {refusal.ErrorComment}")
            yield refusal, None
            return
        except Exception:
            log.exception("UPS C-FIND failed")
            yield DimseStatus.PROCESSING_FAILURE, None
            return
        for sent, ds in enumerate(found):
            if event.is_cancelled:
                self.audit(event, "C-FIND", CANCEL, f"UPS; cancelled after {sent} match(es)")
                yield CANCEL, None
                return
            yield PENDING, _dataset(tr.find_response(ds, identifier))
        self.audit(event, "C-FIND", 0, f"UPS; {len(found)} match(es)")
