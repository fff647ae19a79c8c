"""The pull worker: poll every source, judge what it sees, pull stable studies, verify the counts.

One loop per process (``cirrus pull``, or ``cirrus serve``'s lifespan with ``pull_embedded``):

- poll: every ``pull_poll_seconds`` a study-level C-FIND of each enabled source over the widest
  query window of the rules; a study new or changed is judged (series C-FIND when the source
  answers it), logged (``PullEvent``), and becomes stable when its NumberOfStudyRelatedInstances
  is the same in two polls (DX/CR on sight);
- pull: the first row of the queue (manual first, rule priority, oldest exam) is claimed with a
  lease in the database, retrieved synchronously (C-MOVE to our receiver, or C-GET) from its
  source or a mirror that answers, then — once quiet — the stored count is compared with the
  expected one: short means retrieve again (bounded) and then ``incomplete`` with the numbers.

Everything is in the database: a worker killed mid-pull leaves a ``pulling`` row whose lease runs
out (PostgreSQL: at once, its advisory lock is gone) and the next worker takes it; before it
retrieves anything it counts what is already stored, so a study stored in full is not pulled twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlmodel import col, select

from server.auth.visibility import system_principal
from server.context import AppContext
from server.db.archive import Instance, InstanceState, Series, Study
from server.db.database import aware, utcnow
from server.db.lease import holder_alive
from server.db.pull import PullEvent, PullRule, PullSource, PullStudy
from server.dimse.ae_table import dimse_principal
from server.pull import scu
from server.pull.hint_service import orders_for
from server.pull.hints import apply_order
from server.pull.matching import CompiledRule, compile_rule, decide, exam_time, is_stable, judge, query_dates
from server.pull.receiver import PullReceiver, ReceiveJob
from server.pull.states import ACTIVE, QUEUED, PullState

log = logging.getLogger("cirrus.pull")

NETWORK_ERRORS = (scu.SourceUnavailable, scu.RetrieveFailed, OSError, RuntimeError, ValueError)


async def log_event(ctx: AppContext, study_uid: str, kind: str, detail: str, *, source_id: int | None = None,
                    rule_id: int | None = None) -> None:
    async with ctx.write_session() as session:
        session.add(PullEvent(study_instance_uid=study_uid, kind=kind, detail=detail[:4000], source_id=source_id,
                              rule_id=rule_id))
        await session.commit()


async def enabled_rules(ctx: AppContext) -> list[CompiledRule]:
    async with ctx.sessions() as session:
        rows = (await session.exec(select(PullRule).where(col(PullRule.enabled).is_(True)))).all()
    return [compile_rule(id=r.id or 0, name=r.name, institution_id=r.institution_id, priority=r.priority,
                         days_back=r.days_back, study_filter=r.study_filter, series_filter=r.series_filter,
                         receive_filter=r.receive_filter, repull_new_series=r.repull_new_series) for r in rows]


def endpoint_of(source: PullSource, local_ae: str, timeout: float) -> scu.Endpoint:
    return scu.Endpoint(source.ae_title, source.host, source.port, local_ae, timeout)


async def stored_count(ctx: AppContext, study_uid: str, series_uids: list[str]) -> int:
    """Instances of the study (of those series, when listed) stored in full here."""
    query = (select(func.count()).select_from(Instance).join(Study, col(Study.id) == Instance.study_id)
             .where(Study.study_instance_uid == study_uid, Instance.state == InstanceState.CREATED))
    if series_uids:
        query = query.join(Series, col(Series.id) == Instance.series_id).where(
            col(Series.series_instance_uid).in_(series_uids))
    async with ctx.sessions() as session:
        return int((await session.exec(query)).one())


async def stored_by_series(ctx: AppContext, study_uid: str) -> dict[str, int]:
    """SeriesInstanceUID → instances stored in full here, of one study."""
    query = (select(Series.series_instance_uid, func.count()).select_from(Instance)
             .join(Study, col(Study.id) == Instance.study_id).join(Series, col(Series.id) == Instance.series_id)
             .where(Study.study_instance_uid == study_uid, Instance.state == InstanceState.CREATED)
             .group_by(Series.series_instance_uid))
    async with ctx.sessions() as session:
        return {str(uid): int(n) for uid, n in (await session.exec(query)).all()}


def _series_counts(series: list[dict[str, Any]]) -> dict[str, int]:
    return {str(s.get("SeriesInstanceUID")): int(s.get("NumberOfSeriesRelatedInstances") or 0) for s in series}


class PullWorker:
    def __init__(self, ctx: AppContext, receiver: PullReceiver) -> None:
        self.ctx = ctx
        self.receiver = receiver
        self.settings = ctx.settings
        self.key = ctx.lease.key or (secrets.randbelow(2**62) + 1)
        self.stop_event = asyncio.Event()
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_poll = 0.0
        # Studies already seen in this round of polls: a mirror showing one again is not a second poll.
        self._seen_this_round: set[str] = set()

    # -- life -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pull-worker")

    async def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stop_event.is_set():
            try:
                if loop.time() >= self._next_poll:
                    self._next_poll = loop.time() + self.settings.pull_poll_seconds
                    await self.poll_all()
                while not self.stop_event.is_set() and await self.pull_next():
                    pass
            except Exception:
                log.exception("pull worker step failed")
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=min(1.0, self.settings.pull_poll_seconds))

    # -- polling --------------------------------------------------------------------------------

    async def poll_all(self) -> None:
        self._seen_this_round.clear()
        rules = await enabled_rules(self.ctx)
        async with self.ctx.sessions() as session:
            sources = (await session.exec(select(PullSource).where(col(PullSource.enabled).is_(True))
                                          .order_by(col(PullSource.id)))).all()
        for source in sources:
            await self.poll_source(source, rules)

    async def poll_source(self, source: PullSource, rules: list[CompiledRule]) -> None:
        endpoint = endpoint_of(source, self.settings.pull_ae_title, self.settings.dimse_timeout_seconds)
        now = utcnow()
        days = max((r.days_back for r in rules), default=0)
        dates = query_dates(now, source.utc_offset_minutes, days)
        error = ""
        try:
            answers = await asyncio.to_thread(scu.find_studies, endpoint, dates)
        except NETWORK_ERRORS as exc:
            answers, error = [], f"C-FIND failed: {exc}"
            log.warning("source %s: %s", source.name, error)
        async with self.ctx.write_session() as session:
            await session.exec(update(PullSource).where(col(PullSource.id) == source.id)  # type: ignore[call-overload]
                               .values(last_polled_at=now, last_error=error))
            await session.commit()
        for answer in answers:
            if answer.get("StudyInstanceUID"):
                try:
                    await self.saw(source, endpoint, answer, rules, now)
                except NETWORK_ERRORS as exc:
                    log.warning("source %s: judging %s failed: %s", source.name, answer["StudyInstanceUID"], exc)

    async def saw(self, source: PullSource, endpoint: scu.Endpoint, answer: dict[str, Any],
                  rules: list[CompiledRule], now: datetime) -> None:
        uid = answer["StudyInstanceUID"]
        count = int(answer.get("NumberOfStudyRelatedInstances") or 0)
        if uid in self._seen_this_round:
            return  # a mirror of a source polled already in this round
        self._seen_this_round.add(uid)
        modalities = answer.get("ModalitiesInStudy") or []
        modalities = [modalities] if isinstance(modalities, str) else list(modalities)
        async with self.ctx.sessions() as session:
            row = (await session.exec(select(PullStudy).where(PullStudy.study_instance_uid == uid))).first()
        new = row is None
        if row is None:
            row = PullStudy(study_instance_uid=uid, source_id=source.id)
        previous = row.remote_count
        changed = new or previous != count
        if changed:
            await log_event(self.ctx, uid, "seen", f"{source.name}: {count} instance(s), modalities "
                            f"{'/'.join(modalities) or '-'}, description {answer.get('StudyDescription')!r}",
                            source_id=source.id)
        row.accession_number = str(answer.get("AccessionNumber") or "")[:64]
        row.patient_id = str(answer.get("PatientID") or "")[:64]
        row.study_description = str(answer.get("StudyDescription") or "")[:255]
        row.modalities = "\\".join(modalities)[:64]
        row.exam_at = exam_time(str(answer.get("StudyDate") or ""), str(answer.get("StudyTime") or ""),
                                source.utc_offset_minutes)
        state = PullState(row.state)
        if changed and state in (PullState.COMPLETE, PullState.INCOMPLETE) and source.find_series:
            rule = await self._rule(row.rule_id)
            if rule is not None and rule.repull_new_series and await self._new_series(row, source, endpoint, rule,
                                                                                         answer, count):
                return None
        if state in ACTIVE or (state not in QUEUED and not changed):
            if changed and state in (PullState.COMPLETE, PullState.INCOMPLETE):
                await log_event(self.ctx, uid, "seen", f"{source.name} now has {count} instance(s) (had "
                                f"{previous}); the study was already {state.value}", source_id=source.id)
            return await self._save(row, remote_count=count if state not in ACTIVE else row.remote_count)
        if state == PullState.REQUESTED:
            row.expected_count = row.expected_count or count
            return await self._save(row, remote_count=count)
        if changed:
            series = None
            if source.find_series and any(r.series.rules or r.repull_new_series for r in rules):
                series = await asyncio.to_thread(scu.find_series, endpoint, uid)
            row.seen_attributes = {"study": answer, "series": series}
            in_window, outside = [], []
            for rule in rules:
                dates = query_dates(now, source.utc_offset_minutes, rule.days_back)
                (in_window if str(answer.get("StudyDate") or "") in {f"{d:%Y%m%d}" for d in dates}
                 else outside).append(rule)
            for rule in outside:
                await log_event(self.ctx, uid, "rejected", f"rule {rule.name!r}: StudyDate "
                                f"{answer.get('StudyDate')} is outside its query window", rule_id=rule.id,
                                source_id=source.id)
            orders = await orders_for(self.ctx, row.accession_number, row.patient_id)
            for institution, order in orders.items():
                await log_event(self.ctx, uid, "hint", f"{order.describe()}: used by the rules of institution "
                                f"{institution}", source_id=source.id)
            decision = decide(in_window, answer, series, orders)
            for verdict in decision.verdicts:
                if not verdict.taken:
                    await log_event(self.ctx, uid, "rejected", f"rule {verdict.rule.name!r}: {verdict.reason}",
                                    rule_id=verdict.rule.id, source_id=source.id)
            taken = decision.taken_by
            if taken is None:
                row.state = PullState.REJECTED
                row.rule_id = row.institution_id = None
                if not rules:
                    await log_event(self.ctx, uid, "rejected", "no pull rule is enabled", source_id=source.id)
                return await self._save(row, remote_count=count)
            rule = taken.rule
            row.rule_id, row.institution_id, row.priority = rule.id, rule.institution_id, rule.priority
            order = orders.get(rule.institution_id)
            if order is not None and order.urgent and not row.urgent:
                row.urgent = True  # the RIS says urgent: queued with the manual requests
            row.series_uids = taken.series_uids if series is not None and taken.rule.series.rules else []
            local = await stored_by_series(self.ctx, uid) if series is not None else {}
            if local:  # some of it is here already (an earlier pull, or pushed): only what is not
                wanted = row.series_uids or [str(s.get("SeriesInstanceUID")) for s in series or []]
                counts = _series_counts(series or [])
                row.series_uids = [s for s in wanted if local.get(s, 0) < counts.get(s, 0)]
                if not row.series_uids:
                    await log_event(self.ctx, uid, "complete", f"rule {rule.name!r} takes it; every series it "
                                    "selects is stored here already", rule_id=rule.id, source_id=source.id)
                    row.state = PullState.COMPLETE
                    return await self._save(row, remote_count=count)
            chosen = {s["SeriesInstanceUID"] for s in series or [] if s.get("SeriesInstanceUID") in row.series_uids}
            row.expected_count = (sum(int(s.get("NumberOfSeriesRelatedInstances") or 0) for s in series or []
                                      if s.get("SeriesInstanceUID") in chosen) if row.series_uids else count)
            picked = f"{len(row.series_uids)} of {len(series or [])} series" if row.series_uids else "whole study"
            await log_event(self.ctx, uid, "selected", f"rule {taken.rule.name!r} takes it ({picked}, "
                            f"{row.expected_count} instance(s) expected)", rule_id=taken.rule.id, source_id=source.id)
            row.state = PullState.QUERIED
        if is_stable(modalities, None if new else previous, count):
            if row.state == PullState.QUERIED:
                row.state = PullState.STABLE
                await log_event(self.ctx, uid, "stable", f"{count} instance(s) on {source.name}"
                                + ("" if previous == count else " (pulled on sight)"), source_id=source.id)
        elif row.state == PullState.STABLE:
            row.state = PullState.QUERIED  # still growing: wait for two equal polls again
        await self._save(row, remote_count=count)

    async def _new_series(self, row: PullStudy, source: PullSource, endpoint: scu.Endpoint, rule: CompiledRule,
                          answer: dict[str, Any], count: int) -> bool:
        """A study taken before shows more on the PACS: queue a pull of the series the rule takes
        that are not here (never those refused at receipt); True when there are some."""
        uid = row.study_instance_uid
        series = await asyncio.to_thread(scu.find_series, endpoint, uid)
        order = (await orders_for(self.ctx, row.accession_number, row.patient_id)).get(rule.institution_id)
        verdict = judge(rule, *apply_order(order, answer, series)) if order else judge(rule, answer, series)
        if not verdict.taken:
            return False
        taken = verdict.series_uids if rule.series.rules else [str(s.get("SeriesInstanceUID")) for s in series]
        local = await stored_by_series(self.ctx, uid)
        refused = set((row.seen_attributes or {}).get("refused", []))
        counts = _series_counts(series)
        new = [s for s in taken if s not in refused and local.get(s, 0) < counts.get(s, 0)]
        if not new:
            return False
        previous = row.remote_count
        row.series_uids, row.expected_count = new, sum(counts[s] for s in new)
        row.state, row.attempts, row.received_count, row.skipped_count = PullState.QUERIED, 0, 0, 0
        row.seen_attributes = {"study": answer, "series": series, "refused": sorted(refused)}
        await log_event(self.ctx, uid, "selected", f"{source.name} now has {count} instance(s) (had {previous}): "
                        f"rule {rule.name!r} re-pulls {len(new)} new series ({row.expected_count} instance(s)); "
                        f"the {len(local)} series stored here are not sent again", rule_id=rule.id,
                        source_id=source.id)
        await self._save(row, remote_count=count)
        return True

    async def _save(self, row: PullStudy, *, remote_count: int | None) -> None:
        row.remote_count = remote_count
        row.updated_at = utcnow()
        async with self.ctx.write_session() as session:
            if row.id is None:
                exists = (await session.exec(select(PullStudy.id).where(
                    PullStudy.study_instance_uid == row.study_instance_uid))).first()
                if exists is not None:
                    row.id = exists
            merged = await session.merge(row)
            await session.commit()
            row.id = merged.id

    # -- pulling --------------------------------------------------------------------------------

    async def _claim(self) -> PullStudy | None:
        now = utcnow()
        async with self.ctx.sessions() as session:
            rows = (await session.exec(
                select(PullStudy).where(or_(col(PullStudy.state).in_([PullState.STABLE, PullState.REQUESTED]),
                                            col(PullStudy.state) == PullState.PULLING,
                                            col(PullStudy.state) == PullState.RECEIVED))
                .order_by(col(PullStudy.urgent).desc(), col(PullStudy.priority).desc(),
                          col(PullStudy.exam_at).is_(None), col(PullStudy.exam_at), col(PullStudy.id))
            )).all()
            candidates = []
            for row in rows:
                if row.state in (PullState.PULLING, PullState.RECEIVED):
                    mine = row.lease_key == self.key
                    expired = row.lease_until is None or aware(row.lease_until) < now
                    dead = row.lease_key is not None and not await holder_alive(await session.connection(),
                                                                                 row.lease_key)
                    if mine or not (expired or dead):
                        continue
                candidates.append(row)
        for row in candidates:
            async with self.ctx.write_session() as session:
                result = await session.exec(update(PullStudy).where(  # type: ignore[call-overload]
                    col(PullStudy.id) == row.id, PullStudy.state == row.state, PullStudy.lease_key == row.lease_key
                    if row.lease_key is not None else col(PullStudy.lease_key).is_(None))
                    .values(state=PullState.PULLING, lease_key=self.key, lease_until=self._lease_end(),
                            updated_at=now))
                await session.commit()
            if result.rowcount == 1:
                if row.state in (PullState.PULLING, PullState.RECEIVED):
                    removed = await self._recover_intents(row.study_instance_uid)
                    await log_event(self.ctx, row.study_instance_uid, "resumed",
                                    "the worker that held this pull stopped; taken over"
                                    + (f" ({removed} half-stored object(s) of it removed)" if removed else ""))
                return row
        return None

    async def _recover_intents(self, study_uid: str) -> int:
        """Remove the ``creating`` rows the stopped worker left in this study (SQLite: such intents
        carry no process lease). Its receiver was the only writer of a study it was pulling."""
        if self.ctx.engine.dialect.name == "postgresql":
            return 0  # intents carry the writer's lease: the ingest recovers them itself
        async with self.ctx.write() as conn:
            rows = (await conn.execute(
                select(Instance.id, Instance.blob_key).join(Study, col(Study.id) == Instance.study_id)  # type: ignore[call-overload]
                .where(Study.study_instance_uid == study_uid, Instance.state == InstanceState.CREATING))).all()
            if rows:
                await conn.execute(delete(Instance).where(col(Instance.id).in_([r.id for r in rows])))
        for r in rows:
            await self.ctx.store.delete(r.blob_key)
        return len(rows)

    def _lease_end(self) -> datetime:
        return utcnow() + timedelta(seconds=self.settings.pull_lease_seconds)

    @contextlib.asynccontextmanager
    async def _heartbeat(self, row_id: int) -> AsyncIterator[None]:
        async def beat() -> None:
            while True:
                await asyncio.sleep(self.settings.pull_lease_seconds / 3)
                async with self.ctx.write_session() as session:
                    await session.exec(update(PullStudy).where(col(PullStudy.id) == row_id)  # type: ignore[call-overload]
                                       .values(lease_until=self._lease_end()))
                    await session.commit()

        task = asyncio.get_running_loop().create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _finish(self, row: PullStudy, state: PullState, **values: Any) -> None:
        async with self.ctx.write_session() as session:
            await session.exec(update(PullStudy).where(col(PullStudy.id) == row.id)  # type: ignore[call-overload]
                               .values(state=state, lease_key=None, lease_until=None, updated_at=utcnow(), **values))
            await session.commit()

    async def _sources_for(self, row: PullStudy) -> list[PullSource]:
        """The row's source first, then the enabled mirrors of its group (then, for a manual
        request of a study never seen, every enabled source)."""
        async with self.ctx.sessions() as session:
            sources = list((await session.exec(select(PullSource).where(col(PullSource.enabled).is_(True))
                                               .order_by(col(PullSource.id)))).all())
        first = next((s for s in sources if s.id == row.source_id), None)
        if first is None:
            return sources
        mirrors = [s for s in sources if s.id != first.id and first.mirror_group
                   and s.mirror_group == first.mirror_group]
        return [first, *mirrors]

    async def pull_next(self) -> bool:
        """Pull the first study of the queue; False when the queue is empty."""
        row = await self._claim()
        if row is None:
            return False
        assert row.id is not None
        async with self._heartbeat(row.id):
            await self._pull(row)
        return True

    async def _pull(self, row: PullStudy) -> None:
        uid = row.study_instance_uid
        attempts = row.attempts + 1
        already = await stored_count(self.ctx, uid, row.series_uids)
        if row.expected_count and already >= row.expected_count and row.attempts > 0:
            await log_event(self.ctx, uid, "complete", f"{already} of {row.expected_count} instance(s) already "
                            "stored (an earlier attempt finished before its worker stopped): not pulled again")
            return await self._finish(row, PullState.COMPLETE, received_count=already)
        rule = await self._rule(row.rule_id)
        institution = row.institution_id or self.ctx.institution_id
        order = (await orders_for(self.ctx, row.accession_number, row.patient_id)).get(institution)
        hint = order.body_part if order is not None else ""
        errors = []
        sources = await self._sources_for(row)
        for n, source in enumerate(sources):
            # The retrieve's own timeout: a PACS that answers nothing for this long is given up.
            endpoint = endpoint_of(source, self.settings.pull_ae_title, self.settings.pull_move_timeout_seconds)
            principal = dimse_principal(institution, source.ae_title) if row.institution_id else \
                system_principal(institution)
            job = ReceiveJob(uid, principal, rule, series_checked=bool(row.series_uids), body_part_hint=hint)
            self.receiver.expect(job)
            await self._finish_attempt_start(row, attempts, source)
            try:
                move = await self._start_retrieve(source, endpoint, row)
                if source.retrieve == "get" or source.move_mode != "async":
                    await move
            except NETWORK_ERRORS as exc:
                self.receiver.done(uid, job)
                errors.append(f"{source.name}: {exc}")
                await log_event(self.ctx, uid, "attempt", f"attempt {attempts} on {source.name} failed: {exc}",
                                source_id=source.id, rule_id=row.rule_id)
                continue
            mirror = sources[n + 1] if n + 1 < len(sources) else None
            try:
                if await self._verify(row, attempts, source, move, job, mirror):
                    return
            except NETWORK_ERRORS as exc:  # an asynchronous move that failed before anything arrived
                errors.append(f"{source.name}: {exc}")
                await log_event(self.ctx, uid, "attempt", f"attempt {attempts} on {source.name} failed: {exc}",
                                source_id=source.id, rule_id=row.rule_id)
                continue
            errors.append(f"{source.name}: answered the retrieve but delivered nothing")
        error = "; ".join(errors) or "no enabled source"
        state = PullState.FAILED if attempts >= self.settings.pull_max_attempts else PullState.STABLE
        await self._finish(row, state, attempts=attempts, last_error=error)
        if state == PullState.FAILED:
            await log_event(self.ctx, uid, "failed", f"no source answered in {attempts} attempt(s): {error}")

    async def _start_retrieve(self, source: PullSource, endpoint: scu.Endpoint,
                              row: PullStudy) -> asyncio.Task[scu.RetrieveResult]:
        uid = row.study_instance_uid
        if source.retrieve == "get":
            call = asyncio.to_thread(scu.get, endpoint, uid, row.series_uids, self.receiver.on_store)
        else:
            call = asyncio.to_thread(scu.move, endpoint, uid, row.series_uids, self.settings.pull_ae_title)
        task = asyncio.get_running_loop().create_task(call)
        # An asynchronous move may end after its pull was judged (complete by the counts): its
        # outcome is then of no interest, and must not be reported as never retrieved.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    async def _finish_attempt_start(self, row: PullStudy, attempts: int, source: PullSource) -> None:
        async with self.ctx.write_session() as session:
            await session.exec(update(PullStudy).where(col(PullStudy.id) == row.id)  # type: ignore[call-overload]
                               .values(attempts=attempts, source_id=source.id, updated_at=utcnow()))
            await session.commit()

    async def _rule(self, rule_id: int | None) -> CompiledRule | None:
        if rule_id is None:
            return None
        return next((r for r in await enabled_rules(self.ctx) if r.id == rule_id), None)

    async def _quiet(self, uid: str, series_uids: list[str], job: ReceiveJob) -> int:
        """Wait until nothing new arrives for ``pull_quiet_seconds`` and nothing received waits for
        ingest; the stored count then."""
        last = (-1, -1, -1)
        while True:
            now = (await stored_count(self.ctx, uid, series_uids), job.skipped, job.pending)
            if now == last and job.pending == 0:
                return now[0]
            last = now
            await asyncio.sleep(max(self.settings.pull_quiet_seconds, 0.05))

    async def _arrivals(self, uid: str, series_uids: list[str], job: ReceiveJob, expected: int,
                        move: asyncio.Task[scu.RetrieveResult]) -> int:
        """Asynchronous C-MOVE: the objects arrive while the move is pending or after the PACS
        answered it; done when the counts reach ``expected``, or nothing arrived for
        ``pull_move_timeout_seconds`` (``pull_quiet_seconds`` once the PACS answered a failure)."""
        loop = asyncio.get_running_loop()
        last, since = (-1, -1, -1), loop.time()
        while True:
            now = (await stored_count(self.ctx, uid, series_uids), job.skipped, job.pending)
            if expected > 0 and now[0] + now[1] >= expected:
                return now[0]
            if now != last:
                last, since = now, loop.time()
            patience = self.settings.pull_move_timeout_seconds
            if move.done():
                if move.exception() is not None and sum(now) == 0:
                    raise move.exception()  # type: ignore[misc]
                if move.exception() is not None or move.result().status not in scu.SUCCESS:
                    patience = max(self.settings.pull_quiet_seconds, 0.05)
            if loop.time() - since >= patience and job.pending == 0:
                return now[0]
            await asyncio.sleep(0.25)

    async def _verify(self, row: PullStudy, attempts: int, source: PullSource,
                      move: asyncio.Task[scu.RetrieveResult], job: ReceiveJob, mirror: PullSource | None) -> bool:
        """Count what arrived and judge the attempt; False (nothing judged) when the source
        delivered nothing and ``mirror`` is still to be tried."""
        uid = row.study_instance_uid
        async with self.ctx.write_session() as session:
            await session.exec(update(PullStudy).where(col(PullStudy.id) == row.id)  # type: ignore[call-overload]
                               .values(state=PullState.RECEIVED, updated_at=utcnow()))
            await session.commit()
        asynchronous = source.retrieve != "get" and source.move_mode == "async"
        try:
            if asynchronous:
                received = await self._arrivals(uid, row.series_uids, job, row.expected_count, move)
            else:
                received = await self._quiet(uid, row.series_uids, job)
        finally:
            self.receiver.done(uid, job)
        result = move.result() if move.done() and move.exception() is None else scu.RetrieveResult(0xFF00, 0, 0, 0)
        skipped = job.skipped
        expected = row.expected_count or result.completed + result.failed + result.warning
        refused = {s: r for s, r in job.verdicts.items() if r}
        for series_uid, reason in refused.items():
            await log_event(self.ctx, uid, "rejected", f"series {series_uid} refused at receipt: {reason}",
                            rule_id=row.rule_id, source_id=source.id)
        method = "C-GET" if source.retrieve == "get" else "C-MOVE (asynchronous)" if asynchronous else "C-MOVE"
        status = "still pending" if result.status == 0xFF00 else f"status 0x{result.status:04X}"
        summary = (f"attempt {attempts} on {source.name}: {method} {status}, {result.completed} completed, "
                   f"{result.failed} failed, {result.warning} warning; {received} of {expected} instance(s) "
                   f"stored, {skipped} skipped" + (f", {job.failed} refused by the ingest" if job.failed else ""))
        if received == skipped == 0 and expected > 0 and mirror is not None:
            await log_event(self.ctx, uid, "attempt", f"{summary}: nothing arrived, trying {mirror.name}",
                            source_id=source.id, rule_id=row.rule_id)
            return False
        await log_event(self.ctx, uid, "attempt", summary, source_id=source.id, rule_id=row.rule_id)
        values: dict[str, Any] = {"attempts": attempts, "received_count": received, "skipped_count": skipped,
                                  "expected_count": expected}
        if refused:
            values["seen_attributes"] = {**(row.seen_attributes or {}),
                                         "refused": sorted({*(row.seen_attributes or {}).get("refused", []),
                                                            *refused})}
        if received + skipped >= expected:
            await log_event(self.ctx, uid, "complete", f"{received} instance(s) stored", source_id=source.id)
            await self._finish(row, PullState.COMPLETE, last_error="", **values)
            return True
        short = f"received {received} of {expected} instance(s) ({skipped} skipped by the receive filter)"
        if attempts < self.settings.pull_max_attempts:
            await self._finish(row, PullState.STABLE, last_error=short, **values)
            return True
        await log_event(self.ctx, uid, "incomplete", f"{short} after {attempts} attempt(s)", source_id=source.id)
        await self._finish(row, PullState.INCOMPLETE, last_error=short, **values)
        return True
