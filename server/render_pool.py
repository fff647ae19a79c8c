"""CPU-heavy pixel work (decode, window, resize, encode) in a bounded pool of worker processes.

The event loop only hands work over and takes results back: a 1024×1024 render of a 2,000-frame
instance runs in the pool while QIDO, metadata and frame requests keep being answered. A process
pool, not threads: the work is Python glue around numpy / Pillow / codecs, and a thread doing it
takes the GIL from the loop in slices long enough to be felt.

- Batched: one hand-over carries up to ``BATCH`` frames of one instance, so a multi-frame render
  pays the hand-over once per batch, not once per frame.
- Workers read native frames from the file store themselves (only paths and byte ranges cross the
  process boundary); other stores send the frame bytes.
- Bounded: at most ``processes`` hand-overs run, at most ``2 × processes`` wait; each worker's
  address space is capped (``RLIMIT_AS``) so a hostile request fails alone instead of taking the
  machine's memory. A worker that dies is replaced; the request that killed it fails alone.
- Workers fork from multiprocessing's fork server (started once per Python process with this
  module preloaded), never from the server process itself (which holds threads and sockets).
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import os
import pickle
import resource
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

import imagecodecs
import numpy as np
import pydicom

from dicomweb.errors import Unprocessable
from dicomweb.pixels.decode import decode_frame
from dicomweb.pixels.description import PixelDescription
from dicomweb.pixels.render import RenderAttributes, render_frame
from dicomweb.pixels.render_params import RenderParams

T = TypeVar("T")
log = logging.getLogger(__name__)

BATCH = 16  # frames per hand-over

# One frame to render: its fragments as bytes, or (offset, length) ranges in ``path``.
FrameSource = tuple[Sequence[bytes] | None, Sequence[tuple[int, int]] | None, RenderAttributes]


def _init_worker(memory_bytes: int) -> None:
    # One thread per worker for numpy's BLAS: the pool is the parallelism.
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _ready() -> int:
    """A task for a fresh worker: proves it started, loads the JPEG encoder (imagecodecs loads its
    codecs on first use) and keeps the worker busy a moment, so the next one goes to another worker."""
    imagecodecs.jpeg8_encode(np.zeros((8, 8), dtype=np.uint8), level=90)
    time.sleep(0.05)
    return os.getpid()


# Headers this worker has parsed, by file identity: a user dragging the window over a series renders
# each instance many times, and pydicom's parse costs more than the render of a 512² frame.
HEADER_CACHE_ENTRIES = 512
_Parsed = tuple[PixelDescription, pydicom.Dataset, dict[int, RenderAttributes]]
_headers: OrderedDict[tuple[str, int, int, int, int], _Parsed] = OrderedDict()


def _parsed_header(fd: int, path: str, header_length: int) -> _Parsed:
    st = os.fstat(fd)
    key = (path, header_length, st.st_ino, st.st_size, st.st_mtime_ns)
    hit = _headers.get(key)
    if hit is not None:
        _headers.move_to_end(key)
        return hit
    prefix = os.pread(fd, header_length, 0)
    try:
        header = pydicom.dcmread(io.BytesIO(prefix), stop_before_pixels=True, force=True)
    except Exception as exc:
        raise Unprocessable(f"header cannot be read: {exc}") from None
    if "Rows" not in header:
        raise Unprocessable("the instance has no pixel data")
    entry = (PixelDescription.from_dataset(header), header, {})
    _headers[key] = entry
    if len(_headers) > HEADER_CACHE_ENTRIES:
        _headers.popitem(last=False)
    return entry


def render_unparsed(path: str, header_length: int, ranges: Sequence[tuple[int, int]], frame: int,
                    params: RenderParams) -> bytes:
    """One native frame of an instance whose header the server process has not parsed: the worker
    reads and parses the header itself (kept for the next render of the same file, see
    ``HEADER_CACHE_ENTRIES``), so the server process spends no time in pydicom for it. ``frame``
    counts from 1."""
    fd = os.open(path, os.O_RDONLY)
    try:
        desc, header, by_frame = _parsed_header(fd, path, header_length)
        fragments = [os.pread(fd, length, offset) for offset, length in ranges]
    finally:
        os.close(fd)
    attrs = by_frame.get(frame)
    if attrs is None:
        attrs = by_frame.setdefault(frame, RenderAttributes.from_dataset(header, frame - 1))
    try:
        arr, photometric = decode_frame(fragments, desc)
        return render_frame(arr, replace(desc, photometric_interpretation=photometric, planar_configuration=0),
                            attrs, params)
    except MemoryError:
        raise Unprocessable("the rendered image does not fit in the renderer's memory") from None


def render_batch(path: str | None, desc: PixelDescription, frames: Sequence[FrameSource],
                 params: RenderParams) -> list[bytes]:
    """Decode and render frames of one instance (runs in a pool worker)."""
    out = []
    fd = os.open(path, os.O_RDONLY) if path is not None else -1
    try:
        for fragments, ranges, attrs in frames:
            if fragments is None:
                assert ranges is not None
                fragments = [os.pread(fd, length, offset) for offset, length in ranges]
            try:
                arr, photometric = decode_frame(list(fragments), desc)
                body = render_frame(arr, replace(desc, photometric_interpretation=photometric, planar_configuration=0),
                                    attrs, params)
            except MemoryError:
                raise Unprocessable("the rendered image does not fit in the renderer's memory") from None
            out.append(body)
    finally:
        if fd >= 0:
            os.close(fd)
    return out


class WorkerDied(Exception):
    """A render worker ended (memory cap, signal) while it held a task."""


_LENGTH = struct.Struct("!Q")


def _send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_LENGTH.pack(len(payload)))
    sock.sendall(payload)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return bytes(buf)


def _serve(sock: socket.socket, memory_bytes: int) -> None:
    """A render worker's life: tasks in, results out, over one socket, until the server closes it."""
    _init_worker(memory_bytes)
    while True:
        head = _recv_exactly(sock, _LENGTH.size)
        if head is None:
            return
        body = _recv_exactly(sock, _LENGTH.unpack(head)[0])
        if body is None:
            return
        try:
            fn, args = pickle.loads(body)
            answer: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:  # handed back to the request that asked
            answer = (False, exc)
        try:
            out = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an exception that does not pickle
            out = pickle.dumps((False, Unprocessable(f"rendering failed: {exc}")))
        _send_frame(sock, out)


