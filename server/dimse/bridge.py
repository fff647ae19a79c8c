"""From pynetdicom's association threads into the process's asyncio loop.

pynetdicom runs each association (and its event handlers) in a thread of its own; the
services are asyncio code bound to one event loop (engine pools, the SQLite write lock).
A handler hands its coroutine to that loop and waits for the result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopBridge:
    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop from a foreign thread; its result or its exception."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(self.timeout if timeout is None else timeout)
