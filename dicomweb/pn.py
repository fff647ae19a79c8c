"""Person name matching as a decision (PS3.18 §8.3.4.2, PS3.4 C.2.2.2.1, C.2.2.2.4).

The SQL of ``server.services.qido`` implements these rules over the indexed,
upper-cased names; this module states them once, for tests that pin the SQL
down and for matching outside the database (e.g. a worklist held in memory).

- Person names match case-insensitively (PS3.18 §8.3.4.6 leaves case to the
  server; Cirrus ignores it).
- Single value matching compares the whole stored value (all component groups).
- ``*`` matches any run of characters, ``?`` exactly one (PS3.4 C.2.2.2.4).
- ``fuzzymatching=true``: the value (wildcards allowed) has to begin the name,
  one of its components (after ``^``), a word of a component (after a space)
  or a component group (after ``=``) — so ``jo`` finds ``Doe^John``,
  ``Smith^Jane Mary`` is found by ``mary``, and ``山田`` finds
  ``Yamada^Tarou=山田^太郎``. PS3.4 leaves fuzzy semantics to the implementation;
  this is Cirrus's, documented in CONFORMANCE.md.
"""

from __future__ import annotations

import re
from functools import lru_cache

from dicomweb.qido import FuzzyName, Matcher, SingleValue, Universal, Wildcard

__all__ = ["fuzzy_name_match", "name_matches", "wildcard_match"]

_STARTS = ("", "^", " ", "=")


@lru_cache(maxsize=256)
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def wildcard_match(pattern: str, value: str) -> bool:
    """DICOM wildcard matching of the whole ``value`` (case as given)."""
    return _wildcard_regex(pattern).fullmatch(value) is not None


def fuzzy_name_match(query: str, name: str) -> bool:
    """``query`` begins the name, a component, a word of a component or a group."""
    q, n = query.upper(), name.upper()
    pattern = _wildcard_regex(q + "*")
    if pattern.fullmatch(n):
        return True
    for i, c in enumerate(n):
        if c in _STARTS[1:] and pattern.fullmatch(n[i + 1 :]):
            return True
    return False


def name_matches(matcher: Matcher, name: str) -> bool:
    """Whether a stored person name matches a parsed QIDO matcher (values are upper-cased by the parser)."""
    if isinstance(matcher, Universal):
        return True
    if isinstance(matcher, SingleValue):
        return name.upper() == str(matcher.value).upper()
    if isinstance(matcher, Wildcard):
        return wildcard_match(matcher.pattern.upper(), name.upper())
    if isinstance(matcher, FuzzyName):
        return fuzzy_name_match(matcher.value, name)
    raise ValueError(f"{type(matcher).__name__} is not a person name matcher")
