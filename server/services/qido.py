"""QIDO-RS search: one SQL generator over a parsed ``QidoQuery`` (PS3.18 §10.6).

The query is read once into a SQLAlchemy Core select over study / series /
instance (no ORM object loading on this path), executed in one round trip,
and each row becomes a DICOM JSON object built from the index columns and the
stored ``attributes_json`` of the levels the response carries.

Visibility: the caller's tenant rule (``server.auth.visibility``) is part of the query's ``WHERE``
at every level; only instances with ``state == 'created'`` count; a study or series without such
an instance is not returned. Counts and ModalitiesInStudy come from the counter columns the ingest
path maintains (recounted over created instances). A study never mixes two tenants' uploads (STOW
refuses instances of a study the caller cannot see), so its counts reveal nothing of another
tenant. ModalitiesInStudy is also matched on that column, except wildcard values, which probe the
study's visible series.

Ordering (stable, so ``offset`` pages do not overlap): studies by StudyDate
descending, then newest row first; series by SeriesNumber then row; instances
by InstanceNumber then row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydicom.datadict import tag_for_keyword
from sqlalchemy import JSON, ColumnElement, Select, Table, Text, and_, cast, column, func, literal, or_, select, true
from sqlalchemy.engine import Row

from dicomweb.json_model import tag_hex
from dicomweb.qido import (
    MATCHABLE,
    AttributeMatch,
    FuzzyName,
    Matcher,
    PrivateMatch,
    QidoQuery,
    QueryLevel,
    Range,
    SingleValue,
    UidList,
    ValueList,
    Wildcard,
)
from dicomweb.qido_fields import INSTANCE_DEFAULTS, private_entries, return_keywords
from server.auth.principal import Principal
from server.auth.visibility import visible_studies
from server.context import AppContext
from server.db.archive import Instance, InstanceState, Series, Study
from server.services import bulk_uri
from server.services.indexing import INSTANCE_DEFAULT_KEYWORDS, SERIES_KEYWORDS, STUDY_KEYWORDS

STUDY: Table = Study.__table__  # type: ignore[attr-defined]
SERIES: Table = Series.__table__  # type: ignore[attr-defined]
INSTANCE: Table = Instance.__table__  # type: ignore[attr-defined]

CREATED = InstanceState.CREATED
# Largest page served when the client asks for none or for more (a Warning header says so).
MAX_RESULTS = 10_000

# Index column matched for each attribute of ``dicomweb.qido.MATCHABLE``.
# Person names are matched on upper-cased values (the parser upper-cases the query).
MATCH_COLUMNS: dict[str, ColumnElement[Any]] = {
    "StudyInstanceUID": STUDY.c.study_instance_uid,
    "StudyDate": STUDY.c.study_date,
    "StudyTime": STUDY.c.study_time,
    "AccessionNumber": STUDY.c.accession_number,
    "ReferringPhysicianName": func.upper(STUDY.c.referring_physician_name),
    "PatientName": STUDY.c.patient_name_upper,
    "PatientID": STUDY.c.patient_id,
    "PatientBirthDate": STUDY.c.patient_birth_date,
    "PatientSex": STUDY.c.patient_sex,
    "StudyID": STUDY.c.study_id,
    "StudyDescription": STUDY.c.study_description,
    "SeriesInstanceUID": SERIES.c.series_instance_uid,
    "Modality": SERIES.c.modality,
    "SeriesNumber": SERIES.c.series_number,
    "SeriesDescription": SERIES.c.series_description,
    "SeriesDate": SERIES.c.series_date,
    "SeriesTime": SERIES.c.series_time,
    "BodyPartExamined": SERIES.c.body_part_examined,
    "PerformedProcedureStepStartDate": SERIES.c.performed_procedure_step_start_date,
    "SOPInstanceUID": INSTANCE.c.sop_instance_uid,
    "SOPClassUID": INSTANCE.c.sop_class_uid,
    "InstanceNumber": INSTANCE.c.instance_number,
    "Rows": INSTANCE.c.rows,
    "Columns": INSTANCE.c.columns,
    "NumberOfFrames": INSTANCE.c.number_of_frames,
}
# Matched through the series of the study (a study "has" a modality if one of its series does).
SPECIAL_MATCHES = frozenset({"ModalitiesInStudy"})
assert set(MATCH_COLUMNS) | SPECIAL_MATCHES == set(MATCHABLE), "matchable table and columns disagree"


def _key(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return tag_hex(tag)


K = {
    kw: _key(kw)
    for kw in (
        "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "InstanceNumber",
        "Rows", "Columns", "NumberOfFrames", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances", "RetrieveURL",
        "InstanceAvailability",
    )
}
# Keywords an instance result answers from its index columns and its ``attributes_json``
# (every default of PS3.18 Table 10.6.3-5); any other requested keyword makes the query
# read the instance's stored metadata.
INSTANCE_ANSWERED = frozenset(INSTANCE_DEFAULTS)
assert INSTANCE_ANSWERED <= {*INSTANCE_DEFAULT_KEYWORDS, "InstanceAvailability", "RetrieveURL"}
# Defaults the server makes (counts, lists, URLs): never in an instance's stored metadata,
# so asking for them (the study and series defaults of /instances) needs no metadata read.
NOT_IN_METADATA = frozenset(
    {"ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
     "NumberOfSeriesRelatedInstances", "InstanceAvailability", "RetrieveURL"}
)
STORED_BY_LEVEL = {
    QueryLevel.STUDY: frozenset(STUDY_KEYWORDS),
    QueryLevel.SERIES: frozenset(SERIES_KEYWORDS),
    QueryLevel.INSTANCE: INSTANCE_ANSWERED,
}


# ------------------------------------------------------------------ matching


def _like_pattern(pattern: str) -> str:
    """DICOM wildcards → SQL LIKE with ``\\`` as the escape character."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _glob_pattern(pattern: str) -> str:
    """DICOM wildcards → SQLite GLOB; ``*`` and ``?`` are the same, ``[`` is quoted."""
    return pattern.replace("[", "[[]")


