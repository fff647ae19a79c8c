"""QIDO-RS latency on a filled archive: p50/p95 of typical OHIF queries.

Fills a fresh database (SQLite file and/or a PostgreSQL database) with
realistic index rows by direct bulk insert (default 100k instances in ~1,200
studies), starts a real ``cirrus serve`` process on it and times each query
over HTTP from the same machine::

    .venv/bin/python bench/qido_bench.py                   # both back ends, 100k instances
    .venv/bin/python bench/qido_bench.py --backend sqlite --instances 20000

The PostgreSQL database is created on 127.0.0.1:5432 (user postgres) and
dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from pydicom.dataset import Dataset
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import BENCH_ADMIN_PASSWORD, cirrus_token  # noqa: E402
from dicomweb.json_model import dataset_to_json  # noqa: E402
from server.db.archive import Instance, InstanceState, Institution, Series, Study  # noqa: E402
from server.db.database import create_engine  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.services import bulk_uri  # noqa: E402
from server.services.indexing import extract_index  # noqa: E402

PG_ADMIN = os.environ.get("CIRRUS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
UID_ROOT = "1.2.826.0.1.3680043.10.2020"
SURNAMES = [
    "SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "RODRIGUEZ",
    "MARTINEZ", "WANG", "LI", "ZHANG", "LIU", "CHEN", "YANG", "HUANG", "ZHAO", "MULLER", "SCHMIDT",
    "SCHNEIDER", "FISCHER", "WEBER", "MEYER", "ANDERSON", "THOMAS", "TAYLOR", "MOORE", "JACKSON",
    "MARTIN", "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ", "CLARK", "LEWIS", "ROBINSON",
]
GIVEN = ["JOHN", "MARY", "WEI", "ANNA", "PETER", "LING", "HANS", "SARA", "DAVID", "MARIA", "TOM", "YAN"]
PROTOCOLS = {
    "MR": ["T1 MPRAGE", "T2 FLAIR", "pCASL ASL", "M0", "DWI", "SWI"],
    "CT": ["Axial 5mm", "Axial 1mm", "Coronal MPR", "Scout"],
    "PT": ["PET AC", "PET NAC"],
    "CR": ["PA", "LAT"],
    "US": ["Abdomen"],
}
STUDY_DESCRIPTIONS = {
    "MR": "MR Brain with ASL", "CT": "CT Chest", "PT": "PET-CT Whole Body", "CR": "Chest X-ray",
    "US": "US Abdomen",
}


def uid(*parts: object) -> str:
    return ".".join([UID_ROOT, *(str(p) for p in parts)])


def make_rows(total_instances: int, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """Study/series/instance rows shaped like a clinical archive (~100 instances per study)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    studies: list[dict[str, Any]] = []
    series_rows: list[dict[str, Any]] = []
    instances: list[dict[str, Any]] = []
    study_no = series_no = 0
    start = date(2015, 1, 1)
    while len(instances) < total_instances:
        study_no += 1
        kind = rng.choices(list(PROTOCOLS), weights=[40, 30, 10, 15, 5])[0]
        study_date = (start + timedelta(days=rng.randrange(3650))).strftime("%Y%m%d")
        patient = f"{rng.choice(SURNAMES)}^{rng.choice(GIVEN)}"
        patient_id = f"PID{rng.randrange(1, 400):05d}"
        n_series = rng.randint(2, 6)
        modalities = set()
        study_instances = 0
        for s in range(1, n_series + 1):
            series_no += 1
            modality = "CT" if kind == "PT" and s == 1 else kind
            modalities.add(modality)
            n_inst = {"MR": rng.randint(10, 40), "CT": rng.randint(10, 60), "PT": rng.randint(20, 50),
                      "CR": 1, "US": rng.randint(1, 10)}[modality]
            ds = Dataset()
            ds.StudyInstanceUID = uid(study_no)
            ds.SeriesInstanceUID = uid(study_no, s)
            ds.SOPInstanceUID = uid(study_no, s, 1)
            ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
            ds.PatientName = patient
            ds.PatientID = patient_id
            ds.PatientBirthDate = f"19{rng.randrange(30, 99)}0101"
            ds.PatientSex = rng.choice("MF")
            ds.StudyDate = study_date
            ds.StudyTime = f"{rng.randrange(7, 19):02d}{rng.randrange(60):02d}00"
            ds.AccessionNumber = f"ACC{study_no:07d}"
            ds.StudyDescription = STUDY_DESCRIPTIONS[kind]
            ds.ReferringPhysicianName = "HOUSE^GREGORY"
            ds.InstitutionName = "Cirrus General"
            ds.Modality = modality
            ds.SeriesNumber = s
            ds.SeriesDescription = rng.choice(PROTOCOLS[modality])
            ds.SeriesDate = study_date
            ds.Rows = ds.Columns = 512 if modality == "CT" else 256
            ds.BitsAllocated = 16
            ds.SliceThickness = "3.0"
            rec = extract_index(ds)
            meta_template = orjson.dumps(dataset_to_json(ds, bulk_uri.uri_factory("x", "x", "x")))
            if s == 1:
                studies.append({
                    **rec.study, "id": study_no, "institution_id": 1, "modalities_in_study": "",
                    "number_of_series": n_series, "number_of_instances": 0,
                    "attributes_json": orjson.dumps(rec.study_json), "created_at": now, "updated_at": now,
                })
            series_rows.append({
                **rec.series, "id": series_no, "study_id": study_no, "number_of_instances": n_inst,
                "attributes_json": orjson.dumps(rec.series_json), "created_at": now, "updated_at": now,
            })
            first_sop = ds.SOPInstanceUID.encode()
            for n in range(1, n_inst + 1):
                sop = uid(study_no, s, n)
                instances.append({
                    **rec.instance, "id": len(instances) + 1, "study_id": study_no, "series_id": series_no,
                    "sop_instance_uid": sop, "instance_number": n, "state": InstanceState.CREATED,
                    "transfer_syntax_uid": "1.2.840.10008.1.2.1", "blob_key": f"b/{sop}", "size": 0,
                    "sha256": "", "number_of_frames": 1,
                    "metadata_json": meta_template.replace(first_sop, sop.encode()), "created_at": now,
                })
            study_instances += n_inst
        studies[-1]["number_of_instances"] = study_instances
        studies[-1]["modalities_in_study"] = "\\".join(sorted(modalities))
    return {"study": studies, "series": series_rows, "instance": instances}


