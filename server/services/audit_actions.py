"""Which requests are audited, as what action, about which study: route and method → ``Classified``.

Pure: the path, method and query string in, no I/O. Paths that are not audited (the app's static
files, the OpenAPI document, the event stream, CORS preflights, sign-in and share-code exchange,
which their routes record themselves with the user name or the link) give ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from server.db.audit import AuditAction, AuditOutcome

STUDY_IN_PATH = re.compile(r"/studies/([0-9][0-9.]{0,63})(?:/|$)")
# /studies, /series, /instances, /studies/{s}/series, /studies/{s}[/series/{se}]/instances
QIDO = re.compile(r"(/studies/[^/]+(/series/[^/]+)?)?/(studies|series|instances)")
NOT_AUDITED = {"/api/openapi.json", "/api/events", "/api/reading/events", "/api/auth/login", "/api/auth/me", "/healthz"}
ADMIN_PREFIXES = ("/api/users", "/api/tokens", "/api/institutions", "/api/audit", "/api/presets")
READ = {"GET", "HEAD"}


@dataclass(frozen=True, slots=True)
class Classified:
    action: AuditAction
    study_uid: str = ""


def outcome_of(status: int) -> AuditOutcome:
    if 0 < status < 400:
        return AuditOutcome.SUCCESS
    if status in (401, 403):
        return AuditOutcome.DENIED
    if status == 404:
        return AuditOutcome.NOT_FOUND
    if 400 <= status < 500:
        return AuditOutcome.REFUSED
    return AuditOutcome.ERROR


def _study(path: str) -> str:
    found = STUDY_IN_PATH.search(path)
    return found.group(1) if found else ""


def _dicomweb(method: str, rest: str) -> Classified | None:
    study = _study(rest)
    if rest in ("", "/"):
        return None  # capabilities
    if method == "DELETE":
        return Classified(AuditAction.DELETE, study)
    if method == "POST" and (rest == "/studies" or re.fullmatch(r"/studies/[^/]+", rest)):
        return Classified(AuditAction.UPLOAD, study)
    if method not in READ:
        return Classified(AuditAction.CHANGE, study)
    if rest == "/workitems":
        return Classified(AuditAction.QUERY)  # a worklist search
    if rest.startswith(("/workitems/", "/subscribers/")):
        return Classified(AuditAction.VIEW)  # a workitem (patient data), the event channel
    if QIDO.fullmatch(rest):
        return Classified(AuditAction.QUERY, study)
    last = rest.rstrip("/").rsplit("/", 1)[-1]
    if "/bulk/" in rest:
        return Classified(AuditAction.DOWNLOAD, study)
    if last in ("metadata", "rendered", "thumbnail") or "/frames/" in rest:
        return Classified(AuditAction.VIEW, study)
    return Classified(AuditAction.DOWNLOAD, study)  # Retrieve of DICOM objects


def _api(method: str, path: str) -> Classified | None:
    study = _study(path)
    if path in NOT_AUDITED:
        return None
    if path == "/api/auth/logout" or path == "/api/auth/logout-all":
        return Classified(AuditAction.LOGOUT)
    if re.fullmatch(r"/api/shares/[^/]+/exchange", path):
        return None  # its route records it, with the link, the study and the reason of a refusal
    if path.startswith("/api/shares") or re.search(r"/studies/[^/]+/shares", path):
        return Classified(AuditAction.VIEW if method in READ else AuditAction.SHARE, study)
    if path.startswith("/api/audit/export"):
        return Classified(AuditAction.DOWNLOAD)
    if path.startswith(ADMIN_PREFIXES):
        return Classified(AuditAction.QUERY if method in READ else AuditAction.ADMIN)
    if path.startswith("/api/pull/"):
        # The queue and "why not" list studies (query); sources and rules are configuration (admin);
        # "pull this study now" changes what the archive will hold.
        if method in READ:
            return Classified(AuditAction.QUERY)
        return Classified(AuditAction.CHANGE if path == "/api/pull/requests" else AuditAction.ADMIN)
    if path.startswith("/api/reading/templates"):
        # Report templates are the alliance's configuration (no patient data).
        return Classified(AuditAction.QUERY if method in READ else AuditAction.ADMIN)
    if method == "POST" and path.startswith("/api/reading/requests/") and path.endswith("/report.pdf"):
        return Classified(AuditAction.DOWNLOAD)  # the printed report with the patient's share link
    if path.startswith("/api/uploads"):
        return Classified(AuditAction.UPLOAD)
    if method == "DELETE" and path.startswith("/api/jobs/"):
        return Classified(AuditAction.DELETE)
    if method in READ:
        if path.endswith((".pdf", ".csv")) or "/attachments/" in path:
            return Classified(AuditAction.DOWNLOAD, study)
        if path in ("/api/jobs", "/api/reading/requests", "/api/reading/counts"):
            return Classified(AuditAction.QUERY)
        return Classified(AuditAction.VIEW, study)
    return Classified(AuditAction.CHANGE, study)


def classify(method: str, path: str, query_string: bytes = b"") -> Classified | None:
    """The audit action of one HTTP request, or None when it is not audited."""
    method = method.upper()
    if method == "OPTIONS":
        return None
    if path == "/dicom-web" or path.startswith("/dicom-web/"):
        return _dicomweb(method, path[len("/dicom-web"):])
    if path == "/wado":
        query = parse_qs(query_string.decode("latin-1"))
        study = (query.get("studyUID") or [""])[0][:64]
        dicom = (query.get("contentType") or [""])[0].startswith("application/dicom")
        return Classified(AuditAction.DOWNLOAD if dicom else AuditAction.VIEW, study)
    if path == "/api" or path.startswith("/api/"):
        return _api(method, path)
    return None
