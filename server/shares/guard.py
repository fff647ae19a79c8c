"""What a share principal may request, decided on the path before any route runs.

A share opens one study (or one series) read-only. This is the route-level half of that rule;
the services' SQL (the tenant rule, ``Principal.share_study_uid``) is the other half. Anything
outside the shared study answers 404, like another tenant's study; a method other than GET/HEAD
is refused as read-only; the retrieve routes that hand out DICOM objects or raw pixel data are
refused unless the link allows downloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

DICOMWEB = "/dicom-web"
# Path tails under an instance (or study, series) that only render or describe, never hand out data.
VIEW_TAILS = {"metadata", "rendered", "thumbnail"}


class Decision(Enum):
    ALLOW = "allow"
    NOT_FOUND = "not_found"
    READ_ONLY = "read_only"
    NO_DOWNLOAD = "no_download"


def decide(study_uid: str, series_uid: str | None, public_id: str, allow_download: bool,
           method: str, path: str, query: Mapping[str, str]) -> Decision:
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "shares"] and len(parts) >= 3:
        # The share's own page API; the exchange is public and takes no principal.
        if parts[2] != public_id:
            return Decision.NOT_FOUND
        if parts[3:] == ["exchange"]:
            return Decision.ALLOW
        if method not in ("GET", "HEAD"):
            return Decision.READ_ONLY
        return Decision.ALLOW if len(parts) >= 4 and parts[3] in ("view", "documents") else Decision.NOT_FOUND
    if method not in ("GET", "HEAD"):
        return Decision.READ_ONLY if parts[:1] in (["dicom-web"], ["api"], ["wado"]) else Decision.NOT_FOUND
    if parts[:1] == ["wado"]:
        return _wado_uri(study_uid, series_uid, allow_download, query)
    if parts[:2] != ["dicom-web", "studies"] or len(parts) < 3 or parts[2] != study_uid:
        return Decision.NOT_FOUND
    rest = parts[3:]
    if series_uid is not None:
        # A series share: only that series' resources.
        if rest[:2] != ["series", series_uid]:
            return Decision.NOT_FOUND
    return _tail(rest, allow_download)


def _tail(rest: list[str], allow_download: bool) -> Decision:
    """``rest``: the path after ``/dicom-web/studies/{study}``."""
    download = Decision.ALLOW if allow_download else Decision.NO_DOWNLOAD
    if not rest:
        return download  # the whole study's instances
    if rest in (["series"], ["instances"]):
        return Decision.ALLOW  # QIDO within the study
    if rest[0] in VIEW_TAILS and len(rest) == 1:
        return Decision.ALLOW
    if rest[0] != "series" or len(rest) < 2:
        return Decision.NOT_FOUND
    rest = rest[2:]  # after /series/{series}
    if not rest:
        return download
    if rest == ["instances"]:
        return Decision.ALLOW
    if rest[0] in VIEW_TAILS and len(rest) == 1:
        return Decision.ALLOW
    if rest[0] != "instances" or len(rest) < 2:
        return Decision.NOT_FOUND
    rest = rest[2:]  # after /instances/{instance}
    if not rest:
        return download
    if rest[0] in VIEW_TAILS and len(rest) == 1:
        return Decision.ALLOW
    if rest[0] == "frames" and len(rest) == 2:
        return download  # raw pixel data
    if rest[0] == "frames" and len(rest) == 3 and rest[2] in ("rendered", "thumbnail"):
        return Decision.ALLOW
    if rest[0] == "bulk":
        return download
    return Decision.NOT_FOUND


def _wado_uri(study_uid: str, series_uid: str | None, allow_download: bool, query: Mapping[str, str]) -> Decision:
    if query.get("studyUID") != study_uid or (series_uid is not None and query.get("seriesUID") != series_uid):
        return Decision.NOT_FOUND
    types = [t.split(";")[0].strip().lower() for t in (query.get("contentType") or "").split(",") if t.strip()]
    # Without a contentType a non-image answers application/dicom: treat it as a download.
    if not types or "application/dicom" in types:
        return Decision.ALLOW if allow_download else Decision.NO_DOWNLOAD
    return Decision.ALLOW
