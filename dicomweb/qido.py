"""QIDO-RS query parsing (PS3.18 §10.6, matching rules of §8.3.4).

A query string becomes an immutable :class:`QidoQuery`: the target level,
the path scope (study / series UID), one typed matcher per attribute,
the attributes to include, and paging. Nothing here touches a database;
``server.services.qido`` reads the expression and writes the SQL.

Matcher types (one small class per DICOM matching type, §8.3.4 / PS3.4 C.2.2.2)::

    Matcher
    ├── Universal     empty value or "*": no constraint, attribute returned
    ├── SingleValue   exact value (upper-cased for person names)
    ├── Wildcard      "*" any run, "?" one character (never for UI, dates, numbers)
    ├── Range         dates/times "A-B", "-B", "A-" (inclusive)
    ├── UidList       several UIDs joined by "\\" or ","
    ├── ValueList     several code strings (e.g. ModalitiesInStudy=CT\\MR)
    └── FuzzyName     fuzzymatching=true: the value starts any name component

Query parameter values arrive already percent-decoded once (``SYNTH%2A`` is
``SYNTH*``, ``includefield=a%2Cb`` is ``a,b``); the parser then splits
includefield on commas.

Private data elements (§8.3.4.1 item 4, §8.3.4.3, §10.6.1.2.1): an
includefield value may be a private tag (``00231002``); its block is named by a
Private Creator given as a match parameter (``00230010=AcmeCompany``), so the
element is found whatever block the creator holds in each instance (see
:func:`dicomweb.qido_fields.private_entries`). Matching on a private value
(``00091001=X``) is an instance-level match on the element as stored, its block
as written (with the Private Creator of that block checked when one is named).

Sequence matching (§8.3.4.1, PS3.4 C.2.2.2.6): ``Sequence.Attribute`` for the
pairs of :data:`SEQUENCE_MATCHABLE`; any item matching is a match.

Unsupported parameters: PS3.18 §8.3 says the origin server "shall ignore any
unsupported Query Parameters" and may warn. ``parse_query(...,
unsupported="ignore")`` does exactly that and lists what it ignored in
``QidoQuery.ignored`` (for the Warning header, :mod:`dicomweb.http_warnings`);
the default ``"error"`` answers 400 naming the parameter instead. Malformed
values of supported parameters are a 400 either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import Enum

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from dicomweb.errors import InvalidQuery

__all__ = [
    "MATCHABLE",
    "AttributeMatch",
    "FuzzyName",
    "IgnoredParameter",
    "Matcher",
    "PrivateField",
    "PrivateMatch",
    "SEQUENCE_MATCHABLE",
    "QidoQuery",
    "QueryLevel",
    "Range",
    "SingleValue",
    "UidList",
    "Universal",
    "ValueList",
    "Wildcard",
    "parse_match",
    "parse_query",
    "parse_sequence_match",
    "resolve_keyword",
]


class QueryLevel(Enum):
    STUDY = 1
    SERIES = 2
    INSTANCE = 3


# ---------------------------------------------------------------- matchers


@dataclass(frozen=True)
class Universal:
    """Universal matching (§8.3.4.1): matches every entity."""


@dataclass(frozen=True)
class SingleValue:
    value: str | int


@dataclass(frozen=True)
class Wildcard:
    """``pattern`` keeps DICOM wildcards: ``*`` any run, ``?`` exactly one character."""

    pattern: str


@dataclass(frozen=True)
class Range:
    """Inclusive range on strings of a fixed-width format (DA, TM); ``None`` is open.

    ``end`` of a partial time is padded to the last instant it covers
    (``"13"`` → ``"135959.999999"``) so that string comparison is exact.
    """

    start: str | None
    end: str | None


@dataclass(frozen=True)
class UidList:
    uids: tuple[str, ...]


@dataclass(frozen=True)
class ValueList:
    values: tuple[str, ...]


@dataclass(frozen=True)
class FuzzyName:
    """Upper-cased ``value`` (may hold wildcards) that must start some name component."""

    value: str


Matcher = Universal | SingleValue | Wildcard | Range | UidList | ValueList | FuzzyName


@dataclass(frozen=True)
class AttributeMatch:
    keyword: str
    level: QueryLevel
    matcher: Matcher
    # Person names match case-insensitively (§8.3.4.6): values are upper-cased.
    case_insensitive: bool = False
    # Sequence matching (§8.3.4.1, PS3.4 C.2.2.2.6): ``keyword`` is an attribute of an item of
    # this sequence; an entity matches when any item's value (any of its values) matches.
    sequence: str | None = None

    @property
    def returned(self) -> str:
        """The top-level keyword the match makes a return key (the sequence, for a nested key)."""
        return self.sequence or self.keyword


@dataclass(frozen=True)
class PrivateMatch:
    """Matching on a private data element (§8.3.4.1), instance level only: the element ``tag``
    exactly as written (``00091001``) in the instance's stored metadata; with ``creator`` the
    instance's Private Creator of that block (``00090010``) must be that creator too."""

    tag: int
    matcher: Matcher
    creator: str | None = None


