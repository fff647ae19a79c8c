"""Options shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from server.settings import Settings


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="data folder (default: $CIRRUS_DATA_DIR or ./data)")


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return Settings(**overrides)
