"""Which pull rule takes a study, which of its series, and why not: pure decisions, no I/O.

A rule has three filters in the language of ``server/gateway/rules.py`` with DICOM keywords as
fields: the study filter (on the study-level C-FIND answer), the series filter (on each
series-level answer, when the source answers series C-FIND; else on the first received instance
of each series) and the receive filter (on the first received instance of each series, for what
no query shows, e.g. ImageComments). A study filter of StudyDescription alone is refused: the
description is free text a technologist may leave useless, so it cannot be the only selector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from server.app_errors import InvalidInput
from server.gateway.rules import RuleSet, Value, parse_filter
from server.pull.hints import Order, apply_order

# HintBodyPart: the body part of the RIS/HIS order of the study (``server/pull/hints.py``).
STUDY_KEYWORDS = ("ModalitiesInStudy", "StudyDescription", "AccessionNumber", "ReferringPhysicianName",
                  "InstitutionName", "NumberOfStudyRelatedInstances", "BodyPartExamined", "HintBodyPart")
SERIES_KEYWORDS = ("Modality", "BodyPartExamined", "ProtocolName", "StudyDescription", "SeriesDescription",
                   "ImageType", "SliceThickness", "NumberOfSeriesRelatedInstances", "ConvolutionKernel",
                   "HintBodyPart")
RECEIVE_KEYWORDS = (*SERIES_KEYWORDS, "ImageComments", "SequenceName", "Manufacturer")
ALIASES = {"instances": "NumberOfSeriesRelatedInstances", "thickness": "SliceThickness",
           "bodypart": "BodyPartExamined", "kernel": "ConvolutionKernel", "modalities": "ModalitiesInStudy"}
# Few images, sent at once: pulled as soon as they are seen (no stability wait).
ON_SIGHT_MODALITIES = frozenset({"DX", "CR", "MG", "XA"})


def _fields(keywords: Sequence[str]) -> dict[str, str]:
    names = {k.lower(): k for k in keywords}
    names.update({alias: k for alias, k in ALIASES.items() if k in keywords})
    return names


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    institution_id: int
    priority: int
    days_back: int
    study: RuleSet
    series: RuleSet
    receive: RuleSet
    repull_new_series: bool = False


def compile_rule(*, id: int, name: str, institution_id: int, priority: int = 0, days_back: int = 0,
                 study_filter: str = "", series_filter: str = "", receive_filter: str = "",
                 repull_new_series: bool = False) -> CompiledRule:
    """A rule ready to match; ``InvalidInput`` naming the filter and term that is wrong."""
    if not 0 <= days_back <= 30:
        raise InvalidInput("days_back must be 0 (today only) to 30")
    study = parse_filter(study_filter, _fields(STUDY_KEYWORDS), "study filter")
    series = parse_filter(series_filter, _fields(SERIES_KEYWORDS), "series filter")
    receive = parse_filter(receive_filter, _fields(RECEIVE_KEYWORDS), "receive filter")
    if study.fields() == {"StudyDescription"} and not series.rules and not receive.rules:
        raise InvalidInput("a rule may not select by StudyDescription alone (free text, often useless): "
                           "add ModalitiesInStudy or a series filter")
    return CompiledRule(id, name, institution_id, priority, days_back, study, series, receive, repull_new_series)


@dataclass(frozen=True)
class SeriesVerdict:
    series_instance_uid: str
    taken: bool
    reason: str  # why not ("" when taken)


@dataclass(frozen=True)
class RuleVerdict:
    rule: CompiledRule
    taken: bool
    reason: str
    series: tuple[SeriesVerdict, ...] = ()

    @property
    def series_uids(self) -> list[str]:
        return [s.series_instance_uid for s in self.series if s.taken]


@dataclass(frozen=True)
class Decision:
    """The first rule (by priority, then id) that takes the study, and every verdict."""

    verdicts: tuple[RuleVerdict, ...]
    taken_by: RuleVerdict | None = field(default=None)


def judge(rule: CompiledRule, study: Mapping[str, Value],
          series: Sequence[Mapping[str, Value]] | None) -> RuleVerdict:
    """``rule`` on one study; ``series`` is None when the source does not answer series C-FIND
    (the series filter then waits for the first received instance of each series)."""
    why = rule.study.explain(study)
    if why is not None:
        return RuleVerdict(rule, False, f"study filter: {why}")
    if series is None or not rule.series.rules:
        return RuleVerdict(rule, True, "")
    verdicts = []
    for attrs in series:
        uid = str(attrs.get("SeriesInstanceUID") or "")
        merged = {**study, **attrs}
        reason = rule.series.explain(merged)
        verdicts.append(SeriesVerdict(uid, reason is None, reason or ""))
    if not any(v.taken for v in verdicts):
        detail = "; ".join(f"{v.series_instance_uid}: {v.reason}" for v in verdicts) or "no series answered"
        return RuleVerdict(rule, False, f"no series passes the series filter ({detail})", tuple(verdicts))
    return RuleVerdict(rule, True, "", tuple(verdicts))


def decide(rules: Sequence[CompiledRule], study: Mapping[str, Value],
           series: Sequence[Mapping[str, Value]] | None, orders: Mapping[int, Order] | None = None) -> Decision:
    """``orders``: the RIS/HIS order of the study per institution; a rule of that institution
    judges the attributes with the order's body part added."""
    ordered = sorted(rules, key=lambda r: (-r.priority, r.id))
    verdicts = []
    for rule in ordered:
        order = (orders or {}).get(rule.institution_id)
        verdicts.append(judge(rule, *apply_order(order, study, series)) if order else judge(rule, study, series))
    return Decision(tuple(verdicts), next((v for v in verdicts if v.taken), None))


