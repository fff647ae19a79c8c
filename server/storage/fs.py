"""Filesystem blob store: one file per object under a root folder."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from server.storage.base import BlobNotFound


class FileBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    def path_of(self, key: str) -> Path:
        """Local path of an object (filesystem store only; used for zero-copy sends)."""
        return self._path(key)

    async def put_file(self, key: str, path: Path) -> None:
        await asyncio.to_thread(self._put_file_sync, key, path)

    def _put_file_sync(self, key: str, path: Path) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # A unique temp name: two puts of the same key at once must not share (or hard-link) one.
        tmp = dest.with_name(f"{dest.name}.{uuid.uuid4().hex}.part")
        try:
            os.link(path, tmp)
        except OSError:
            import shutil

            shutil.copyfile(path, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)

    async def get_range(self, key: str, offset: int, length: int) -> bytes:
        return (await self.get_ranges(key, [(offset, length)]))[0]

    def read_ranges_sync(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """Blocking ranged read, for callers already in a worker thread."""
        try:
            fd = os.open(self._path(key), os.O_RDONLY)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        try:
            return [os.pread(fd, length, offset) for offset, length in ranges]
        finally:
            os.close(fd)

    async def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        if sum(length for _, length in ranges) <= 256 * 1024:
            return self.read_ranges_sync(key, ranges)  # small page-cache reads: cheaper than a thread hop
        return await asyncio.to_thread(self.read_ranges_sync, key, ranges)

    async def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed in finally
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        try:
            while True:
                chunk = await asyncio.to_thread(f.read, chunk_size)
                if not chunk:
                    break
                yield chunk
        finally:
            f.close()

    async def get_bytes(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    async def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        base = self.root
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.endswith(".part"):
                    continue
                key = os.path.relpath(os.path.join(dirpath, name), base).replace(os.sep, "/")
                if key.startswith(prefix):
                    yield key

    async def close(self) -> None:
        return None