async def fill(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    engine = create_engine(url)
    tables = {"study": Study.__table__, "series": Series.__table__, "instance": Instance.__table__}
    async with engine.begin() as conn:
        institution = {"id": 1, "name": "Default", "created_at": datetime.now(UTC)}
        await conn.execute(insert(Institution.__table__).values(**institution))
        for name, table in tables.items():
            batch = rows[name]
            for i in range(0, len(batch), 5000):
                await conn.execute(insert(table), batch[i : i + 5000])
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    await engine.dispose()


async def pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def start_server(url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRRUS_")}
    env.update({"CIRRUS_DATA_DIR": str(data_dir), "CIRRUS_DATABASE_URL": url, "CIRRUS_WORKERS": "0",
                "PYTHONPATH": str(ROOT), "CIRRUS_INSTITUTION": "Default",
                "CIRRUS_ADMIN_PASSWORD": BENCH_ADMIN_PASSWORD})
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], env=env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}/dicom-web"
        if proc.poll() is not None:
            raise RuntimeError("cirrus serve exited")
        time.sleep(0.1)
    raise TimeoutError("cirrus serve did not start")


def queries(rows: dict[str, list[dict[str, Any]]], rng: random.Random) -> dict[str, Callable[[], str]]:
    studies, series = rows["study"], rows["series"]
    ohif = "limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060"

    def a_study() -> dict[str, Any]:
        return rng.choice(studies)

    def a_series() -> tuple[str, str]:
        s = rng.choice(series)
        return studies[s["study_id"] - 1]["study_instance_uid"], s["series_instance_uid"]

    def instances_of_series() -> str:
        st, se = a_series()
        return f"/studies/{st}/series/{se}/instances"

    return {
        "study list (OHIF first page)": lambda: f"/studies?{ohif}",
        "study list page 5": lambda: f"/studies?{ohif.replace('offset=0', 'offset=404')}",
        "PatientName=SMI* (prefix)": lambda: f"/studies?{ohif}&PatientName={rng.choice(SURNAMES)[:3]}*",
        "PatientName=*AND* (contains)": lambda: f"/studies?{ohif}&PatientName=*{rng.choice(GIVEN)[1:3]}*",
        "PatientName fuzzy": lambda: f"/studies?{ohif.replace('=false', '=true')}&PatientName="
        f"{rng.choice(GIVEN)[:2]}",
        "PatientID exact": lambda: f"/studies?{ohif}&PatientID={a_study()['patient_id']}",
        "AccessionNumber exact": lambda: f"/studies?{ohif}&AccessionNumber={a_study()['accession_number']}",
        "StudyDate one year": lambda: (lambda y: f"/studies?{ohif}&StudyDate={y}0101-{y}1231")(
            rng.randrange(2015, 2025)
        ),
        "ModalitiesInStudy=PT": lambda: f"/studies?{ohif}&ModalitiesInStudy=PT",
        "StudyInstanceUID exact": lambda: f"/studies?StudyInstanceUID={a_study()['study_instance_uid']}",
        "series of a study (OHIF)": lambda: f"/studies/{a_study()['study_instance_uid']}/series"
        "?includefield=0008103E%2C00080021",
        "instances of a series": instances_of_series,
    }


