"""Where a STOW's per-instance CPU time goes, stage by stage, in one process (no HTTP).

    python bench/stow_stages.py [--instances 200]

Uses the synthetic CT of ``bench/synth.py`` as one multipart body and times: the multipart split
(``dicomweb.multipart``), SHA-256 of each part, the header parse (pydicom, pixels deferred), DICOM
JSON, the whole ``parse_candidate`` (parse + validation + JSON + index + frame table), and the
database and blob phases of ``IngestService.ingest_batch`` on a fresh SQLite file (batches of 50).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pydicom  # noqa: E402

from bench import synth  # noqa: E402
from dicomweb.json_model import dataset_to_json  # noqa: E402
from dicomweb.multipart import MultipartDecoder, PartData, PartEnd  # noqa: E402
from server.services import bulk_uri  # noqa: E402
from server.services.parse import parse_candidate  # noqa: E402


def timed(label: str, n: int, fn, results: dict[str, float]) -> object:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    results[label] = (time.perf_counter() - t0) * 1000 / n
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instances", type=int, default=200)
    p.add_argument("--synth-dir", type=Path, default=Path(tempfile.gettempdir()) / "cirrus-bench-synth")
    a = p.parse_args(argv)
    study = synth.generate(a.synth_dir / "4x250x512", 4, 250, 512)
    files = [f.read_bytes() for f in study.paths()[: a.instances]]
    n = len(files)
    boundary = "stages"
    body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + f + b"\r\n" for f in files)
    body += f"--{boundary}--\r\n".encode()
    res: dict[str, float] = {}

    def split() -> list[bytes]:
        dec = MultipartDecoder(boundary)
        parts, cur = [], []
        for i in range(0, len(body), 1 << 16):
            for ev in dec.feed(body[i : i + (1 << 16)]):
                if isinstance(ev, PartData):
                    cur.append(bytes(ev.data))
                elif isinstance(ev, PartEnd):
                    parts.append(b"".join(cur))
                    cur = []
        return parts

    parts = timed("multipart split (64 KiB reads)", n, split, res)
    assert len(parts) == n  # type: ignore[arg-type]
    shas = timed("SHA-256", n, lambda: [hashlib.sha256(f).hexdigest() for f in files], res)
    dss = timed("header parse (dcmread, pixels deferred)", n,
                lambda: [pydicom.dcmread(io.BytesIO(f), stop_before_pixels=True, defer_size=1024) for f in files], res)
    timed("DICOM JSON (dataset_to_json)", n, lambda: [
        dataset_to_json(ds, bulk_uri.uri_factory(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                                                 str(ds.SOPInstanceUID)))
        for ds in dss  # type: ignore[attr-defined]
    ], res)
    timed("parse_candidate (all of the above but split/hash)", n,
          lambda: [parse_candidate(s, data=f) for s, f in zip(shas, files, strict=True)], res)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        from server.db.migrate import upgrade
        from server.settings import Settings

        settings = Settings(data_dir=Path(tmp), workers=0)
        upgrade(settings.resolved_database_url)  # before the event loop: alembic runs its own
        res.update(asyncio.run(_ingest(files, settings)))
    width = max(map(len, res))
    print(f"per instance, {n} instances of 512x512 CT ({len(files[0]) // 1024} KiB each):")
    for label, ms in res.items():
        print(f"  {label.ljust(width)}  {ms:7.2f} ms")
    return 0


async def _ingest(files: list[bytes], settings: Any) -> dict[str, float]:
    from server.context import open_context
    from server.services.ingest import IngestService, Spooled

    async with open_context(settings) as ctx:
        svc = IngestService(ctx)
        t0 = time.perf_counter()
        for i in range(0, len(files), 50):
            out = await svc.ingest_batch([Spooled.of_bytes(f) for f in files[i : i + 50]])
            assert all(o.ok for o in out)
        total = (time.perf_counter() - t0) * 1000 / len(files)
    return {"ingest_batch of 50 (hash + parse + 2 transactions + blob writes + fsync)": total}


if __name__ == "__main__":
    sys.exit(main())
