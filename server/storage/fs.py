"""Filesystem blob store: one file per object under a root folder."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np

from server.storage.base import BlobNotFound, Piece

SYNC_CONCURRENCY = 16


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Reads at most this large are tried on the event loop when the page cache holds them.
INLINE_READ_MAX = 8 * 1024 * 1024


class FileBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        # Linux answers RWF_NOWAIT reads from the page cache or refuses them; elsewhere: never inline.
        self._nowait = getattr(os, "RWF_NOWAIT", 0)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    async def put_file(self, key: str, path: Path, durable: bool = True) -> None:
        await asyncio.to_thread(self._put_sync, key, path, None, durable)

    async def put_bytes(self, key: str, data: bytes, durable: bool = True) -> None:
        await asyncio.to_thread(self._put_sync, key, None, data, durable)

    async def sync(self, keys: Sequence[str]) -> None:
        """Make the objects put with ``durable=False`` durable: their data, then their folders'
        entries. Many fsyncs in flight at once share the filesystem's journal commits."""
        sem = asyncio.Semaphore(SYNC_CONCURRENCY)

        async def fsync(path: Path) -> None:
            async with sem:
                await asyncio.to_thread(_fsync_path, path)

        paths = [self._path(k) for k in keys]
        await asyncio.gather(*(fsync(p) for p in paths))
        await asyncio.gather(*(fsync(d) for d in {p.parent for p in paths}))

    def _put_sync(self, key: str, path: Path | None, data: bytes | None, durable: bool) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # A unique temp name: two puts of the same key at once must not share (or hard-link) one.
        tmp = dest.with_name(f"{dest.name}.{uuid.uuid4().hex}.part")
        try:
            if data is not None:
                with open(tmp, "wb") as f:
                    f.write(data)
                    if durable:
                        f.flush()
                        os.fsync(f.fileno())
            else:
                assert path is not None
                try:
                    os.link(path, tmp)
                except OSError:
                    shutil.copyfile(path, tmp)
                if durable:
                    _fsync_path(tmp)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if durable:
            _fsync_path(dest.parent)  # the rename too

    async def get_range(self, key: str, offset: int, length: int) -> bytes:
        return (await self.get_ranges(key, [(offset, length)]))[0]

    def local_path(self, key: str) -> str:
        """The blob's file, for worker processes that read byte ranges themselves."""
        return str(self._path(key))

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

    async def assemble(self, key: str, pieces: Sequence[Piece]) -> bytes | memoryview:
        """One buffer, read straight into place (no join). Served on the event loop when the page
        cache holds every byte (the hot path: no thread hop), else in a worker thread."""
        total = sum(len(p) if isinstance(p, bytes) else p[1] for p in pieces)
        if self._nowait and total <= INLINE_READ_MAX:
            try:
                buf = self._assemble_sync(key, pieces, total, self._nowait)
            except BlockingIOError:
                buf = None  # some of it is on disk only: read it off the loop
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                self._nowait = 0  # this filesystem cannot say "cached only"
                buf = None
            if buf is not None:
                return buf
        return await asyncio.to_thread(self._assemble_sync, key, pieces, total, 0)

    def _assemble_sync(self, key: str, pieces: Sequence[Piece], total: int, flags: int) -> memoryview:
        try:
            fd = os.open(self._path(key), os.O_RDONLY)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        try:
            # Uninitialised (every byte is written below): zero-filling would cost half the read.
            view = memoryview(np.empty(total, np.uint8))
            pos = 0
            for piece in pieces:
                if isinstance(piece, bytes):
                    view[pos : pos + len(piece)] = piece
                    pos += len(piece)
                    continue
                offset, end = piece[0], pos + piece[1]
                while pos < end:
                    n = os.preadv(fd, [view[pos:end]], offset, flags)
                    if n == 0:
                        short = offset + end - pos
                        raise OSError(errno.EIO, f"blob {key} ends before byte {short}: the index says more")
                    pos += n
                    offset += n
            return view
        finally:
            os.close(fd)

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