def _wildcard(column: ColumnElement[Any], pattern: str, dialect: str) -> ColumnElement[bool]:
    # SQLite's LIKE ignores case and cannot use a BINARY index; GLOB is case-sensitive
    # and turns a literal prefix into an index range. PostgreSQL's LIKE uses the
    # *_pattern_ops indexes of migration 0002 for prefixes.
    if dialect == "sqlite":
        return column.op("GLOB", is_comparison=True)(_glob_pattern(pattern))
    return column.like(_like_pattern(pattern), escape="\\")


def _matcher_clause(column: ColumnElement[Any], matcher: Matcher, dialect: str) -> ColumnElement[bool]:
    if isinstance(matcher, SingleValue):
        return column == matcher.value
    if isinstance(matcher, Range):
        parts = [column != ""]
        if matcher.start is not None:
            parts.append(column >= matcher.start)
        if matcher.end is not None:
            parts.append(column <= matcher.end)
        return and_(*parts)
    if isinstance(matcher, UidList):
        return column.in_(matcher.uids)
    if isinstance(matcher, ValueList):
        return column.in_(matcher.values)
    if isinstance(matcher, Wildcard):
        return _wildcard(column, matcher.pattern, dialect)
    if isinstance(matcher, FuzzyName):
        # The value starts the name or any component / word of it.
        return or_(
            *(_wildcard(column, f"{lead}{matcher.value}*", dialect) for lead in ("", "*^", "* ", "*="))
        )
    raise AssertionError(f"unhandled matcher {matcher!r}")


def _created_in(column: ColumnElement[Any]) -> ColumnElement[bool]:
    return (
        select(literal(1))
        .select_from(INSTANCE)
        .where(column, INSTANCE.c.state == CREATED)
        .exists()
    )


def _study_visible() -> ColumnElement[bool]:
    return _created_in(INSTANCE.c.study_id == STUDY.c.id)


def _series_visible() -> ColumnElement[bool]:
    return _created_in(INSTANCE.c.series_id == SERIES.c.id)


def _modalities_contain(values: tuple[str, ...], dialect: str) -> ColumnElement[bool]:
    """The study's modality list (``CT\\MR``, kept by ingest) holds one of ``values``."""
    padded = literal("\\") + STUDY.c.modalities_in_study + literal("\\")
    position = func.instr if dialect == "sqlite" else func.strpos
    return or_(*(position(padded, f"\\{v}\\") > 0 for v in values))


def match_clause(match: AttributeMatch, dialect: str) -> ColumnElement[bool]:
    if match.sequence is not None:
        return sequence_clause(match, dialect)
    if match.keyword == "ModalitiesInStudy" and isinstance(match.matcher, SingleValue | ValueList):
        # A string test on the study row: far cheaper than probing its series, and it is
        # the very list returned as ModalitiesInStudy, so results agree with the match.
        wanted = match.matcher.values if isinstance(match.matcher, ValueList) else (str(match.matcher.value),)
        return _modalities_contain(wanted, dialect)
    if match.keyword == "ModalitiesInStudy":
        return (
            select(literal(1))
            .select_from(SERIES)
            .where(
                SERIES.c.study_id == STUDY.c.id,
                _matcher_clause(SERIES.c.modality, match.matcher, dialect),
                _series_visible(),
            )
            .exists()
        )
    return _matcher_clause(MATCH_COLUMNS[match.keyword], match.matcher, dialect)


