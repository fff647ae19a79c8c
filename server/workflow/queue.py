"""The job queue in the database: claim, heartbeat, lease expiry, finish.

A worker claims one queued job with a single atomic UPDATE. On PostgreSQL
the inner SELECT takes ``FOR UPDATE SKIP LOCKED`` so concurrent workers
skip each other's rows instead of waiting; on SQLite (one writer at a time)
the UPDATE takes the write lock before it reads, and the outer
``state = 'queued'`` guard makes a lost race update nothing. Either way two
workers never get the same job.

A running job carries a lease (owner + expiry) that the worker extends with
heartbeats. When a lease expires (the worker was killed), any worker's reaper
puts the job back in the queue, or fails it once its attempts are used up.
Every later write of a worker is conditional on still holding the lease, so
a worker that lost its job (cancelled, reaped) cannot overwrite it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.analysis import AnalysisJob
from server.db.database import utcnow
from server.workflow.states import JobState, transition

J = AnalysisJob


@dataclass(frozen=True)
class Lease:
    job_id: int
    owner: str
    attempt: int
    revision: int


def queue_order() -> list:
    # Manual/urgent first, then the oldest exam, then the oldest job.
    return [J.priority.desc(), J.exam_datetime.asc(), J.id.asc()]  # type: ignore[union-attr,attr-defined]


async def claim(engine: AsyncEngine, owner: str, lease_seconds: float) -> Lease | None:
    """Take the next queued job for ``owner``; ``None`` if the queue is empty."""
    now = utcnow()
    t = transition("claim")
    pick = select(J.id).where(J.state.in_(t.source_values)).order_by(*queue_order()).limit(1)  # type: ignore[attr-defined]
    if engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        update(J)
        .where(J.id == pick.scalar_subquery(), J.state.in_(t.source_values))  # type: ignore[arg-type,attr-defined]
        .values(
            state=t.target,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            heartbeat_at=now,
            attempts=J.attempts + 1,
            started_at=now,
            updated_at=now,
            progress=0.0,
            stage="claimed",
            reason="",
        )
        .returning(J.id, J.attempts, J.revision)
    )
    async with engine.begin() as conn:
        row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    return Lease(job_id=row[0], owner=owner, attempt=row[1], revision=row[2])


def _held(lease: Lease, action: str):  # type: ignore[no-untyped-def]
    """The job is still ours, and ``action`` is allowed from its state."""
    sources = transition(action).source_values
    return (J.id == lease.job_id, J.lease_owner == lease.owner, J.state.in_(sources))  # type: ignore[attr-defined]


async def heartbeat(
    engine: AsyncEngine, lease: Lease, lease_seconds: float, progress: float | None = None, stage: str = ""
) -> bool:
    """Extend the lease; ``False`` when the job was taken away (cancelled, reaped, changed)."""
    now = utcnow()
    values: dict = {"lease_expires_at": now + timedelta(seconds=lease_seconds), "heartbeat_at": now}
    if progress is not None:
        values["progress"] = progress
        values["updated_at"] = now
    if stage:
        values["stage"] = stage
    # A heartbeat changes no state; it holds while the job may still succeed.
    stmt = update(J).where(*_held(lease, "succeed"), J.revision == lease.revision).values(**values)
    async with engine.begin() as conn:
        result = await conn.execute(stmt)
    return bool(result.rowcount)


async def finish(engine: AsyncEngine, lease: Lease, action: str, **values: object) -> bool:
    """Record the outcome (``action`` "succeed" or "fail") if ``lease`` still holds the job."""
    now = utcnow()
    t = transition(action)
    assert t.target in (JobState.SUCCEEDED, JobState.FAILED), action
    stmt = (
        update(J)
        .where(*_held(lease, action))
        .values(
            state=t.target,
            lease_owner="",
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
            **values,
        )
    )
    async with engine.begin() as conn:
        result = await conn.execute(stmt)
    return bool(result.rowcount)


async def release(engine: AsyncEngine, lease: Lease, reason: str) -> bool:
    """Put a claimed job back in the queue (the worker is shutting down cleanly)."""
    stmt = (
        update(J)
        .where(*_held(lease, "release"))
        .values(
            state=transition("release").target,
            lease_owner="",
            lease_expires_at=None,
            attempts=J.attempts - 1,
            stage="",
            reason=reason,
            updated_at=utcnow(),
        )
    )
    async with engine.begin() as conn:
        result = await conn.execute(stmt)
    return bool(result.rowcount)


async def reap_expired(engine: AsyncEngine, now: datetime | None = None) -> list[tuple[int, str]]:
    """Re-queue (or fail, when out of attempts) running jobs whose lease expired."""
    now = now or utcnow()
    t = transition("reap")
    assert t.targets == {JobState.QUEUED, JobState.FAILED}
    out_of_attempts = J.attempts >= J.max_attempts
    stmt = (
        update(J)
        .where(J.state.in_(t.source_values), J.lease_expires_at < now)  # type: ignore[attr-defined,operator]
        .values(
            state=case((out_of_attempts, JobState.FAILED.value), else_=JobState.QUEUED.value),
            reason=case(
                (
                    out_of_attempts,
                    "the analysis stopped unexpectedly on every attempt (worker lost); "
                    "check the input series and re-run",
                ),
                else_="worker stopped responding; queued again",
            ),
            finished_at=case((out_of_attempts, now), else_=None),
            lease_owner="",
            lease_expires_at=None,
            stage="",
            updated_at=now,
        )
        .returning(J.id, J.state)
    )
    async with engine.begin() as conn:
        rows = (await conn.execute(stmt)).all()
    return [(r[0], r[1]) for r in rows]


async def back_to_waiting(engine: AsyncEngine, lease: Lease, missing: list[str], reason: str) -> bool:
    """The run found ``missing`` parameters or inputs: the job waits for them (if still ours)."""
    stmt = (
        update(J)
        .where(*_held(lease, "back_to_waiting"))
        .values(
            state=transition("back_to_waiting").target,
            missing=missing,
            reason=reason,
            lease_owner="",
            lease_expires_at=None,
            stage="",
            updated_at=utcnow(),
        )
    )
    async with engine.begin() as conn:
        result = await conn.execute(stmt)
    return bool(result.rowcount)
