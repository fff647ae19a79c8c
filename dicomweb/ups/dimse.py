"""UPS over DIMSE (PS3.4 Annex CC) translated to the UPS-RS service's vocabulary, and back.

The SCP (``server/dimse/ups.py``) serves N-CREATE, N-SET, N-GET, N-ACTION and C-FIND on the UPS
Push, Pull, Watch and Query SOP Classes by calling the same workitem service as UPS-RS; this
module holds what that needs and does no I/O:

- :func:`find_params`: a C-FIND identifier (DICOM JSON) → the search parameters of
  ``dicomweb.ups.query`` (matching keys with values, ``includefield`` for the return keys);
- :func:`find_response`: a matched workitem → the C-FIND response identifier (exactly the
  requested keys, PS3.4 C.4.1.1.3.2), empty where the workitem has no value;
- :func:`select_attributes`: the N-GET answer for an Attribute Identifier List (PS3.7 10.1.2);
- :func:`action_of` and :func:`subscription_params`: N-ACTION Action Type IDs (Table CC.2.1-1 …
  CC.2.3-1) and the Subscribe action's information (Receiving AE, Deletion Lock, Matching Keys);
- :func:`status_of`: the DIMSE status of a refusal whose message starts with its code.
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Any

from pydicom.datadict import keyword_for_tag

from dicomweb.ups.query import MAX_LIMIT

__all__ = ["Action", "DimseStatus", "action_of", "find_params", "find_response", "select_attributes",
           "status_of", "subscription_params"]

UPS_PUSH = "1.2.840.10008.5.1.4.34.6.1"
UPS_WATCH = "1.2.840.10008.5.1.4.34.6.2"
UPS_PULL = "1.2.840.10008.5.1.4.34.6.3"
UPS_EVENT = "1.2.840.10008.5.1.4.34.6.4"
UPS_QUERY = "1.2.840.10008.5.1.4.34.6.5"
FIND_CLASSES = frozenset({UPS_WATCH, UPS_PULL, UPS_QUERY})

# Not keys of a C-FIND identifier but of the message or of the answer's encoding.
_NOT_KEYS = {"00080005", "00080052"}  # SpecificCharacterSet, QueryRetrieveLevel
_RECEIVING_AE, _DELETION_LOCK = "00741234", "00741230"
_CODE = re.compile(r"^([0-9A-F]{4})\b")


class Action(IntEnum):
    """N-ACTION Action Type IDs of the UPS SOP Classes (PS3.4 CC.2.1.2, CC.2.2.2, CC.2.3.2)."""

    CHANGE_STATE = 1  # UPS Pull
    REQUEST_CANCEL = 2  # UPS Push, Watch
    SUBSCRIBE = 3  # UPS Watch
    UNSUBSCRIBE = 4
    SUSPEND_GLOBAL = 5


class DimseStatus(IntEnum):
    SUCCESS = 0x0000
    INVALID_ATTRIBUTE_VALUE = 0x0106
    PROCESSING_FAILURE = 0x0110
    NO_SUCH_ACTION = 0x0123
    MISSING_ATTRIBUTE = 0x0120
    IDENTIFIER_DOES_NOT_MATCH = 0xA900
    NO_SUCH_UPS = 0xC307  # "Specified SOP Instance UID does not exist or is not a UPS Instance managed by this SCP"


def action_of(action_type: int) -> Action | None:
    try:
        return Action(action_type)
    except ValueError:
        return None


def _values(element: dict[str, Any]) -> list[Any]:
    values = element.get("Value")
    return values if isinstance(values, list) else []


def _text(element: dict[str, Any]) -> str:
    out = []
    for v in _values(element):
        if isinstance(v, dict):  # PN
            v = v.get("Alphabetic", "")
        out.append(str(v))
    return "\\".join(out)


def _keyword(tag: str) -> str:
    try:
        return keyword_for_tag(int(tag, 16)) or tag
    except ValueError:
        return tag


def find_params(identifier: dict[str, Any]) -> list[tuple[str, str]]:
    """Search parameters for a C-FIND identifier: a valued key matches (Single Value, list, wildcard
    or range as the UPS-RS query takes them), an empty key is returned (``includefield``), and a
    sequence key matches on the values of its one item (``ReferencedRequestSequence.AccessionNumber``,
    ``ScheduledWorkitemCodeSequence.CodeValue``; any other valued item key is refused by the query,
    naming it). ``limit`` is the query's maximum: the SCP pages with ``offset``."""
    params: list[tuple[str, str]] = []
    include: list[str] = []
    for tag, element in identifier.items():
        if tag in _NOT_KEYS or not isinstance(element, dict):
            continue
        keyword = _keyword(tag)
        values = _values(element)
        if element.get("vr") == "SQ":
            item = values[0] if values and isinstance(values[0], dict) else {}
            matched = False
            for sub, sub_element in item.items():
                if isinstance(sub_element, dict) and _values(sub_element):
                    name = f"{keyword}.{_keyword(sub)}"
                    params.append(("AccessionNumber" if name == "ReferencedRequestSequence.AccessionNumber"
                                   else name, _text(sub_element)))
                    matched = True
            if not matched:
                include.append(keyword)
            continue
        text = _text(element)
        if text:
            params.append((keyword, text))
        else:
            include.append(keyword)
    if include:
        params.append(("includefield", ",".join(include)))
    params.append(("limit", str(MAX_LIMIT)))
    return params


def find_response(workitem: dict[str, Any], identifier: dict[str, Any]) -> dict[str, Any]:
    """The response identifier: every key of ``identifier`` with the workitem's value (empty if none);
    strings are Unicode, so the answer's Specific Character Set is ISO_IR 192."""
    out: dict[str, Any] = {"00080005": {"vr": "CS", "Value": ["ISO_IR 192"]}}
    for tag, element in identifier.items():
        if tag in _NOT_KEYS or not isinstance(element, dict):
            continue
        found = workitem.get(tag)
        out[tag] = found if isinstance(found, dict) else {"vr": element.get("vr", "UN")}
    return out


def select_attributes(workitem: dict[str, Any], tags: list[int] | None) -> dict[str, Any]:
    """N-GET: the listed attributes the workitem has (all of them for an empty list)."""
    if not tags:
        return dict(workitem)
    wanted = {f"{t:08X}" for t in tags}
    return {tag: element for tag, element in workitem.items() if tag in wanted}


def subscription_params(info: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """(Receiving AE, subscription parameters) of a Subscribe / Unsubscribe action: ``deletionlock``
    from Deletion Lock, and the Matching Keys of a filtered global subscription as search keys."""
    ae = _text(info.get(_RECEIVING_AE, {})).strip()
    params: list[tuple[str, str]] = []
    lock = _text(info.get(_DELETION_LOCK, {})).strip().upper()
    if lock:
        params.append(("deletionlock", "true" if lock == "TRUE" else "false" if lock == "FALSE" else lock))
    keys = {k: v for k, v in info.items() if k not in (_RECEIVING_AE, _DELETION_LOCK)}
    params += [(k, v) for k, v in find_params(keys) if k not in ("limit", "includefield")]
    return ae, params


def status_of(message: str, default: int) -> int:
    """The DIMSE status a refusal's message starts with (``C301: …``), else ``default``."""
    found = _CODE.match(message)
    return int(found.group(1), 16) if found else default
