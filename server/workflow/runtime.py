"""Wiring into the process: ingest listener, detector loop and in-process workers.

Importing this module registers its start-up and shutdown hooks (the API
routes import it). ``cirrus worker`` calls ``start_background`` itself.
"""

from __future__ import annotations

import asyncio
import logging

from server.context import AppContext
from server.services import lifecycle
from server.workflow import detector
from server.workflow.worker import DEFAULT_LEASE_SECONDS, worker_loop, worker_name

log = logging.getLogger("cirrus.analysis")

TASKS_KEY = "analysis_tasks"
STOP_KEY = "analysis_stop"


def install_listener(ctx: AppContext) -> None:
    listeners = ctx.extras.setdefault("ingest_listeners", [])
    if detector.record_change not in listeners:
        listeners.append(detector.record_change)


async def start_background(
    ctx: AppContext,
    workers: int,
    *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    poll_seconds: float = 1.0,
    run_detector: bool = True,
) -> list[asyncio.Task]:
    install_listener(ctx)
    stop = ctx.extras.setdefault(STOP_KEY, asyncio.Event())
    ctx.extras.setdefault("job_wakeup", asyncio.Event())
    ctx.extras.setdefault("job_events_wakeup", asyncio.Event())
    tasks: list[asyncio.Task] = ctx.extras.setdefault(TASKS_KEY, [])
    if run_detector:
        tasks.append(asyncio.create_task(detector.detector_loop(ctx, stop), name="analysis-detector"))
    for i in range(workers):
        tasks.append(
            asyncio.create_task(
                worker_loop(
                    ctx, stop, worker_name(i), lease_seconds=lease_seconds, poll_seconds=poll_seconds
                ),
                name=f"analysis-worker-{i}",
            )
        )
    return tasks


async def stop_background(ctx: AppContext) -> None:
    stop = ctx.extras.get(STOP_KEY)
    if stop is not None:
        stop.set()
    tasks: list[asyncio.Task] = ctx.extras.get(TASKS_KEY, [])
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    tasks.clear()


async def on_startup(ctx: AppContext) -> None:
    # The detector always runs in API processes (they see the ingest);
    # workers only when the embedded default asks for them.
    await start_background(ctx, max(0, ctx.settings.workers))


async def on_shutdown(ctx: AppContext) -> None:
    await stop_background(ctx)


if on_startup not in lifecycle.STARTUP_HOOKS:
    lifecycle.STARTUP_HOOKS.append(on_startup)
    lifecycle.SHUTDOWN_HOOKS.append(on_shutdown)
