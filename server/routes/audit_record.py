"""The one place requests are audited: a pure ASGI middleware around authentication.

It classifies the request by path and method (``server.services.audit_actions``), lets it run,
then queues a record with the principal the authentication middleware put in ``scope["principal"]``
(none for a refused credential: the 401 is recorded too), the status and the studies touched. The
record is queued, never awaited: the response does not wait for the database.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth.principal import Principal
from server.services.audit import CURRENT, AuditEntry, AuditWriter, RequestNote
from server.services.audit_actions import classify, outcome_of


def writer_of(scope: Scope) -> AuditWriter | None:
    app = scope.get("app")
    found = getattr(getattr(app, "state", None), "audit", None)
    return found if isinstance(found, AuditWriter) else None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def request_path(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return scope["path"] + (f"?{query}" if query else "")


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        classified = classify(scope["method"], scope["path"], scope.get("query_string", b""))
        writer = writer_of(scope)
        if classified is None or writer is None:
            await self.app(scope, receive, send)
            return
        note = RequestNote()
        if classified.study_uid and classified.action == "delete":
            # Gone once the request ran: name the patient before.
            note.studies[classified.study_uid] = await writer.patient_of(classified.study_uid)
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        token = CURRENT.set(note)
        try:
            await self.app(scope, receive, send_status)
        except BaseException:
            status = status or 500
            raise
        finally:
            CURRENT.reset(token)
            principal = scope.get("principal")
            studies = dict(note.studies)
            if classified.study_uid and classified.study_uid not in studies:
                studies[classified.study_uid] = ""
            outcome = outcome_of(status)
            for study_uid, patient_id in (studies or {"": ""}).items():
                writer.record(AuditEntry(
                    action=classified.action, outcome=outcome, status=status,
                    client_address=client_address(scope), method=scope["method"],
                    path=request_path(scope), study_uid=study_uid, patient_id=patient_id,
                    detail=note.detail or str(scope.get("auth_refusal", "")),
                ).with_principal(principal if isinstance(principal, Principal) else None))
