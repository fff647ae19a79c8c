"""``cirrus ingest PATH...``: store DICOM files, folders and ZIP archives (same path as uploads)."""

from __future__ import annotations

import argparse
from pathlib import Path

from server.commands.common import add_data_dir, settings_from


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ingest", help="store DICOM files, folders and ZIP archives")
    p.add_argument("paths", nargs="+", type=Path, help="files, folders or ZIP archives")
    p.add_argument("--no-analysis", action="store_true", help="do not open analysis jobs")
    p.add_argument("--json", action="store_true", help="print the full summary as JSON")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    import orjson
    from tqdm import tqdm

    from dicomweb.errors import DicomWebError

    settings = settings_from(args)

    async def main() -> dict:
        from server.context import open_context
        from server.workflow import intake

        async with open_context(settings) as ctx:
            inputs = [(str(p), p.resolve()) for p in args.paths]
            with tqdm(unit="file", desc="ingest", disable=None) as bar:
                return await intake.upload(ctx, inputs, progress=bar.update, analyse=not args.no_analysis)

    try:
        result = asyncio.run(main())
    except DicomWebError as exc:
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
