"""The database queue on SQLite and PostgreSQL: order, exclusivity, leases, attempts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from server.auth.visibility import system_principal
from server.context import open_context
from server.db.analysis import AnalysisJob
from server.db.database import create_engine, session_factory, utcnow
from server.settings import Settings
from server.workflow import jobs, queue, states
from server.workflow.states import JobState


async def add_jobs(engine, specs: list[dict]) -> list[int]:  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    ids = []
    async with sessions() as s:
        for i, spec in enumerate(specs):
            job = AnalysisJob(
                study_instance_uid=spec.get("study", f"1.2.3.{i}"),
                acquisition_key=spec.get("key", f"1.2.3.{i}.1"),
                state=spec.get("state", "queued"),
                priority=spec.get("priority", 0),
                exam_datetime=spec.get("exam", "20240101120000"),
                max_attempts=spec.get("max_attempts", 3),
            )
            s.add(job)
            await s.flush()
            ids.append(job.id)
        await s.commit()
    return ids


async def test_claim_order_priority_then_exam_time(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        ids = await add_jobs(
            engine,
            [
                {"exam": "20240301080000"},
                {"exam": "20240101080000"},
                {"exam": "20240501080000", "priority": 10},
                {"exam": "20230101080000", "state": "waiting"},
            ],
        )
        order = []
        while (lease := await queue.claim(engine, "w1", 30)) is not None:
            order.append(lease.job_id)
        assert order == [ids[2], ids[1], ids[0]]
    finally:
        await engine.dispose()


async def test_concurrent_claims_never_share_a_job(database_url: str) -> None:
    # Separate engines: separate connections, as separate worker processes would have.
    engines = [create_engine(database_url) for _ in range(4)]
    try:
        ids = await add_jobs(engines[0], [{} for _ in range(24)])

        async def drain(engine, name):  # type: ignore[no-untyped-def]
            got = []
            while (lease := await queue.claim(engine, name, 30)) is not None:
                got.append(lease.job_id)
                await asyncio.sleep(0)
            return got

        results = await asyncio.gather(*(drain(e, f"w{i}") for i, e in enumerate(engines)))
        claimed = [j for r in results for j in r]
        assert sorted(claimed) == sorted(ids)
        assert len(claimed) == len(set(claimed))
    finally:
        for e in engines:
            await e.dispose()


async def test_expired_lease_requeues_then_fails_after_max_attempts(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        [job_id] = await add_jobs(engine, [{"max_attempts": 2}])
        first = await queue.claim(engine, "dead-worker", 0.05)
        assert first is not None and first.attempt == 1
        # Not yet expired: nothing happens.
        assert await queue.reap_expired(engine, now=utcnow() - timedelta(seconds=5)) == []
        await asyncio.sleep(0.1)
        assert await queue.reap_expired(engine) == [(job_id, "queued")]
        # The dead worker's late writes are refused: it no longer holds the lease.
        assert not await queue.heartbeat(engine, first, 30)
        assert not await queue.finish(engine, first, "succeed")

        second = await queue.claim(engine, "w2", 0.05)
        assert second is not None and second.attempt == 2
        await asyncio.sleep(0.1)
        assert await queue.reap_expired(engine) == [(job_id, "failed")]
        async with session_factory(engine)() as s:
            job = (await s.exec(select(AnalysisJob).where(AnalysisJob.id == job_id))).one()
        assert job.state == "failed"
        assert "every attempt" in job.reason
        assert await queue.claim(engine, "w3", 30) is None
    finally:
        await engine.dispose()


async def test_heartbeat_extends_and_finish_records(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        [job_id] = await add_jobs(engine, [{}])
        lease = await queue.claim(engine, "w1", 0.2)
        assert lease is not None
        for _ in range(3):  # 0.3 s in all: past the claim's 0.2 s lease, so only the heartbeats keep it
            await asyncio.sleep(0.1)
            # Each heartbeat extends by 2 s, so a loaded machine does not reap it between the two calls.
            assert await queue.heartbeat(engine, lease, 2.0, progress=0.5, stage="fitting")
            assert await queue.reap_expired(engine) == []
        assert await queue.finish(engine, lease, "succeed", progress=1.0)
        async with session_factory(engine)() as s:
            job = (await s.exec(select(AnalysisJob).where(AnalysisJob.id == job_id))).one()
        assert (job.state, job.progress, job.lease_owner) == ("succeeded", 1.0, "")
    finally:
        await engine.dispose()


def test_state_machine_table() -> None:
    assert states.target_state("set_parameters", "waiting", []) == JobState.QUEUED
    assert states.target_state("set_parameters", "waiting", ["PostLabelingDelay"]) == JobState.WAITING
    assert states.target_state("cancel", "running", []) == JobState.CANCELLED
    with pytest.raises(states.TransitionError, match="cannot rerun a job that is running"):
        states.target_state("rerun", "running", [])
    with pytest.raises(states.TransitionError, match="cannot cancel a job that is succeeded"):
        states.check("cancel", "succeeded")
    assert states.actions_for("failed") == ["set_parameters", "rerun", "delete"]  # edited values re-run it
    assert "cancel" in states.actions_for("running") and "delete" not in states.actions_for("running")


async def test_cancel_while_running_takes_the_job_from_its_worker(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    async with open_context(settings) as ctx:
        [job_id] = await add_jobs(ctx.engine, [{}])
        admin = system_principal(ctx.institution_id)
        lease = await queue.claim(ctx.engine, "w1", 30)
        assert lease is not None
        cancelled = await jobs.cancel(ctx, admin, job_id)
        assert (cancelled.state, cancelled.lease_owner) == ("cancelled", "")
        assert not await queue.heartbeat(ctx.engine, lease, 30)  # the worker learns it lost the job
        assert not await queue.finish(ctx.engine, lease, "succeed")
        assert (await jobs.get_job(ctx, admin, job_id)).state == "cancelled"
        rerun = await jobs.rerun(ctx, admin, job_id)
        assert (rerun.state, rerun.priority, rerun.attempts) == ("queued", jobs.MANUAL_PRIORITY, 0)
