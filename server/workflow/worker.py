"""Analysis workers: claim a job, compute it, write results back through ingest.

The same loop runs in-process (``settings.workers`` tasks started at API
start-up) and in ``cirrus worker`` processes. Results are written with
UIDs derived from (job, version, position), so a retry after a lost lease
re-creates exactly the same objects and skips those the lost attempt had
already stored: a job never leaves two copies of its result.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import time
import uuid
from typing import Any

import pydicom
from pydicom.uid import generate_uid
from sqlalchemy import update
from sqlmodel import col, select

import quant
from dicomweb.sequence_writer import with_encoded_sequences
from server.auth.visibility import system_principal
from server.context import AppContext
from server.db.analysis import AnalysisJob, AnalysisResult
from server.db.archive import Instance, InstanceState
from server.db.changes import JOBS
from server.db.database import aware, utcnow
from server.services.ingest import IngestService
from server.workflow import dce, dce_params, dce_report, jobs, quant_bridge, queue, reports, study_loader
from server.workflow.states import JobState

log = logging.getLogger("cirrus.worker")

DEFAULT_LEASE_SECONDS = 30.0


class LeaseLost(Exception):
    """The job was cancelled, changed or taken over while we computed it."""


def worker_name(index: int = 0) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{index}:{uuid.uuid4().hex[:6]}"


def stable_uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=["cirrus-analysis", *map(str, parts)])


async def run_job(ctx: AppContext, lease: queue.Lease, lease_seconds: float) -> str:
    """Run one claimed job to its end; returns the final state (or 'lost')."""
    lost = asyncio.Event()
    progress: dict[str, Any] = {"value": 0.05, "stage": "loading"}

    async def beat() -> None:
        while True:
            ok = await queue.heartbeat(ctx.engine, lease, lease_seconds, progress["value"], progress["stage"])
            if not ok:
                lost.set()
                return
            jobs.notify(ctx)
            await asyncio.sleep(max(0.2, lease_seconds / 3))

    heartbeat = asyncio.create_task(beat())

    async def stage(name: str, value: float) -> None:
        # Written at once (not at the next beat) so that progress is live.
        progress.update(value=value, stage=name)
        if not await queue.heartbeat(ctx.engine, lease, lease_seconds, value, name):
            lost.set()
            raise LeaseLost()
        jobs.notify(ctx)

    timings: dict[str, float] = {}
    t_start = time.perf_counter()

    def step(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 3)

    try:
        async with ctx.sessions() as s:
            job = await s.get(AnalysisJob, lease.job_id)
        assert job is not None
        if job.queued_at:
            timings["queue_wait"] = round(max(0.0, (utcnow() - aware(job.queued_at)).total_seconds()), 3)
        t = time.perf_counter()
        wanted = [*job.series_uids, *(u for u in (job.m0_series_uid, job.t1_series_uid) if u)]
        datasets = await study_loader.load_datasets(ctx, job.study_instance_uid, wanted, pixels=True)
        step("load", t)
        await stage("classifying", 0.2)
        t = time.perf_counter()
        bridge: Any = dce if dce_params.is_dce(job) else quant_bridge
        found = await asyncio.to_thread(bridge.classify, datasets)
        f = quant_bridge.pick(found, job.acquisition_key) or (found[0] if len(found) == 1 else None)
        step("classify", t)
        if f is None:
            raise quant.InputError(f"the {dce_params.method_of(job)} series of this job are no longer in the study")
        await stage("quantifying", 0.3)
        t = time.perf_counter()
        overrides = job.overrides if bridge is dce else quant_bridge.with_provenance(job.overrides, job.override_notes)
        computed = await asyncio.to_thread(bridge.compute, f.acquisition, overrides, job.model)
        step("quantify", t)
        if lost.is_set():
            raise LeaseLost()
        await stage("storing", 0.8)
        version = job.version + 1
        t = time.perf_counter()
        await store_results(ctx, job, version, computed, lost, timings)
        step("store", t)
        # The derived series are in the study now (QIDO lists them); the figures and the PDF follow.
        await stage("reporting", 0.9)
        t = time.perf_counter()
        await store_report_of(ctx, job, version, computed, timings)
        step("report", t)
        timings["total"] = round(time.perf_counter() - t_start, 3)
        heartbeat.cancel()
        done = await queue.finish(
            ctx.engine,
            lease,
            "succeed",
            version=version,
            statistics=computed.statistics,
            provenance=computed.provenance,
            regional_csv=computed.regional_csv,
            timings=timings,
            progress=1.0,
            stage="",
            reason="; ".join(computed.notes)[:2000],
        )
        if not done:
            raise LeaseLost()
        await supersede_older(ctx, job.id or 0, version)
        log.info("analysis job %s succeeded (v%s) in %.1f s", job.id, version, timings["total"])
        return JobState.SUCCEEDED
    except LeaseLost:
        log.warning("analysis job %s was taken away (cancelled, changed or lease expired)", lease.job_id)
        return "lost"
    except quant.MissingParameterError as exc:
        missing = list(exc.missing)
        await queue.back_to_waiting(ctx.engine, lease, missing, jobs.waiting_reason(missing))
        return JobState.WAITING
    except quant.MissingM0Error:
        # Not a failure of the data we have: the study lacks a series. The job
        # waits; the M0 series arriving later re-evaluates and queues it.
        await queue.back_to_waiting(ctx.engine, lease, [jobs.M0_MISSING], jobs.waiting_reason([jobs.M0_MISSING]))
        return JobState.WAITING
    except quant.QuantError as exc:
        await queue.finish(ctx.engine, lease, "fail", reason=str(exc), timings=timings, stage="")
        return JobState.FAILED
    except asyncio.CancelledError:
        # Worker shutting down: give the job back rather than waiting for the lease to expire.
        await asyncio.shield(queue.release(ctx.engine, lease, "worker stopped; queued again"))
        raise
    except Exception as exc:
        log.exception("analysis job %s failed", lease.job_id)
        await queue.finish(
            ctx.engine,
            lease,
            "fail",
            reason=f"internal error during the analysis ({type(exc).__name__}); the log has details",
            timings=timings,
            stage="",
        )
        return JobState.FAILED
    finally:
        heartbeat.cancel()
        jobs.notify(ctx)


def assign_uids(job: AnalysisJob, version: int, datasets: list[pydicom.Dataset]) -> dict[str, str]:
    """Give derived objects stable UIDs and versioned descriptions; returns role → series UID.

    References between the objects (a parametric map citing the CBF images)
    are rewritten to the new UIDs too.
    """
    series_index: dict[str, int] = {}
    roles: dict[str, str] = {}
    counters: dict[str, int] = {}
    renamed: dict[str, str] = {}
    index_of: dict[str, int] = {}
    for ds in datasets:
        original = str(ds.get("SeriesInstanceUID", ""))
        idx = series_index.setdefault(original, len(series_index))
        new_series = stable_uid(job.study_instance_uid, job.id, version, "series", idx)
        renamed[original] = new_series
        index_of[new_series] = idx
        n = counters.get(new_series, 0)
        counters[new_series] = n + 1
        renamed[str(ds.SOPInstanceUID)] = stable_uid(new_series, n)
    for ds in datasets:
        _rename_uids(ds, renamed)
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        new_series = str(ds.SeriesInstanceUID)
        idx = index_of[new_series]
        description = str(ds.get("SeriesDescription", "") or f"Derived {idx + 1}")
        role = quant.derived_role(ds)
        if version > 1 and "(v" not in description:
            ds.SeriesDescription = f"{description} (v{version})"[:64]
        roles.setdefault(role, new_series)
    return roles


def _rename_uids(ds: pydicom.Dataset, renamed: dict[str, str]) -> None:
    """Replace every UID value found in ``renamed``, nested sequences included.

    A plain recursion over the elements: ``Dataset.walk`` costs ~4× as much on a SEG's thousands
    of per-frame items (it sorts and re-reads every element under an exception context)."""
    for elem in ds.elements():
        vr = elem.VR
        if vr == "SQ":
            for item in elem.value or ():
                _rename_uids(item, renamed)
        elif vr == "UI" and elem.value is not None:
            value = elem.value
            if isinstance(value, str):
                if value in renamed:
                    ds[elem.tag].value = renamed[value]
            elif any(str(v) in renamed for v in value):
                ds[elem.tag].value = [renamed.get(str(v), str(v)) for v in value]


async def existing_sops(ctx: AppContext, sop_uids: list[str]) -> set[str]:
    async with ctx.sessions() as s:
        rows = await s.exec(
            select(Instance.sop_instance_uid).where(
                col(Instance.sop_instance_uid).in_(sop_uids), Instance.state == InstanceState.CREATED
            )
        )
        return set(rows.all())


async def ingest_datasets(ctx: AppContext, study_uid: str, datasets: list[pydicom.Dataset]) -> None:
    present = await existing_sops(ctx, [str(ds.SOPInstanceUID) for ds in datasets])
    todo = [ds for ds in datasets if str(ds.SOPInstanceUID) not in present]
    if not todo:
        return
    # The big sequences (a SEG's per-frame functional groups, an SR's content tree) encoded in one
    # pass each; pydicom writes the rest.
    todo = await asyncio.to_thread(lambda: [with_encoded_sequences(ds) for ds in todo])
    # The server's own write-back into a study it already holds.
    outcomes = await IngestService(ctx).ingest_datasets(todo, expected_study_uid=study_uid,
                                                        principal=system_principal(ctx.institution_id))
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        # UIDs are derived from (job, version, position): an object already
        # stored under one came from another attempt at this same result (a
        # worker that lost its lease but was still writing). That is success.
        now_present = await existing_sops(ctx, [o.sop_instance_uid for o in failed])
        failed = [o for o in failed if o.sop_instance_uid not in now_present]
    if failed:
        raise RuntimeError(f"storing the result failed: {failed[0].message}")


async def store_results(
    ctx: AppContext, job: AnalysisJob, version: int, computed: quant_bridge.Computed, lost: asyncio.Event,
    timings: dict[str, float] | None = None,
) -> dict[str, str]:
    """Write the derived DICOM objects (maps, colour series, SEG, SR) back into the study in one
    ingest batch; returns role → series UID (the report series included: ``store_report_of``
    writes it). ``timings`` (if given) gets ``store_uids`` (stable UIDs given to the objects) and
    ``store_derived`` (their encoding and ingest)."""
    split = timings if timings is not None else {}
    t = time.perf_counter()
    roles = await asyncio.to_thread(assign_uids, job, version, computed.datasets)
    split["store_uids"] = round(time.perf_counter() - t, 3)
    roles["REPORT"] = report_series_uid(job, version)
    # Record the version before writing, so the detector never mistakes our
    # own series for new input while they arrive.
    async with ctx.write_session() as s:
        mine = (AnalysisResult.job_id == job.id, AnalysisResult.version == version)
        row = (await s.exec(select(AnalysisResult).where(*mine))).first()
        if row is None:
            s.add(AnalysisResult(job_id=job.id or 0, version=version,
                                 study_instance_uid=job.study_instance_uid, series=roles))
            await s.commit()
    if lost.is_set():
        raise LeaseLost()
    t = time.perf_counter()
    await ingest_datasets(ctx, job.study_instance_uid, computed.datasets)
    split["store_derived"] = round(time.perf_counter() - t, 3)
    return roles


def report_series_uid(job: AnalysisJob, version: int) -> str:
    return stable_uid(job.study_instance_uid, job.id, version, "report")


async def store_report_of(
    ctx: AppContext, job: AnalysisJob, version: int, computed: quant_bridge.Computed,
    timings: dict[str, float] | None = None,
) -> None:
    """After the derived objects: the report figures and the PDF (as an Encapsulated PDF in the
    report series); ``timings`` gets ``report_figures`` and ``report_pdf``."""
    split = timings if timings is not None else {}
    reference = computed.datasets[0] if computed.datasets else None
    t = time.perf_counter()
    if computed.dce is not None:
        figures = await asyncio.to_thread(dce_report.render_figures, computed.dce)
    else:
        figures = await asyncio.to_thread(
            reports.render_figures, computed.cbf, computed.statistics, computed.regional_csv, computed.regions
        )
    await reports.save_figures(ctx, job.id or 0, version, figures)
    split["report_figures"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    job_view = job.model_copy(
        update={"version": version, "statistics": computed.statistics, "provenance": computed.provenance,
                "regional_csv": computed.regional_csv}
    )
    pdf = await asyncio.to_thread(dce_report.build_pdf_for, job_view, figures)
    series = report_series_uid(job, version)
    epdf = reports.encapsulated_pdf(pdf, reference, series_uid=series, sop_uid=stable_uid(series, 0), version=version)
    dce_report.name_report(epdf, job, version)
    await ingest_datasets(ctx, job.study_instance_uid, [epdf])
    split["report_pdf"] = round(time.perf_counter() - t, 3)


async def store_report(ctx: AppContext, job: AnalysisJob, lang: str = "zh-CN") -> dict[str, str]:
    """Store the current PDF (e.g. after the diagnostic text was edited) as a new
    Encapsulated PDF instance in the newest result's report series."""
    current = [r for r in await jobs.results_of(ctx, job.id or 0) if r.version == job.version]
    if job.version < 1 or not current or "REPORT" not in current[0].series:
        raise jobs.JobConflict(f"analysis job {job.id} has no result to report on yet (it is {job.state})")
    series = current[0].series["REPORT"]
    rows = await study_loader.instance_rows(ctx, job.study_instance_uid, [series])
    reference = None
    if rows:
        blob = await ctx.store.get_bytes(rows[0][1].blob_key)
        reference = pydicom.dcmread(io.BytesIO(blob), specific_tags=list(reports.PATIENT_STUDY_KEYWORDS))
    figures = await reports.load_figures(ctx, job.id or 0, job.version)
    pdf = await asyncio.to_thread(dce_report.build_pdf_for, job, figures, lang)
    number = len(rows) + 1
    epdf = reports.encapsulated_pdf(
        pdf,
        reference,
        series_uid=series,
        sop_uid=stable_uid(series, "edit", number, job.revision),
        version=job.version,
        study_uid=job.study_instance_uid,
    )
    epdf.InstanceNumber = number
    dce_report.name_report(epdf, job, job.version)
    await ingest_datasets(ctx, job.study_instance_uid, [epdf])
    return {"series_instance_uid": series, "sop_instance_uid": str(epdf.SOPInstanceUID), "instance_number": number}