@dataclass(frozen=True)
class PrivateField:
    """A private data element asked for with includefield (PS3.18 §8.3.4.3).

    ``group`` is odd; ``element`` is the low byte of the element number (``0x02`` of
    ``00231002``); ``block`` the high byte as written in the request (``0x10``).
    ``creator`` is the Private Creator named for that block by a match parameter, if any.
    A private creator element itself (``00230010``) has ``element`` None.
    """

    group: int
    block: int
    element: int | None
    creator: str | None = None

    @property
    def tag(self) -> int:
        """The tag as written in the request (creator: ``gggg00bb``; element: ``ggggbbee``)."""
        if self.element is None:
            return (self.group << 16) | self.block
        return (self.group << 16) | (self.block << 8) | self.element


@dataclass(frozen=True)
class IgnoredParameter:
    """A query parameter left out of the search (``unsupported="ignore"``) and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class QidoQuery:
    level: QueryLevel
    study_uid: str | None = None
    series_uid: str | None = None
    matches: tuple[AttributeMatch, ...] = ()
    include_fields: frozenset[str] = field(default_factory=frozenset)
    include_all: bool = False
    fuzzy: bool = False
    limit: int | None = None
    offset: int = 0
    private_fields: tuple[PrivateField, ...] = ()
    ignored: tuple[IgnoredParameter, ...] = ()
    private_matches: tuple[PrivateMatch, ...] = ()

    @property
    def returned_levels(self) -> frozenset[QueryLevel]:
        """Levels whose attributes each result carries (§10.6.3.3).

        The target level always; higher levels only when the path does not
        already fix them (``/series`` returns study attributes,
        ``/studies/{uid}/series`` does not).
        """
        levels = {self.level}
        if self.level is QueryLevel.INSTANCE and self.series_uid is None:
            levels.add(QueryLevel.SERIES)
        if self.level is not QueryLevel.STUDY and self.study_uid is None:
            levels.add(QueryLevel.STUDY)
        return frozenset(levels)

    def constraints(self) -> tuple[AttributeMatch, ...]:
        """The matches that restrict results (universal ones only ask for a return)."""
        return tuple(m for m in self.matches if not isinstance(m.matcher, Universal))


# ------------------------------------------------------ attributes as data

# Attributes that can be matched, with the level they belong to (the index
# columns of ``server.db.archive``; PS3.18 Tables 10.6.1-5 .. 10.6.1-7).
MATCHABLE: dict[str, QueryLevel] = {
    # study and patient
    "StudyInstanceUID": QueryLevel.STUDY,
    "StudyDate": QueryLevel.STUDY,
    "StudyTime": QueryLevel.STUDY,
    "AccessionNumber": QueryLevel.STUDY,
    "ModalitiesInStudy": QueryLevel.STUDY,
    "ReferringPhysicianName": QueryLevel.STUDY,
    "PatientName": QueryLevel.STUDY,
    "PatientID": QueryLevel.STUDY,
    "PatientBirthDate": QueryLevel.STUDY,
    "PatientSex": QueryLevel.STUDY,
    "StudyID": QueryLevel.STUDY,
    "StudyDescription": QueryLevel.STUDY,
    # series
    "SeriesInstanceUID": QueryLevel.SERIES,
    "Modality": QueryLevel.SERIES,
    "SeriesNumber": QueryLevel.SERIES,
    "SeriesDescription": QueryLevel.SERIES,
    "SeriesDate": QueryLevel.SERIES,
    "SeriesTime": QueryLevel.SERIES,
    "BodyPartExamined": QueryLevel.SERIES,
    "PerformedProcedureStepStartDate": QueryLevel.SERIES,
    # instance
    "SOPInstanceUID": QueryLevel.INSTANCE,
    "SOPClassUID": QueryLevel.INSTANCE,
    "InstanceNumber": QueryLevel.INSTANCE,
    "Rows": QueryLevel.INSTANCE,
    "Columns": QueryLevel.INSTANCE,
    "NumberOfFrames": QueryLevel.INSTANCE,
}

# Sequence matching (§8.3.4.1): (sequence, item attribute) → the level whose index row keeps the
# sequence as DICOM JSON (``server/services/indexing.py``: Request Attributes Sequence with the series,
# Procedure Code Sequence with the study). One level of nesting, as PS3.18 Table 10.6.1-5 lists them.
SEQUENCE_MATCHABLE: dict[tuple[str, str], QueryLevel] = {
    **{("ProcedureCodeSequence", kw): QueryLevel.STUDY
       for kw in ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")},
    **{("RequestAttributesSequence", kw): QueryLevel.SERIES
       for kw in ("ScheduledProcedureStepID", "RequestedProcedureID", "AccessionNumber", "StudyInstanceUID",
                  "RequestedProcedureDescription")},
}

# Code strings that may be given as a list ("CT\MR"): clients send modality lists.
LIST_KEYWORDS = frozenset({"ModalitiesInStudy", "Modality"})

INTEGER_VRS = frozenset({"IS", "US", "UL", "SS", "SL", "SV", "UV"})
MAX_VALUE_LENGTH = 324  # longest indexed column (PN)
MAX_UIDS = 1000  # UID list matching: keeps the SQL IN list within every database's limits

_HEX_TAG = re.compile(r"^[0-9A-Fa-f]{8}$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?$")
_INTEGER = re.compile(r"^[+-]?\d{1,10}$")


def resolve_keyword(name: str) -> str:
    """Keyword for a DICOM keyword or an 8-hex-digit tag; ``InvalidQuery`` otherwise."""
    name = name.strip()
    if "." in name:
        raise InvalidQuery(f"attribute {name!r}: sequence (nested) matching is not supported")
    if _HEX_TAG.match(name):
        keyword = keyword_for_tag(int(name, 16))
        if not keyword:
            raise InvalidQuery(f"unknown attribute tag {name!r}")
        return keyword
    if tag_for_keyword(name) is None:
        raise InvalidQuery(f"unknown attribute {name!r}")
    return name


def private_tag(name: str) -> int | None:
    """The tag of ``name`` if it is an 8-hex-digit private tag (odd group), else None."""
    name = name.strip()
    if not _HEX_TAG.match(name):
        return None
    tag = int(name, 16)
    group = tag >> 16
    if group % 2 == 0 or group in (0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF):
        return None  # even groups are standard; these odd groups are not private (PS3.5 §7.8.1)
    return tag


def _private_field(tag: int, creators: dict[tuple[int, int], str]) -> PrivateField:
    group, element = tag >> 16, tag & 0xFFFF
    if 0x0010 <= element <= 0x00FF:
        return PrivateField(group, element, None, creators.get((group, element)))
    if element < 0x1000:
        raise InvalidQuery(f"includefield: {tag:08X} is neither a private creator nor a private data element")
    block = element >> 8
    return PrivateField(group, block, element & 0xFF, creators.get((group, block)))


def _vr(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    assert tag is not None
    return str(dictionary_VR(tag))


# ------------------------------------------------------------ value parsing


def _has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


def _check_date(keyword: str, value: str) -> str:
    if not _DATE.match(value):
        raise InvalidQuery(f"{keyword}: {value!r} is not a date (YYYYMMDD)")
    try:
        date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise InvalidQuery(f"{keyword}: {value!r} is not a valid date") from None
    return value


def _check_time(keyword: str, value: str) -> str:
    m = _TIME.match(value)
    if not m:
        raise InvalidQuery(f"{keyword}: {value!r} is not a time (HHMMSS.FFFFFF)")
    hh, mm, ss = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    if hh > 23 or mm > 59 or ss > 60:
        raise InvalidQuery(f"{keyword}: {value!r} is not a valid time")
    return value


def _time_end(value: str) -> str:
    """Last instant covered by a partial time: "13" → "135959.999999"."""
    whole, _, frac = value.partition(".")
    whole = whole + "5959"[len(whole) - 2 :]
    return f"{whole}.{frac.ljust(6, '9')}"


def _parse_temporal(keyword: str, vr: str, value: str) -> Matcher:
    check = _check_date if vr == "DA" else _check_time
    if _has_wildcard(value):
        raise InvalidQuery(f"{keyword}: wildcards are not allowed in {vr} values ({value!r})")
    if "-" not in value:
        single = check(keyword, value)
        # A time matches everything within the precision it was given with.
        return SingleValue(single) if vr == "DA" else Range(single, _time_end(single))
    if value.count("-") > 1:
        raise InvalidQuery(f"{keyword}: {value!r} is not a range (A-B, -B or A-)")
    start_s, end_s = value.split("-")
    if not start_s and not end_s:
        raise InvalidQuery(f"{keyword}: range {value!r} has neither start nor end")
    start = check(keyword, start_s) if start_s else None
    end = check(keyword, end_s) if end_s else None
    if vr == "TM" and end is not None:
        end = _time_end(end)
    if start is not None and end is not None and start > end:
        raise InvalidQuery(f"{keyword}: range {value!r} ends before it starts")
    return Range(start, end)


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[\\,]", value)]


def _parse_uids(keyword: str, value: str) -> Matcher:
    uids = _split_list(value)
    if len(uids) > MAX_UIDS:
        raise InvalidQuery(f"{keyword}: more than {MAX_UIDS} UIDs in one list")
    for uid in uids:
        if len(uid) > 64 or not _UID.match(uid):
            raise InvalidQuery(f"{keyword}: {uid!r} is not a UID")
    unique = tuple(dict.fromkeys(uids))
    return SingleValue(unique[0]) if len(unique) == 1 else UidList(unique)


def _parse_integer(keyword: str, value: str) -> Matcher:
    if not _INTEGER.match(value.strip()):
        raise InvalidQuery(f"{keyword}: {value!r} is not an integer")
    return SingleValue(int(value.strip()))


def _parse_text(keyword: str, vr: str, value: str, fuzzy: bool) -> AttributeMatch:
    level = MATCHABLE[keyword]
    if vr == "PN":
        upper = value.upper()
        if fuzzy:
            return AttributeMatch(keyword, level, FuzzyName(upper), case_insensitive=True)
        matcher: Matcher = Wildcard(upper) if _has_wildcard(upper) else SingleValue(upper)
        return AttributeMatch(keyword, level, matcher, case_insensitive=True)
    if keyword in LIST_KEYWORDS and re.search(r"[\\,]", value):
        values = tuple(dict.fromkeys(v for v in _split_list(value) if v))
        if not values or any(_has_wildcard(v) for v in values):
            raise InvalidQuery(f"{keyword}: {value!r} is not a list of values")
        return AttributeMatch(keyword, level, ValueList(values))
    if _has_wildcard(value):
        return AttributeMatch(keyword, level, Wildcard(value))
    return AttributeMatch(keyword, level, SingleValue(value))


def parse_match(keyword: str, value: str, fuzzy: bool = False) -> AttributeMatch:
    """One matching key (keyword already resolved and known to be matchable)."""
    level = MATCHABLE[keyword]
    vr = _vr(keyword)
    value = value.strip()
    if value == "" or value == "*":
        return AttributeMatch(keyword, level, Universal(), case_insensitive=vr == "PN")
    if vr == "UI":
        return AttributeMatch(keyword, level, _parse_uids(keyword, value))
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidQuery(f"{keyword}: value longer than {MAX_VALUE_LENGTH} characters")
    if vr in ("DA", "TM"):
        return AttributeMatch(keyword, level, _parse_temporal(keyword, vr, value))
    if vr in INTEGER_VRS:
        return AttributeMatch(keyword, level, _parse_integer(keyword, value))
    return _parse_text(keyword, vr, value, fuzzy)


def _parse_item_value(name: str, vr: str, value: str) -> Matcher:
    """The matcher of a value inside a sequence item or a private element (compared as text)."""
    if vr == "UI":
        return _parse_uids(name, value)
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidQuery(f"{name}: value longer than {MAX_VALUE_LENGTH} characters")
    if vr in ("DA", "TM"):
        return _parse_temporal(name, vr, value)
    if vr in INTEGER_VRS:
        matcher = _parse_integer(name, value)
        assert isinstance(matcher, SingleValue)
        return SingleValue(str(matcher.value))  # JSON numbers are compared as their text
    return Wildcard(value) if _has_wildcard(value) else SingleValue(value)


def parse_sequence_match(name: str, value: str) -> AttributeMatch | None:
    """``Sequence.Attribute`` (keywords or tags) as a sequence match; None for universal matching.
    ``InvalidQuery`` when the pair is not one of :data:`SEQUENCE_MATCHABLE`."""
    parts = [p.strip() for p in name.split(".")]
    if len(parts) != 2 or not all(parts):
        raise InvalidQuery("sequence matching takes one level (Sequence.Attribute)")
    sequence, keyword = (_plain_keyword(p, name) for p in parts)
    level = SEQUENCE_MATCHABLE.get((sequence, keyword))
    if level is None:
        supported = ", ".join(f"{a}.{b}" for a, b in SEQUENCE_MATCHABLE)
        raise InvalidQuery(f"sequence matching is supported for {supported}")
    value = value.strip()
    if value in ("", "*"):
        return None
    return AttributeMatch(keyword, level, _parse_item_value(f"{sequence}.{keyword}", _vr(keyword), value),
                          sequence=sequence)


def _plain_keyword(part: str, name: str) -> str:
    if _HEX_TAG.match(part):
        keyword = keyword_for_tag(int(part, 16))
        if not keyword:
            raise InvalidQuery(f"attribute {name!r}: unknown tag {part}")
        return keyword
    if tag_for_keyword(part) is None:
        raise InvalidQuery(f"attribute {name!r}: unknown attribute {part!r}")
    return part


MAX_COUNT = 2**31 - 1  # what every database takes for LIMIT/OFFSET


def _parse_count(name: str, value: str, minimum: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise InvalidQuery(f"{name}: {value!r} is not an integer") from None
    if number < minimum:
        raise InvalidQuery(f"{name}: {value!r} must be at least {minimum}")
    if number > MAX_COUNT:
        raise InvalidQuery(f"{name}: {value[:40]!r} must be at most {MAX_COUNT}")
    return number


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise InvalidQuery(f"{name}: {value!r} must be true or false")
    return lowered == "true"


RESERVED = frozenset({"fuzzymatching", "limit", "offset", "includefield"})
# Content negotiation parameters (PS3.18 §8.3.3): read by the server, not search keys.
NEGOTIATION = frozenset({"accept", "charset"})


def parse_query(
    level: QueryLevel,
    params: Iterable[tuple[str, str]],
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    unsupported: str = "error",
) -> QidoQuery:
    """Parse decoded query parameters for a QIDO-RS search at ``level``.

    ``study_uid`` / ``series_uid`` are the path scope (``/studies/{study}/series``).
    Raises ``InvalidQuery`` naming the parameter for anything malformed; parameters that
    are well formed but not supported (unknown names, attributes that cannot be matched,
    matching on private elements or inside sequences) raise too unless ``unsupported`` is
    ``"ignore"``, which skips them and lists them in ``QidoQuery.ignored``.
    """
    if unsupported not in ("error", "ignore"):
        raise ValueError(f"unsupported must be 'error' or 'ignore', not {unsupported!r}")
    lenient = unsupported == "ignore"
    items = list(params)
    for name, uid in (("study", study_uid), ("series", series_uid)):
        if uid is not None and (len(uid) > 64 or not _UID.match(uid)):
            raise InvalidQuery(f"{name} UID in the path {uid!r} is not a UID")
    fuzzy = False
    limit: int | None = None
    offset = 0
    include: set[str] = set()
    include_private: list[int] = []
    include_all = False
    raw_matches: dict[str, str] = {}
    creators: dict[tuple[int, int], str] = {}
    ignored: list[IgnoredParameter] = []
    private_values: list[tuple[int, str]] = []
    nested_matches: list[AttributeMatch] = []

    def unsupported_parameter(name: str, reason: str) -> None:
        if not lenient:
            raise InvalidQuery(f"{name}: {reason}")
        ignored.append(IgnoredParameter(name, reason))

    for name, value in items:
        reserved = name.strip().lower()
        if "\x00" in value or "\x00" in name:
            # No DICOM value holds NUL, and PostgreSQL text cannot: a matching value with one is malformed.
            raise InvalidQuery(f"{name.replace(chr(0), '')[:64] or 'parameter'}: NUL characters are not allowed")
        if reserved == "fuzzymatching":
            fuzzy = _parse_bool("fuzzymatching", value)
        elif reserved == "limit":
            limit = _parse_count("limit", value, 1)
        elif reserved == "offset":
            offset = _parse_count("offset", value, 0)
        elif reserved == "includefield":
            for part in value.split(","):
                if not part.strip():
                    continue
                if part.strip().lower() == "all":
                    include_all = True
                elif (ptag := private_tag(part)) is not None:
                    include_private.append(ptag)
                else:
                    include.add(resolve_keyword(part))
        elif reserved in NEGOTIATION:
            continue
        elif (ptag := private_tag(name)) is not None:
            element = ptag & 0xFFFF
            matched = value.strip() not in ("", "*")
            if 0x0010 <= element <= 0x00FF and matched:
                # A Private Creator names the block of the private elements asked for (§8.3.4.1).
                creators[(ptag >> 16, element)] = value.strip()
                include_private.append(ptag)
            elif matched and level is QueryLevel.INSTANCE and element >= 0x1000:
                # Stored (in each instance's metadata): matched there, and returned (§8.3.4.1).
                private_values.append((ptag, value.strip()))
                include_private.append(ptag)
            elif matched:
                where = "a private creator is matched by naming it" if element < 0x1000 else \
                    "private data elements are matched in instance queries only (the instance metadata holds them)"
                unsupported_parameter(name, f"matching on private data element {ptag:08X} is not supported here: "
                                            f"{where}; ask for it with includefield")
            else:
                include_private.append(ptag)
        elif "." in name:
            try:
                nested = parse_sequence_match(name, value)
            except InvalidQuery as exc:
                unsupported_parameter(name, exc.message)
                continue
            if nested is None:
                include.add(_plain_keyword(name.split(".")[0].strip(), name))
            elif nested.level.value > level.value:
                raise InvalidQuery(f"attribute {name} is a {nested.level.name.lower()} attribute and cannot be "
                                   f"matched in a {level.name.lower()} query")
            else:
                nested_matches.append(nested)
        else:
            try:
                keyword = resolve_keyword(name)
            except InvalidQuery as exc:
                if not lenient:
                    raise
                ignored.append(IgnoredParameter(name, exc.message))
                continue
            if keyword in raw_matches:
                raise InvalidQuery(f"attribute {keyword} is given more than once")
            raw_matches[keyword] = value
    matches = []
    for keyword, value in raw_matches.items():
        attr_level = MATCHABLE.get(keyword)
        if attr_level is None:
            if value.strip() in ("", "*"):
                include.add(keyword)  # universal matching = a return key (§8.3.4.3)
                continue
            unsupported_parameter(keyword, f"attribute {keyword} is not supported for matching")
            continue
        if attr_level.value > level.value:
            raise InvalidQuery(
                f"attribute {keyword} is a {attr_level.name.lower()} attribute and cannot be "
                f"matched in a {level.name.lower()} query"
            )
        matches.append(parse_match(keyword, value, fuzzy))
    matches += nested_matches
    include.update(m.returned for m in matches)
    private = tuple(dict.fromkeys(_private_field(t, creators) for t in include_private))
    private_matches = tuple(
        PrivateMatch(t, _parse_item_value(f"{t:08X}", "LO", v), creators.get((t >> 16, (t & 0xFFFF) >> 8)))
        for t, v in private_values)
    return QidoQuery(
        level=level,
        study_uid=study_uid,
        series_uid=series_uid,
        matches=tuple(matches),
        include_fields=frozenset(include),
        include_all=include_all,
        fuzzy=fuzzy,
        limit=limit,
        offset=offset,
        private_fields=private,
        ignored=tuple(ignored),
        private_matches=private_matches,
    )
