"""The blob store Protocol.

Keys are relative, slash-separated strings. Objects are immutable once
written: ``put_file`` either stores the whole object or nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol, runtime_checkable


class BlobNotFound(KeyError):
    pass


@runtime_checkable
class BlobStore(Protocol):
    async def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key`` atomically."""

    async def get_range(self, key: str, offset: int, length: int) -> bytes:
        """Read ``length`` bytes starting at ``offset``."""

    async def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """Read several (offset, length) ranges of one object."""

    def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream the whole object."""

    async def get_bytes(self, key: str) -> bytes:
        """Read the whole object."""

    async def delete(self, key: str) -> None:
        """Remove an object; missing objects are not an error."""

    async def exists(self, key: str) -> bool: ...

    def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        """All keys under ``prefix``."""

    async def close(self) -> None: ...