# ------------------------------------------------------- matching inside stored DICOM JSON

# The index row that keeps each level's DICOM JSON (bytes of UTF-8 JSON, ``server/services/indexing.py``).
JSON_COLUMNS = {QueryLevel.STUDY: STUDY.c.attributes_json, QueryLevel.SERIES: SERIES.c.attributes_json}


def _json_doc(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return cast(column, Text)
    return cast(func.convert_from(column, "UTF8"), JSON)


def _values_of(doc: ColumnElement[Any], path: tuple[str, ...], dialect: str) -> tuple[list[Any], ColumnElement[Any]]:
    """FROM items and the value column that list every value at ``path`` (tags; every tag but the
    last a sequence whose items are walked) of the DICOM JSON ``doc``; a value is compared as text."""
    froms: list[Any] = []
    current = doc
    for i, tag in enumerate(path):
        last = i == len(path) - 1
        if dialect == "sqlite":
            each = func.json_each(current, f'$."{tag}".Value').table_valued("value")
            froms.append(each)
            current = each.c.value
        else:
            array = current[tag]["Value"]
            each = (func.json_array_elements_text(array) if last else func.json_array_elements(array)
                    ).table_valued(column("value", Text if last else JSON))
            froms.append(each)
            current = each.c.value
    value = cast(current, Text) if dialect == "sqlite" else current
    return froms, value


def _any_value(doc: ColumnElement[Any], path: tuple[str, ...], matcher: Matcher,
               dialect: str) -> ColumnElement[bool]:
    froms, value = _values_of(doc, path, dialect)
    joined = froms[0]
    for inner in froms[1:]:  # each walks the items of the one before (an implicit LATERAL on PostgreSQL)
        joined = joined.join(inner, true())
    return select(literal(1)).select_from(joined).where(_matcher_clause(value, matcher, dialect)).exists()


def sequence_clause(match: AttributeMatch, dialect: str) -> ColumnElement[bool]:
    """Any item of the sequence has a value that matches (PS3.4 C.2.2.2.6), in the level's stored JSON."""
    assert match.sequence is not None
    doc = _json_doc(JSON_COLUMNS[match.level], dialect)
    return _any_value(doc, (_key(match.sequence), _key(match.keyword)), match.matcher, dialect)


def private_clause(match: PrivateMatch, dialect: str) -> ColumnElement[bool]:
    """The instance's stored metadata has the private element (as written) with a matching value,
    and, when named, the Private Creator of its block."""
    doc = _json_doc(INSTANCE.c.metadata_json, dialect)
    clause = _any_value(doc, (f"{match.tag:08X}",), match.matcher, dialect)
    if match.creator is None:
        return clause
    creator_tag = (match.tag & 0xFFFF0000) | ((match.tag & 0xFF00) >> 8)
    return and_(clause, _any_value(doc, (f"{creator_tag:08X}",), SingleValue(match.creator), dialect))


def _needs_metadata(query: QidoQuery) -> bool:
    if query.level is not QueryLevel.INSTANCE:
        return False
    if query.include_all or query.private_fields:
        return True
    answered: set[str] = set()
    for level in query.returned_levels:
        answered |= STORED_BY_LEVEL[level]
    answered |= {"StudyInstanceUID", "SeriesInstanceUID"} | NOT_IN_METADATA
    # The defaults of PS3.18 Table 10.6.3-5 come from the index columns and attributes_json.
    return bool((query.include_fields | return_keywords(query)) - answered)


def build_select(query: QidoQuery, dialect: str, limit: int,
                 visible: ColumnElement[bool] | None = None) -> Select[Any]:
    """The one SQL generator: a Core select for ``query`` returning at most ``limit`` rows.

    ``visible`` is the caller's tenant rule over the study row (``server.auth.visibility``);
    None applies none (only for tests of the generated SQL).
    """
    levels = query.returned_levels
    if query.level is QueryLevel.STUDY:
        stmt = select(
            STUDY.c.study_instance_uid,
            STUDY.c.attributes_json.label("study_json"),
            STUDY.c.modalities_in_study,
            STUDY.c.number_of_series,
            STUDY.c.number_of_instances,
        ).where(_study_visible())
        order: list[Any] = [STUDY.c.study_date.desc(), STUDY.c.id.desc()]
    elif query.level is QueryLevel.SERIES:
        columns: list[Any] = [
            STUDY.c.study_instance_uid,
            SERIES.c.series_instance_uid,
            SERIES.c.attributes_json.label("series_json"),
            SERIES.c.number_of_instances,
        ]
        if QueryLevel.STUDY in levels:
            columns.append(STUDY.c.attributes_json.label("study_json"))
        stmt = (
            select(*columns)
            .select_from(SERIES.join(STUDY, SERIES.c.study_id == STUDY.c.id))
            .where(_series_visible())
        )
        order = [SERIES.c.series_number.asc().nulls_last(), SERIES.c.id]
        if query.study_uid is None:
            order = [STUDY.c.study_date.desc(), STUDY.c.id.desc(), *order]
    else:
        columns = [
            STUDY.c.study_instance_uid,
            SERIES.c.series_instance_uid,
            INSTANCE.c.sop_instance_uid,
            INSTANCE.c.sop_class_uid,
            INSTANCE.c.instance_number,
            INSTANCE.c.rows,
            INSTANCE.c.columns,
            INSTANCE.c.number_of_frames,
            INSTANCE.c.attributes_json.label("instance_json"),
        ]
        if QueryLevel.SERIES in levels:
            columns.append(SERIES.c.attributes_json.label("series_json"))
        if QueryLevel.STUDY in levels:
            columns.append(STUDY.c.attributes_json.label("study_json"))
        if _needs_metadata(query):
            columns.append(INSTANCE.c.metadata_json)
        stmt = (
            select(*columns)
            .select_from(
                INSTANCE.join(SERIES, INSTANCE.c.series_id == SERIES.c.id).join(
                    STUDY, INSTANCE.c.study_id == STUDY.c.id
                )
            )
            .where(INSTANCE.c.state == CREATED)
        )
        order = [INSTANCE.c.instance_number.asc().nulls_last(), INSTANCE.c.id]
        if query.series_uid is None:
            order = [SERIES.c.series_number.asc().nulls_last(), SERIES.c.id, *order]
        if query.study_uid is None:
            order = [STUDY.c.study_date.desc(), STUDY.c.id.desc(), *order]
    if query.study_uid is not None:
        stmt = stmt.where(STUDY.c.study_instance_uid == query.study_uid)
    if query.series_uid is not None:
        stmt = stmt.where(SERIES.c.series_instance_uid == query.series_uid)
    for match in query.constraints():
        stmt = stmt.where(match_clause(match, dialect))
    for private in query.private_matches:
        stmt = stmt.where(private_clause(private, dialect))
    if visible is not None:
        stmt = stmt.where(visible)
    return stmt.order_by(*order).limit(limit).offset(query.offset)


# ------------------------------------------------------------------ results


def _value(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)}


