"""The filter language of the gateway's forwarding rules and of PACS pull rules.

A rule list is rules separated by ``;``. A rule is one or more terms separated by spaces; an
object matches a rule when every term matches, and a rule list matches when any rule matches
(an empty list matches everything). A term is ``field OP value[,value...]``; values containing
spaces are quoted (``SeriesDescription~"pcasl 3d",asl``). Operators:

- ``=`` / ``!=``: a value equals (does not equal) one of the listed values, case-insensitively;
  for a multi-valued attribute any of its values counts (``ModalitiesInStudy=CT`` matches
  ``CT\\PR``: the containment match of PS3.4 C.2.2.2.1 for multi-valued attributes);
- ``~`` / ``!~``: a value contains (contains none of) the listed keywords, case-insensitively; a
  keyword also matches its mis-encoded variants (its UTF-8 or GB18030 bytes read as Latin-1 or
  Windows-1252, as a PACS that declares the wrong Specific Character Set shows it);
- ``<``, ``<=``, ``>``, ``>=``: a number compares with the one listed value.

The gateway's ``gateway_forward_rules`` use the fields ``ae`` (calling AE title) and ``modality``
with ``=``:

    ae=CT_ROOM1,CT_ROOM2 modality=CT; modality=MR

forwards CT images from the two CT rooms and MR images from anyone. Other objects are still
acknowledged to the modality (it is allowed to send) but recorded as ``skipped`` with the reason,
and not kept. Pull rules (``server/pull``) use DICOM keywords as fields.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from server.app_errors import InvalidInput

FIELDS = ("ae", "modality")
OPERATORS = ("!=", "!~", "<=", ">=", "=", "~", "<", ">")
NUMERIC_OPERATORS = frozenset({"<", "<=", ">", ">="})
_TERM = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)(!=|!~|<=|>=|=|~|<|>)(.*)$", re.DOTALL)

Value = str | float | int | None | Sequence[str]


def misencoded_variants(keyword: str) -> frozenset[str]:
    """``keyword`` and the forms it takes when its bytes are decoded with the wrong character set."""
    variants = {keyword.upper()}
    for encoding in ("utf-8", "gb18030"):
        try:
            raw = keyword.encode(encoding)
        except UnicodeEncodeError:
            continue
        for wrong in ("latin-1", "cp1252"):
            variants.add(raw.decode(wrong, errors="replace").upper())
    return frozenset(v for v in variants if v)


def _values(value: Value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split("\\")] if value else []
    if isinstance(value, (int, float)):
        return [str(value)]
    return [str(v).strip() for v in value]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Term:
    field: str  # the canonical field name (a DICOM keyword for pull rules)
    op: str
    values: tuple[str, ...]
    keywords: tuple[frozenset[str], ...] = ()  # ~ and !~: each value with its variants

    def matches(self, value: Value) -> bool:
        have = _values(value)
        if self.op in NUMERIC_OPERATORS:
            limit = float(self.values[0])
            numbers = [n for n in (_number(v) for v in have) if n is not None]
            compare = {"<": limit.__gt__, "<=": limit.__ge__, ">": limit.__lt__, ">=": limit.__le__}[self.op]
            return any(compare(n) for n in numbers)
        upper = [v.upper() for v in have]
        if self.op in ("=", "!="):
            hit = any(v in self.values for v in upper)
        else:
            hit = any(variant in v for v in upper for variants in self.keywords for variant in variants)
        return hit if self.op in ("=", "~") else not hit

    def text(self) -> str:
        return f"{self.field}{self.op}{','.join(self.values)}"


@dataclass(frozen=True)
class Rule:
    terms: tuple[Term, ...]

    def first_failure(self, values: Mapping[str, Value]) -> tuple[Term, Value] | None:
        for term in self.terms:
            value = values.get(term.field)
            if not term.matches(value):
                return term, value
        return None

    def matches(self, values: Mapping[str, Value]) -> bool:
        return self.first_failure(values) is None

    def text(self) -> str:
        return " ".join(term.text() for term in self.terms)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]

    def matches(self, values: Mapping[str, Value]) -> bool:
        return not self.rules or any(rule.matches(values) for rule in self.rules)

    def explain(self, values: Mapping[str, Value]) -> str | None:
        """None when ``values`` match; else why no rule does (each rule's first failing term)."""
        if self.matches(values):
            return None
        reasons = []
        for rule in self.rules:
            failed = rule.first_failure(values)
            if failed is not None:
                term, value = failed
                shown = "\\".join(_values(value)) or "(empty)"
                reasons.append(f"{term.text()} does not match {term.field} {shown!r}")
        return "; ".join(reasons)

    def fields(self) -> set[str]:
        return {term.field for rule in self.rules for term in rule.terms}


def parse_filter(text: str, fields: Mapping[str, str], what: str = "filter",
                 operators: Sequence[str] = OPERATORS) -> RuleSet:
    """The rules of ``text``; ``fields`` maps lower-case field names to canonical ones.
    ``InvalidInput`` naming the term that is not understood."""
    rules = []
    for chunk in text.split(";"):
        if not chunk.strip():
            continue
        try:
            words = shlex.split(chunk)
        except ValueError as exc:
            raise InvalidInput(f"{what} {chunk.strip()!r} is not understood: {exc}") from exc
        terms = []
        for word in words:
            found = _TERM.match(word)
            name = fields.get(found.group(1).lower()) if found else None
            op = found.group(2) if found else ""
            values = tuple(v.strip().upper() for v in found.group(3).split(",") if v.strip()) if found else ()
            numeric_ok = op not in NUMERIC_OPERATORS or (len(values) == 1 and _number(values[0]) is not None)
            if not found or name is None or op not in operators or not values or not numeric_ok:
                raise InvalidInput(
                    f"{what} term {word!r} is not understood: write field{'|'.join(operators)}value[,value], "
                    f"field one of {', '.join(sorted(set(fields.values())))}"
                    + ("; < <= > >= take one number" if not numeric_ok else "")
                )
            keywords = tuple(misencoded_variants(v) for v in values) if op in ("~", "!~") else ()
            terms.append(Term(name, op, values, keywords))
        rules.append(Rule(tuple(terms)))
    return RuleSet(tuple(rules))


@dataclass(frozen=True)
class ForwardRules:
    rules: RuleSet

    def forwards(self, *, ae: str, modality: str) -> bool:
        return self.rules.matches({"ae": ae.strip(), "modality": modality.strip()})


def parse_rules(text: str) -> ForwardRules:
    """The gateway's forwarding rules of ``text``; ``InvalidInput`` naming the term not understood."""
    return ForwardRules(parse_filter(text, {f: f for f in FIELDS}, "forwarding rule", operators=("=",)))
