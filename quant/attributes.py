"""Attributes copied from a source image into derived objects, made valid per VR first.

Real exports carry values that strict writers refuse: PatientSex ``0``, PatientAge ``0``, dates
with dashes, over-long names, UIDs with letters. highdicom rejects some of them outright
("'0' is not a valid PatientSexValues") and pydicom warns on others, yet none of them is a
reason to fail an analysis. Every value copied into a derived object therefore passes through
:func:`clean_value`: a valid value is kept, a repairable one is corrected (``2024-01-31`` →
``20240131``, ``45`` → ``045Y``), anything else is dropped, and each change comes back as a
sentence for the result's warnings.

Rules: PS3.5 §6.2 (value representations: repertoire, length, format) — checked with pydicom's
validators; calendar dates, time ranges and the enumerated values of the attributes we copy
(PS3.3 C.7.1.1 PatientSex, C.8.3.1 MR Image module) are checked here as well.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydicom import config
from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import format_number_as_ds, validate_value

__all__ = [
    "Cleaned",
    "age_between",
    "clean_value",
    "copy_attributes",
    "valid_uid",
]

# Enumerated values of the attributes copied into derived objects (PS3.3 C.7.1.1, C.8.3.1).
ENUMERATED: dict[str, frozenset[str]] = {
    "PatientSex": frozenset({"M", "F", "O"}),
    "MRAcquisitionType": frozenset({"2D", "3D"}),
    "ScanningSequence": frozenset({"SE", "IR", "GR", "EP", "RM"}),
    "SequenceVariant": frozenset({"SK", "MTC", "SS", "TRSS", "SP", "MP", "OSP", "NONE"}),
}
# Spellings seen in exports that mean an enumerated value.
SYNONYMS: dict[str, dict[str, str]] = {
    "PatientSex": {"MALE": "M", "FEMALE": "F", "OTHER": "O"},
}
MAX_LENGTH = {"AE": 16, "AS": 4, "CS": 16, "DA": 8, "DS": 16, "IS": 12, "LO": 64, "LT": 10240,
              "SH": 16, "ST": 1024, "TM": 14, "DT": 26, "UI": 64}
TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC", "PN"})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1a\x1c-\x1f\x7f]")  # keeps TAB, LF, CR, ESC
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_AS = re.compile(r"^\d{3}[DWMY]$")
_AS_LOOSE = re.compile(r"^(\d{1,3})\s*([DWMY]?)$")
_DA_LOOSE = re.compile(r"^(\d{4})[-./ ](\d{1,2})[-./ ](\d{1,2})$")
_TM = re.compile(r"^(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?$")
_TM_LOOSE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?$")
_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$")
INT32 = 2**31 - 1


@dataclass(frozen=True)
class Cleaned:
    """The value to write (``None``: leave the attribute out) and what was changed, if anything."""

    keyword: str
    value: Any
    note: str = ""


def valid_uid(value: object) -> bool:
    """A UID as PS3.5 §9.1 defines it (digits and dots, no leading zeros, at most 64 chars)."""
    text = str(value or "")
    return 0 < len(text) <= 64 and bool(_UID.match(text))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 48 else text[:45] + "...'"


def _calendar(y: int, m: int, d: int) -> bool:
    try:
        datetime.date(y, m, d)
    except ValueError:
        return False
    return True


def _clean_da(s: str) -> str | None:
    if len(s) == 8 and s.isdigit():
        return s if _calendar(int(s[:4]), int(s[4:6]), int(s[6:])) else None
    m = _DA_LOOSE.match(s)
    if m and _calendar(int(m[1]), int(m[2]), int(m[3])):
        return f"{int(m[1]):04d}{int(m[2]):02d}{int(m[3]):02d}"
    return None


def _tm_ok(hh: str, mm: str | None, ss: str | None) -> bool:
    return int(hh) < 24 and (mm is None or int(mm) < 60) and (ss is None or int(ss) < 61)


def _clean_tm(s: str) -> str | None:
    m = _TM.match(s)
    if m:
        return s if _tm_ok(m[1], m[2], m[3]) else None
    m = _TM_LOOSE.match(s)
    if m and _tm_ok(m[1], m[2], m[3]):
        out = f"{int(m[1]):02d}{m[2]}{m[3] or ''}"
        return out + (f".{m[4][:6]}" if m[3] and m[4] else "")
    return None


def _clean_dt(s: str) -> str | None:
    compact = re.sub(r"[-:T ]", "", s) if not _DT.match(s) else s
    m = _DT.match(compact)
    if not m:
        return None
    year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
    if not _calendar(year, month, day) or not _tm_ok(m[4] or "00", m[5], m[6]):
        return None
    return compact


def _clean_as(s: str) -> str | None:
    if _AS.match(s):
        return s
    m = _AS_LOOSE.match(s.upper())
    if not m:
        return None
    n, unit = int(m[1]), m[2] or "Y"
    # 0 is what exports write for "unknown"; over 150 years is no age.
    if n == 0 or (unit == "Y" and n > 150):
        return None
    return f"{n:03d}{unit}"


def _clean_cs(keyword: str, s: str) -> str | None:
    up = s.upper()
    up = SYNONYMS.get(keyword, {}).get(up, up)
    allowed = ENUMERATED.get(keyword)
    if allowed is not None:
        return up if up in allowed else None
    if len(up) > 16 or not re.fullmatch(r"[A-Z0-9 _]*", up):
        return None
    return up


def _clean_ds(s: str) -> str | None:
    try:
        number = float(s)
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    try:
        validate_value("DS", s, config.RAISE)
        return s
    except ValueError:
        pass
    for digits in range(15, 0, -1):  # the most precise form that fits 16 characters
        text = f"{number:.{digits}g}"
        if len(text) <= 16:
            return text
    return str(format_number_as_ds(number))


def _clean_is(s: str) -> str | None:
    try:
        number = float(s)
    except ValueError:
        return None
    if not number.is_integer() or abs(number) > INT32:
        return None
    return str(int(number))


def _clean_pn(s: str) -> str:
    groups = s.split("=")[:3]
    out = []
    for g in groups:
        parts = g.split("^")
        if len(parts) > 5:  # family, given, middle, prefix, suffix
            parts = parts[:4] + [" ".join(parts[4:])]
        out.append("^".join(parts)[:64])
    return "=".join(out)


def _clean_one(keyword: str, vr: str, s: str) -> str | None:
    if vr in ("LT", "ST", "UT"):
        s = _CONTROL.sub("", s).rstrip(" \x00")
    else:
        s = _CONTROL.sub("", s).strip(" \x00")
    if s == "":
        return ""
    if vr == "DA":
        return _clean_da(s)
    if vr == "TM":
        return _clean_tm(s)
    if vr == "DT":
        return _clean_dt(s)
    if vr == "AS":
        return _clean_as(s)
    if vr == "CS":
        return _clean_cs(keyword, s)
    if vr == "DS":
        return _clean_ds(s)
    if vr == "IS":
        return _clean_is(s)
    if vr == "UI":
        return s if valid_uid(s) else None
    if vr == "PN":
        return _clean_pn(s)
    if vr in TEXT_VRS or vr == "AE":
        s = s.replace("\\", "/")
        return s[: MAX_LENGTH.get(vr, len(s))]
    return s


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (MultiValue, list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1").split("\\")
    return [str(value)]


def clean_value(keyword: str, value: Any) -> Cleaned:
    """A value for ``keyword`` that pydicom and highdicom accept, or ``None`` with the reason.

    Empty values stay empty (type 2 attributes may be empty). The note is empty when the value
    was already valid.
    """
    vr = dictionary_VR(keyword)
    if vr in ("SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        raise ValueError(f"{keyword}: VR {vr} is not a copied descriptive attribute")
    items = _strings(value)
    if not items:
        return Cleaned(keyword, "")
    original = value if not isinstance(value, MultiValue) else list(value)
    joined_note = ""
    if dictionary_VM(keyword) == "1" and len(items) > 1:
        if vr in TEXT_VRS:
            items = [" / ".join(items)]
        else:
            items = items[:1]
        joined_note = "several values in a single-valued attribute"
    cleaned = [_clean_one(keyword, vr, s) for s in items]
    bad = [s for s, c in zip(items, cleaned, strict=True) if c is None]
    good = [c for c in cleaned if c is not None]
    if bad:
        allowed = ENUMERATED.get(keyword)
        why = f"allowed: {', '.join(sorted(allowed))}" if allowed else f"not a valid {vr} value"
        shown = _show(bad[0] if len(bad) == 1 else bad)
        if not good:
            return Cleaned(keyword, None, f"{keyword} {shown} is invalid ({why}): left out")
        # Multi-valued: keep the valid values.
        joined_note = f"{shown} is invalid ({why}) and was left out"
    final: Any = good[0] if len(good) == 1 else good
    try:
        for v in good:
            validate_value(vr, v, config.RAISE)
    except ValueError as exc:
        return Cleaned(keyword, None, f"{keyword} {_show(original)} is invalid ({exc}): left out")
    if good == _strings(value) and not joined_note:
        return Cleaned(keyword, final)
    what = joined_note or f"not a valid {vr} value"
    if bad:
        return Cleaned(keyword, final, f"{keyword} {_show(original)}: {what}; written as {final!r}")
    return Cleaned(keyword, final, f"{keyword} {_show(original)} was corrected ({what}): written as {final!r}")


def age_between(birth: str, on: str) -> str | None:
    """PatientAge (AS) from two valid DA values: days under 4 weeks, weeks under 3 months,
    months under 2 years, else years (PS3.5 §6.2, AS)."""
    try:
        b = datetime.date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
        d = datetime.date(int(on[:4]), int(on[4:6]), int(on[6:8]))
    except (ValueError, IndexError):
        return None
    days = (d - b).days
    if days < 0:
        return None
    years = d.year - b.year - ((d.month, d.day) < (b.month, b.day))
    months = (d.year - b.year) * 12 + d.month - b.month - (d.day < b.day)
    if days < 28:
        return f"{days:03d}D"
    if months < 3:
        return f"{days // 7:03d}W"
    if years < 2:
        return f"{months:03d}M"
    return f"{years:03d}Y" if years <= 150 else None


def _read(source: Dataset, keyword: str) -> Any:
    """The element's value, or its raw text when pydicom cannot convert it."""
    try:
        return source[keyword].value
    except Exception:  # pydicom raises several types for unconvertible raw values
        raw = source.get_item(tag_for_keyword(keyword))  # type: ignore[arg-type]
        value = getattr(raw, "value", None)
        return value.decode("latin-1") if isinstance(value, bytes) else value


