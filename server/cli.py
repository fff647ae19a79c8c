"""``cirrus`` command line: each sub-command lives in ``server/commands/<name>.py``.

A command module exposes ``register(subparsers, help)``, which adds its parser and sets ``func``
(taking the parsed namespace, returning an exit code).

Only the module of the command being run is imported: the commands' own imports differ by
seconds (``quant`` with numpy/scipy/highdicom ≈ 1.5 s, alembic ≈ 1 s, the app ≈ 3 s measured on
the 2-core development machine), and ``cirrus migrate`` should not pay for ``cirrus serve``.
``cirrus --help`` lists every command from the table below without importing any of them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS: dict[str, str] = {
    "serve": "run the DICOMweb server and browser app",
    "migrate": "create or upgrade the database schema",
    "reindex": "backfill the QIDO-RS attribute rows of instances stored before the attribute lists changed",
    "ingest": "store DICOM files, folders and ZIP archives",
    "quant": "compute CBF (and ATT) maps from ASL images",
    "worker": "run analysis workers (separate from the API processes)",
    "dimse": "run the DICOM (DIMSE) SCP: C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET",
    "ae": "manage the DIMSE AE table (calling AEs, C-MOVE destinations)",
    "pull": "run the PACS pull worker (C-FIND polls, C-MOVE/C-GET, completeness) and its receiver",
    "gateway": "run the hospital-side forwarder (C-STORE SCP, spool, STOW-RS to the cloud); status; retry",
    "user": "manage user accounts: create, passwd, list",
    "institution": "manage institutions (hospitals): create, list",
    "token": "manage API tokens: create (printed once), list, revoke",
}


def _chosen(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cirrus", description="Cirrus: DICOMweb cloud PACS with ASL perfusion analysis."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _chosen(argv)
    for name, help_text in COMMANDS.items():
        if name == chosen:
            importlib.import_module(f"server.commands.{name}").register(sub, help_text)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
