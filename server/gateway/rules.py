"""Forwarding rules of the gateway: which received objects go to the cloud.

``gateway_forward_rules`` is a list of rules separated by ``;``. A rule is one or more
``field=value[,value...]`` terms separated by spaces; an object matches a rule when every term
matches (values are compared case-insensitively), and it is forwarded when any rule matches.
Fields: ``ae`` (calling AE title) and ``modality`` (Modality of the object). Empty: forward all.

    ae=CT_ROOM1,CT_ROOM2 modality=CT; modality=MR

forwards CT images from the two CT rooms and MR images from anyone. Other objects are still
acknowledged to the modality (it is allowed to send) but recorded as ``skipped`` with the reason,
and not kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.app_errors import InvalidInput

FIELDS = ("ae", "modality")


@dataclass(frozen=True)
class Rule:
    terms: tuple[tuple[str, frozenset[str]], ...]

    def matches(self, values: dict[str, str]) -> bool:
        return all(values.get(name, "").upper() in allowed for name, allowed in self.terms)


@dataclass(frozen=True)
class ForwardRules:
    rules: tuple[Rule, ...]

    def forwards(self, *, ae: str, modality: str) -> bool:
        values = {"ae": ae.strip(), "modality": modality.strip()}
        return not self.rules or any(rule.matches(values) for rule in self.rules)


def parse_rules(text: str) -> ForwardRules:
    """The rules of ``text``; ``InvalidInput`` naming the term that is not understood."""
    rules = []
    for chunk in text.split(";"):
        if not chunk.strip():
            continue
        terms = []
        for term in chunk.split():
            name, sep, values = term.partition("=")
            name = name.strip().lower()
            allowed = frozenset(v.strip().upper() for v in values.split(",") if v.strip())
            if not sep or name not in FIELDS or not allowed:
                raise InvalidInput(
                    f"forwarding rule term {term!r} is not understood: write field=value[,value], "
                    f"field one of {', '.join(FIELDS)}"
                )
            terms.append((name, allowed))
        rules.append(Rule(tuple(terms)))
    return ForwardRules(tuple(rules))