class _Worker:
    """One worker process and the server's end of its socket (non-blocking, driven by the loop)."""

    def __init__(self, process: multiprocessing.process.BaseProcess, sock: socket.socket) -> None:
        self.process = process
        self.sock = sock

    async def call(self, payload: bytes) -> Any:
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(self.sock, _LENGTH.pack(len(payload)) + payload)
        head = await self._read(_LENGTH.size)
        ok, value = pickle.loads(await self._read(_LENGTH.unpack(head)[0]))
        if not ok:
            raise value
        return value

    async def _read(self, n: int) -> bytearray:
        loop = asyncio.get_running_loop()
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = await loop.sock_recv_into(self.sock, view[got:])
            if k == 0:
                raise WorkerDied()
            got += k
        return buf

    def close(self) -> None:
        self.sock.close()  # the worker sees the end of its socket and exits
        if self.process.is_alive():
            self.process.terminate()


class RenderPool:
    """Worker processes fed straight from the event loop, with a bounded queue in front of them.

    Not ``concurrent.futures.ProcessPoolExecutor``: its feeder and manager threads contend for the
    GIL with the event loop on every task, and on Python 3.11 a submit can block the loop writing the
    manager's wake-up pipe. Here a task is one socket write and its result one read, both awaited
    by the loop; an idle worker is taken from a queue, so tasks spread over the workers.
    """

    def __init__(self, processes: int, memory_bytes: int) -> None:
        self.processes = max(1, processes)
        self.memory_bytes = memory_bytes
        self._slots = asyncio.Semaphore(2 * self.processes)
        self._workers: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] | None = None
        self._starting: asyncio.Lock | None = None
        self.batches = 0  # hand-overs done (a figure for tests and tuning)

    @property
    def started(self) -> bool:
        return bool(self._workers)

    def live_workers(self) -> list[int]:
        """Process ids of the workers that are running (for tests and status pages)."""
        return [w.process.pid for w in self._workers if w.process.is_alive() and w.process.pid is not None]

    def _spawn(self) -> _Worker:
        """Start one worker (blocking: run in a thread). Workers fork from multiprocessing's fork
        server, started once per process with this module preloaded."""
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        ours, theirs = socket.socketpair()
        try:
            process = ctx.Process(target=_serve, args=(theirs, self.memory_bytes), daemon=True,
                                  name="cirrus-render")
            process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        return _Worker(process, ours)

    async def _ensure_started(self) -> asyncio.Queue[_Worker]:
        if self._idle is not None:
            return self._idle
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._idle is None:
                workers = [await asyncio.to_thread(self._spawn) for _ in range(self.processes)]
                idle: asyncio.Queue[_Worker] = asyncio.Queue()
                for w in workers:
                    idle.put_nowait(w)
                self._workers = workers
                self._idle = idle
        return self._idle

    async def _replace(self, dead: _Worker) -> None:
        dead.close()
        try:
            fresh = await asyncio.to_thread(self._spawn)
        except OSError:
            log.exception("a render worker could not be restarted")
            return
        self._workers = [fresh if w is dead else w for w in self._workers]
        assert self._idle is not None
        self._idle.put_nowait(fresh)

    async def run(self, fn: Any, *args: Any) -> Any:
        result = await self._call(fn, *args)
        self.batches += 1
        return result

    async def _call(self, fn: Any, *args: Any) -> Any:
        async with self._slots:
            idle = await self._ensure_started()
            worker = await idle.get()
            payload = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
            task = asyncio.ensure_future(worker.call(payload))
            task.add_done_callback(lambda t: self._finished(worker, t))
            try:
                # Shielded: a request that goes away leaves the worker to finish its task, so the
                # next task never reads this one's result.
                return await asyncio.shield(task)
            except (WorkerDied, OSError):
                raise Unprocessable("rendering failed: the renderer ran out of resources") from None

    def _finished(self, worker: _Worker, task: asyncio.Future[Any]) -> None:
        """The worker is free again, or replaced when it died."""
        exc = None if task.cancelled() else task.exception()
        if isinstance(exc, (WorkerDied, OSError)) or task.cancelled():
            log.warning("a render worker (pid %s) ended; starting another", worker.process.pid)
            asyncio.get_running_loop().create_task(self._replace(worker))
        elif self._idle is not None:
            self._idle.put_nowait(worker)

    async def warm(self) -> int:
        """Start every worker process now (forkserver, imports, fork), so the first images a
        viewer asks for do not wait for them; returns how many distinct workers answered."""
        try:
            await self._ensure_started()
            pids = await asyncio.gather(*(self._call(_ready) for _ in range(self.processes)))
        except (OSError, Unprocessable) as exc:  # the first request will try again
            log.warning("render workers did not start ahead of requests: %s", exc)
            return 0
        return len(set(pids))

    async def render(self, path: str | None, desc: PixelDescription, frames: Sequence[FrameSource],
                     params: RenderParams) -> list[bytes]:
        return await self.run(render_batch, path, desc, list(frames), params)  # type: ignore[no-any-return]

    def close(self) -> None:
        for w in self._workers:
            w.close()
        self._workers = []
        self._idle = None


__all__ = ["BATCH", "RenderPool", "WorkerDied", "render_batch", "render_unparsed"]