def receive_reason(rule: CompiledRule, first_instance: Mapping[str, Value], series_checked: bool) -> str | None:
    """Why the series of ``first_instance`` is refused at receipt (None: kept). The series filter
    is applied here too when the query could not (``series_checked`` False)."""
    if not series_checked and rule.series.rules:
        why = rule.series.explain(first_instance)
        if why is not None:
            return f"series filter at receipt: {why}"
    why = rule.receive.explain(first_instance)
    return None if why is None else f"receive filter: {why}"


def query_dates(now: datetime, utc_offset_minutes: int, days_back: int) -> list[date]:
    """The StudyDate values to query: the source's today and ``days_back`` days before (a PACS
    whose clock differs from ours, or a study started before midnight)."""
    local = now.astimezone(timezone(timedelta(minutes=utc_offset_minutes)))
    return [local.date() - timedelta(days=n) for n in range(days_back, -1, -1)]


def exam_time(study_date: str, study_time: str, utc_offset_minutes: int) -> datetime | None:
    """StudyDate/StudyTime (the source's local time) as an aware UTC datetime."""
    digits = (study_time or "").split(".")[0].ljust(6, "0")[:6]
    try:
        local = datetime.strptime(f"{study_date}{digits}", "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return local.replace(tzinfo=timezone(timedelta(minutes=utc_offset_minutes))).astimezone(UTC)


def is_stable(modalities: Sequence[str], previous: int | None, current: int) -> bool:
    """Stable: the instance count did not change between two polls; DX/CR and kin on sight."""
    if current > 0 and any(m.upper() in ON_SIGHT_MODALITIES for m in modalities):
        return True
    return previous is not None and previous == current and current > 0


def queue_key(urgent: bool, priority: int, exam_at: datetime | None, row_id: int) -> tuple:  # type: ignore[type-arg]
    """Order of the pull queue: manual/urgent first, then rule priority, then oldest exam first."""
    missing = datetime.max.replace(tzinfo=UTC)
    return (not urgent, -priority, exam_at or missing, row_id)
