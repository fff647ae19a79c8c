"""UID validation (PS3.5 §9.1): at most 64 characters, digits and dots, no
empty components, no leading zero in a multi-digit component."""

from __future__ import annotations

import re

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def uid_problem(value: object) -> str | None:
    """Why ``value`` is not a valid UID, or None if it is."""
    if value is None or value == "":
        return "missing"
    if not isinstance(value, str):
        value = str(value)
    if len(value) > 64:
        return f"longer than 64 characters ({len(value)})"
    if not _UID.match(value):
        return f"not a valid UID: {value[:80]!r}"
    return None


def is_valid_uid(value: object) -> bool:
    return uid_problem(value) is None
