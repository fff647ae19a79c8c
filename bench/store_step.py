"""The analysis write-back ("store" step) of one job, in-process, split by object kind.

Ingests a real study into a fresh data folder (SQLite, or PostgreSQL with ``--postgres``), opens
its analysis job with the detector, claims it and runs it with the worker's own ``run_job``; then
prints the job's timings (load, quantify, store and the store's split, then the report step:
figures and PDF) with the load average.

Usage::

    .venv/bin/python bench/store_step.py                     # Siemens 3D pCASL, 3 runs, SQLite
    .venv/bin/python bench/store_step.py --postgres --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.auth.visibility import system_principal  # noqa: E402
from server.context import open_context  # noqa: E402
from server.db.analysis import AnalysisJob  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.services import uploads  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.workflow import detector, queue, worker  # noqa: E402

STUDIES = {
    "pcasl3d": ROOT.parent / "shared" / "data" / "asl" / "siemens" / "pcasl3d",
    "pcasl2d": ROOT.parent / "shared" / "data" / "asl" / "siemens" / "pcasl2d",
}


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


async def one_job(data_dir: Path, url: str, folder: Path) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir, database_url=url)
    async with open_context(settings) as ctx:
        report = await uploads.ingest_inputs(ctx, [(folder.name, folder)],
                                             principal=system_principal(ctx.institution_id))
        opened = await detector.evaluate_now(ctx, list(report.studies))
        if not opened:
            raise SystemExit("no analysis job opened")
        lease = await queue.claim(ctx.engine, "bench", 120)
        if lease is None:
            raise SystemExit(f"the job is not queued: {opened[0].state} {opened[0].reason}")
        state = await worker.run_job(ctx, lease, 120)
        async with ctx.sessions() as s:
            job = await s.get(AnalysisJob, lease.job_id)
        assert job is not None
        if state != "succeeded":
            raise SystemExit(f"job {state}: {job.reason}")
        return dict(job.timings or {})


def pg_url(admin: str, name: str, create: bool) -> str:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
    return f"postgresql+asyncpg://{admin.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--study", choices=sorted(STUDIES), default="pcasl3d")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--postgres", action="store_true")
    p.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = p.parse_args()
    folder = STUDIES[args.study]
    stores = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="cirrus-store-") as tmp:
            name = f"cirrus_bench_store_{os.getpid()}"
            url = pg_url(args.pg_admin, name, True) if args.postgres else f"sqlite+aiosqlite:///{Path(tmp) / 'c.db'}"
            try:
                upgrade(url)
                before = load()
                t = asyncio.run(one_job(Path(tmp), url, folder))
            finally:
                if args.postgres:
                    pg_url(args.pg_admin, name, False)
        stores.append(float(t["store"]))
        print(f"run {i + 1} (load {before} → {load()}): load {t.get('load')} s, quantify {t.get('quantify')} s, "
              f"store {t.get('store')} s [UIDs {t.get('store_uids')} s, derived objects {t.get('store_derived')} s], "
              f"report {t.get('report')} s [figures {t.get('report_figures')} s, PDF {t.get('report_pdf')} s], "
              f"total {t.get('total')} s")
    print(f"store step ({args.study}, {'PostgreSQL' if args.postgres else 'SQLite'}): median "
          f"{statistics.median(stores):.2f} s, best {min(stores):.2f} s; target ≤ 1 s: "
          f"{'met' if statistics.median(stores) <= 1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