def copy_attributes(
    source: Dataset | None, target: Dataset, keywords: Sequence[str], notes: list[str]
) -> None:
    """Copy ``keywords`` present in ``source`` into ``target``, cleaned; changes go to ``notes``.

    An invalid PatientAge is replaced by the age computed from PatientBirthDate and StudyDate
    when both are valid. Non-ASCII text makes the target UTF-8 (ISO_IR 192): pydicom has
    already decoded the source's own character set.
    """
    if source is None:
        return
    cleaned: dict[str, Cleaned] = {}
    for kw in keywords:
        if kw not in source:
            continue
        c = clean_value(kw, _read(source, kw))
        cleaned[kw] = c
    age = cleaned.get("PatientAge")
    if age is not None and age.value is None:
        birth, study = cleaned.get("PatientBirthDate"), cleaned.get("StudyDate")
        if birth is not None and study is not None and birth.value and study.value:
            computed = age_between(str(birth.value), str(study.value))
            if computed:
                cleaned["PatientAge"] = Cleaned(
                    "PatientAge", computed, age.note.replace(": left out", "")
                    + f": written as {computed!r} (from PatientBirthDate and StudyDate)",
                )
    for kw, c in cleaned.items():
        if c.note:
            notes.append(c.note)
        if c.value is None:
            continue
        setattr(target, kw, c.value)
        text = " ".join(_strings(c.value))
        if not text.isascii():
            target.SpecificCharacterSet = "ISO_IR 192"