async def supersede_older(ctx: AppContext, job_id: int, version: int) -> None:
    stmt = (
        update(AnalysisResult)
        .where(col(AnalysisResult.job_id) == job_id, col(AnalysisResult.version) < version)
        .values(superseded=True)
    )
    async with ctx.write() as conn:
        await conn.execute(stmt)


async def worker_loop(
    ctx: AppContext,
    stop: asyncio.Event,
    name: str,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    poll_seconds: float = 1.0,
) -> None:
    """Claim and run jobs until ``stop`` is set."""
    last_reap = 0.0
    log.info("analysis worker %s started", name)
    with ctx.changes.subscribe(JOBS) as changed:
        while not stop.is_set():
            try:
                if time.monotonic() - last_reap > min(5.0, lease_seconds / 2):
                    last_reap = time.monotonic()
                    for job_id, state in await queue.reap_expired(ctx.engine):
                        log.warning("analysis job %s lost its worker: now %s", job_id, state)
                lease = await queue.claim(ctx.engine, name, lease_seconds)
                if lease is not None:
                    log.info("worker %s took analysis job %s (attempt %s)", name, lease.job_id, lease.attempt)
                    jobs.notify(ctx)
                    await run_job(ctx, lease, lease_seconds)
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("analysis worker %s: loop error", name)
            # Queue changes wake us at once; the timeout keeps lease reaping going when all is quiet.
            await changed.wait(poll_seconds)
    log.info("analysis worker %s stopped", name)