def _load(raw: bytes | None) -> dict[str, Any]:
    if not raw:
        return {}
    loaded = orjson.loads(raw)
    return loaded if isinstance(loaded, dict) else {}


class ResultBuilder:
    """DICOM JSON objects for the rows of one query."""

    def __init__(self, query: QidoQuery, base_url: str) -> None:
        self.query = query
        self.base = base_url.rstrip("/")
        self.include_keys = {_key(kw) for kw in query.include_fields | return_keywords(query)}

    def study(self, row: Row[Any]) -> dict[str, Any]:
        out = _load(row.study_json)
        uid = row.study_instance_uid
        out[K["StudyInstanceUID"]] = _value("UI", uid)
        modalities = [m for m in (row.modalities_in_study or "").split("\\") if m]
        # OHIF's study list breaks on an empty ModalitiesInStudy: leave it out instead.
        if modalities:
            out[K["ModalitiesInStudy"]] = _value("CS", *modalities)
        else:
            out.pop(K["ModalitiesInStudy"], None)
        out[K["NumberOfStudyRelatedSeries"]] = _value("IS", int(row.number_of_series))
        out[K["NumberOfStudyRelatedInstances"]] = _value("IS", int(row.number_of_instances))
        out[K["InstanceAvailability"]] = _value("CS", "ONLINE")
        out[K["RetrieveURL"]] = _value("UR", f"{self.base}/studies/{uid}")
        return out

    def series(self, row: Row[Any]) -> dict[str, Any]:
        out = _load(row.study_json) if "study_json" in row._fields else {}
        out.update(_load(row.series_json))
        study_uid, series_uid = row.study_instance_uid, row.series_instance_uid
        out[K["StudyInstanceUID"]] = _value("UI", study_uid)
        out[K["SeriesInstanceUID"]] = _value("UI", series_uid)
        out[K["NumberOfSeriesRelatedInstances"]] = _value("IS", int(row.number_of_instances))
        out[K["InstanceAvailability"]] = _value("CS", "ONLINE")
        out[K["RetrieveURL"]] = _value("UR", f"{self.base}/studies/{study_uid}/series/{series_uid}")
        return out

    def instance(self, row: Row[Any]) -> dict[str, Any]:
        fields = row._fields
        out: dict[str, Any] = _load(row.instance_json)
        if "metadata_json" in fields:
            metadata = _instance_metadata(row.metadata_json, self.base)
            if self.query.include_all:
                out.update(metadata)
            else:
                out.update({k: v for k, v in metadata.items() if k in self.include_keys})
            for field in self.query.private_fields:
                out.update(private_entries(metadata, field))
        if "study_json" in fields:
            out.update(_load(row.study_json))
        if "series_json" in fields:
            out.update(_load(row.series_json))
        study_uid, series_uid, sop_uid = row.study_instance_uid, row.series_instance_uid, row.sop_instance_uid
        out[K["StudyInstanceUID"]] = _value("UI", study_uid)
        out[K["SeriesInstanceUID"]] = _value("UI", series_uid)
        out[K["SOPInstanceUID"]] = _value("UI", sop_uid)
        if row.sop_class_uid:
            out[K["SOPClassUID"]] = _value("UI", row.sop_class_uid)
        if row.instance_number is not None:
            out[K["InstanceNumber"]] = _value("IS", int(row.instance_number))
        if row.rows is not None:
            out[K["Rows"]] = _value("US", int(row.rows))
        if row.columns is not None:
            out[K["Columns"]] = _value("US", int(row.columns))
        if row.number_of_frames:
            out[K["NumberOfFrames"]] = _value("IS", int(row.number_of_frames))
        out[K["InstanceAvailability"]] = _value("CS", "ONLINE")
        out[K["RetrieveURL"]] = _value(
            "UR", f"{self.base}/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}"
        )
        return out

    def build(self, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
        make = {
            QueryLevel.STUDY: self.study,
            QueryLevel.SERIES: self.series,
            QueryLevel.INSTANCE: self.instance,
        }[self.query.level]
        return [make(row) for row in rows]


def _instance_metadata(raw: bytes | None, base: str) -> dict[str, Any]:
    if not raw:
        return {}
    return _load(bulk_uri.resolve(raw, base))


@dataclass(frozen=True)
class QidoResult:
    items: list[dict[str, Any]]
    # True when more matches exist than the server's cap allowed us to return.
    truncated: bool


class QidoService:
    def __init__(self, ctx: AppContext, max_results: int = MAX_RESULTS) -> None:
        self.ctx = ctx
        self.dialect = ctx.engine.dialect.name
        self.max_results = max_results

    async def search(self, query: QidoQuery, base_url: str, principal: Principal) -> QidoResult:
        """Run ``query`` as ``principal`` sees the archive (its tenant rule is part of the SQL);
        ``base_url`` is the public DICOMweb root used for RetrieveURL."""
        cap = self.max_results
        wanted = min(query.limit or cap, cap)
        # One extra row tells whether the server-side cap cut the answer short.
        stmt = build_select(query, self.dialect, wanted + 1, visible_studies(principal))
        async with self.ctx.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        truncated = len(rows) > wanted and (query.limit is None or query.limit > cap)
        return QidoResult(ResultBuilder(query, base_url).build(rows[:wanted]), truncated)

    async def stored_objects(self, query: QidoQuery, principal: Principal) -> list[tuple[str, str, str, str, str]]:
        """(SOPClassUID, SOPInstanceUID, transfer syntax, blob key, StudyInstanceUID) of every
        instance an instance-level ``query`` matches, in QIDO order (for DIMSE retrieve)."""
        assert query.level is QueryLevel.INSTANCE
        stmt = build_select(query, self.dialect, self.max_results, visible_studies(principal)).with_only_columns(
            INSTANCE.c.sop_class_uid, INSTANCE.c.sop_instance_uid, INSTANCE.c.transfer_syntax_uid,
            INSTANCE.c.blob_key, STUDY.c.study_instance_uid,
        )
        async with self.ctx.engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(stmt)).all()]  # type: ignore[misc]
