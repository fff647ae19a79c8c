"""The blob store Protocol.

Keys are relative, slash-separated strings. Objects are immutable once
written: ``put_file`` either stores the whole object or nothing.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

# A response body put together from literal bytes and (offset, length) ranges of one object.
Piece = bytes | tuple[int, int]


class BlobNotFound(KeyError):
    pass


@runtime_checkable
class BlobStore(Protocol):
    async def put_file(self, key: str, path: Path, durable: bool = True) -> None:
        """Store the file at ``path`` under ``key`` atomically; with ``durable`` False the object may
        only be durable after ``sync([key, ...])``."""

    async def put_bytes(self, key: str, data: bytes, durable: bool = True) -> None:
        """Store ``data`` under ``key`` atomically (``durable`` as for ``put_file``)."""

    async def sync(self, keys: Sequence[str]) -> None:
        """Make these objects, put with ``durable=False``, durable."""

    async def get_range(self, key: str, offset: int, length: int) -> bytes:
        """Read ``length`` bytes starting at ``offset``."""

    async def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """Read several (offset, length) ranges of one object."""

    async def assemble(self, key: str, pieces: Sequence[Piece]) -> bytes | memoryview:
        """Literal byte strings and ranges of the object, concatenated into one buffer."""

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


async def assemble_from_ranges(store: BlobStore, key: str, pieces: Sequence[Piece]) -> bytes:
    """``assemble`` for stores without a cheaper path: one ``get_ranges`` call, then a join."""
    ranges = [p for p in pieces if isinstance(p, tuple)]
    got = await store.get_ranges(key, ranges) if ranges else []
    for (offset, length), data in zip(ranges, got, strict=True):
        if len(data) != length:
            raise OSError(errno.EIO, f"blob {key} ends before byte {offset + length}: the index says more")
    data = iter(got)
    return b"".join(p if isinstance(p, bytes) else next(data) for p in pieces)
