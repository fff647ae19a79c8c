"""Blob stores behind one Protocol: filesystem (default) and S3-compatible."""

from __future__ import annotations

from server.settings import Settings
from server.storage.base import BlobNotFound, BlobStore
from server.storage.fs import FileBlobStore

__all__ = ["BlobStore", "BlobNotFound", "open_store"]


def open_store(settings: Settings) -> BlobStore:
    url = settings.resolved_storage_url
    if url.startswith("s3://"):
        # Imported only for S3 deployments: aiobotocore costs about 0.5 s at every process start.
        from server.storage.s3 import S3BlobStore

        return S3BlobStore.from_settings(url, settings)
    return FileBlobStore(url.removeprefix("file://"))
