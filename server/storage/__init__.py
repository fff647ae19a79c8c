"""Blob stores behind one Protocol: filesystem (default) and S3-compatible."""

from __future__ import annotations

from server.settings import Settings
from server.storage.base import BlobNotFound, BlobStore

__all__ = ["BlobStore", "BlobNotFound", "open_store"]


def open_store(settings: Settings) -> BlobStore:
    url = settings.resolved_storage_url
    if url.startswith("s3://"):
        from server.storage.s3 import S3BlobStore

        return S3BlobStore.from_settings(url, settings)
    from server.storage.fs import FileBlobStore

    return FileBlobStore(url.removeprefix("file://"))