async def measure(base: str, qs: dict[str, Callable[[], str]], repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    token = await asyncio.to_thread(cirrus_token, base.removesuffix("/dicom-web"))
    async with httpx.AsyncClient(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        for name, make in qs.items():
            await client.get(make())  # warm-up
            times = []
            for _ in range(repeat):
                path = make()
                t0 = time.perf_counter()
                r = await client.get(path, headers={"Accept": "application/dicom+json"})
                r.raise_for_status()
                r.json()
                times.append((time.perf_counter() - t0) * 1000)
            out[name] = times
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def run_backend(
    kind: str, rows: dict[str, list[dict[str, Any]]], repeat: int
) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="qido-bench-") as tmp:
        tmp_path = Path(tmp)
        name = f"cirrus_bench_{uuid.uuid4().hex[:10]}"
        url = (f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}" if kind == "sqlite"
               else f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
        if kind == "postgres":
            await pg_admin(f'CREATE DATABASE "{name}"')
        try:
            await asyncio.to_thread(upgrade, url)
            t0 = time.perf_counter()
            await fill(url, rows)
            print(f"[{kind}] filled {len(rows['instance'])} instances in {time.perf_counter() - t0:.1f} s",
                  flush=True)
            proc, base = start_server(url, tmp_path / "data")
            try:
                return await measure(base, queries(rows, random.Random(11)), repeat)
            finally:
                proc.terminate()
                proc.wait(10)
        finally:
            if kind == "postgres":
                await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40, help="timed requests per query")
    args = parser.parse_args()
    rows = make_rows(args.instances)
    print(f"archive: {len(rows['study'])} studies, {len(rows['series'])} series, "
          f"{len(rows['instance'])} instances", flush=True)
    kinds = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = {kind: asyncio.run(run_backend(kind, rows, args.repeat)) for kind in kinds}
    header = f"{'query':34s}" + "".join(f"{k + ' p50':>14s}{k + ' p95':>14s}" for k in kinds)
    print("\nQIDO-RS latency in ms over HTTP (client on the same machine)")
    print(header)
    for name in next(iter(results.values())):
        line = f"{name:34s}"
        for kind in kinds:
            times = results[kind][name]
            line += f"{pct(times, 50):14.1f}{pct(times, 95):14.1f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
