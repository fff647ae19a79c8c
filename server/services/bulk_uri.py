"""BulkDataURIs (PS3.18 §8.6.1.1): the one place that writes and resolves them.

At ingest, the DICOM JSON of an instance is stored with BulkDataURIs relative to a
placeholder base, because the public URL of the server is only known per request (it
depends on the proxy in front). When metadata or QIDO answers are served, the
placeholder is replaced by the request's DICOMweb base URL.
"""

from __future__ import annotations

from collections.abc import Callable

PLACEHOLDER = "cirrus-base:"
_QUOTED = b'"' + PLACEHOLDER.encode()


def uri_factory(study: str, series: str, sop: str) -> Callable[[str], str]:
    """BulkDataURI maker for one instance: ``attribute path -> stored URI``."""
    base = f"{PLACEHOLDER}studies/{study}/series/{series}/instances/{sop}/bulk/"
    return lambda path: base + path


def resolve(document: bytes, dicomweb_base: str) -> bytes:
    """Stored DICOM JSON (one document or a joined array) with absolute BulkDataURIs.

    ``dicomweb_base`` is the public DICOMweb root, e.g. ``https://pacs.example/dicom-web/``.
    Only string values that start with the placeholder are touched (a quote precedes them).
    """
    base = dicomweb_base if dicomweb_base.endswith("/") else dicomweb_base + "/"
    return document.replace(_QUOTED, b'"' + base.encode())
