"""``cirrus ingest PATH...``: store DICOM files, folders and ZIP archives (same path as uploads)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from dicomweb.errors import DicomWebError
from server.app_errors import AppError
from server.auth.visibility import system_principal
from server.commands.common import add_data_dir, settings_from
from server.context import open_context
from server.services import uploads
from server.workflow import detector, jobs


def register(sub: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ingest", help=help_text)
    p.add_argument("paths", nargs="+", type=Path, help="files, folders or ZIP archives")
    p.add_argument("--no-analysis", action="store_true", help="do not open analysis jobs")
    p.add_argument("--json", action="store_true", help="print the full summary as JSON")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def main() -> dict[str, Any]:
        async with open_context(settings) as ctx:
            inputs = [(str(p), p.resolve()) for p in args.paths]
            with tqdm(unit="file", desc="ingest", disable=None) as bar:
                report = await uploads.ingest_inputs(ctx, inputs, progress=bar.update,
                                                     principal=system_principal(ctx.institution_id))
            result = report.as_json()
            opened = [] if args.no_analysis else await detector.evaluate_now(ctx, list(report.studies))
            result["jobs"] = [jobs.job_json(j, brief=True) for j in opened]
            return result

    try:
        result = asyncio.run(main())
    except (DicomWebError, AppError) as exc:
        print(f"error: {exc.message}")
        return 2
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"stored {result['stored']}, already present {result['duplicates']}, "
              f"failed {len(result['failed'])}, skipped {len(result['skipped'])}")
        for uid, study in result["studies"].items():
            who = f"{study.get('patient_name', '')} {study.get('study_date', '')}"
            print(f"  study {uid} {who}: {len(study['series'])} series")
        for f in result["failed"]:
            print(f"  failed  {f['name']}: {f['reason']}")
        for s in result["skipped"][:20]:
            print(f"  skipped {s['name']}: {s['reason']}")
        if len(result["skipped"]) > 20:
            print(f"  ... {len(result['skipped']) - 20} more skipped")
        for job in result.get("jobs", []):
            extra = f" ({job['reason']})" if job["reason"] else ""
            print(f"  analysis job {job['id']}: {job['state']}{extra} — {job['label']}")
    return 0 if result["stored"] or result["duplicates"] else 1
