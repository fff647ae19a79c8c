"""``Warning`` header values for partial success (PS3.18 §8.3, §8.3.4.2, §8.3.4.4.1, §10.5.3.2).

PS3.18 writes them as ``Warning: 299 <service>: <text>``; RFC 7234 §5.5 (which
PS3.18 cites) makes the text a quoted string after a warn-agent. Cirrus sends
``299 <agent> "<text>"`` with the standard's texts, so both readings parse:
the code is 299 (Miscellaneous Persistent Warning) and the text starts with
the DICOM status code when there is one, as §10.5.3.2 recommends
(``A700 <service>: Out of memory``).
"""

from __future__ import annotations

from collections.abc import Iterable

from dicomweb.qido import IgnoredParameter
from dicomweb.stow import InstanceOutcome

__all__ = [
    "additional_results",
    "fuzzy_not_supported",
    "ignored_parameters",
    "stow_malformed_body",
    "stow_partial",
    "warning",
]


def _quoted(text: str) -> str:
    # RFC 7230 quoted-string: escape backslash and quote; keep it on one line and printable ASCII
    # (header values are Latin-1 at most; a UID or a parameter name may carry anything).
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in text.replace("\r", " ").replace("\n", " "))
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def warning(text: str, agent: str = "cirrus") -> str:
    """One warning-value: ``299 <agent> "<text>"``."""
    return f"299 {agent} {_quoted(text)}"


def fuzzy_not_supported(agent: str = "cirrus") -> str:
    """§8.3.4.2, for a server that ignores ``fuzzymatching=true`` (Cirrus supports it)."""
    return warning("The fuzzymatching parameter is not supported. Only literal matching has been performed.", agent)


def additional_results(remaining: int | None, agent: str = "cirrus") -> str:
    """§8.3.4.4.1: more matches than were returned. ``remaining`` None: the count is not known."""
    if remaining is None:
        return warning("There are additional results that can be requested", agent)
    return warning(f"There are {remaining} additional results that can be requested", agent)


def ignored_parameters(ignored: Iterable[IgnoredParameter], agent: str = "cirrus") -> str | None:
    """§8.3: unsupported query parameters were ignored (``parse_query(..., unsupported="ignore")``)."""
    items = list(ignored)
    if not items:
        return None
    listed = "; ".join(f"{i.name} ({i.reason})" for i in items)
    return warning(f"The following query parameters are not supported and were ignored: {listed}", agent)


def stow_partial(outcomes: list[InstanceOutcome], agent: str = "cirrus") -> str | None:
    """§10.5.3.2: a 202 answer; the text starts with the first failure's DICOM status code."""
    failed = [o for o in outcomes if not o.ok]
    if not failed or len(failed) == len(outcomes):
        return None
    first = failed[0]
    code = f"{int(first.failure_reason or 0x0110):04X}"
    stored = len(outcomes) - len(failed)
    return warning(f"{code}: {stored} of {len(outcomes)} instances stored, {len(failed)} failed "
                   f"(FailedSOPSequence lists each, with FailureReason)", agent)


def stow_malformed_body(parts_read: int, message: str, agent: str = "cirrus") -> str:
    """The multipart body broke off after ``parts_read`` parts; what came before was stored."""
    return warning(f"C000: malformed multipart body after part {parts_read}: {message}", agent)
