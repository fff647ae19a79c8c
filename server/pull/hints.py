"""RIS/HIS order hints for PACS pull: what a study is meant to be, when its DICOM attributes
misdescribe it (a head MR sent with BodyPartExamined KNEE, a blank description).

An upload is CSV (a header row naming the columns) or JSON (``{"orders": [...]}``) of orders with
``accession_number`` and/or ``patient_id``, ``body_part`` and ``priority`` (``routine`` or
``urgent``; ``stat``/``high`` read as urgent). A poll looks the study up by its AccessionNumber,
else by its PatientID among orders that carry no accession number. The hint's body part is then a
further value of BodyPartExamined (study and series level, and of the first received instance)
and the field ``HintBodyPart`` for the rules of the hint's institution; an urgent order is queued
before the rest. Pure: parsing and the attribute rewrite, no I/O.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.app_errors import InvalidInput
from server.gateway.rules import Value

COLUMNS = ("accession_number", "patient_id", "body_part", "priority")
# Header names as written (case, spaces and underscores ignored) → the column.
COLUMN_NAMES = {"accessionnumber": "accession_number", "accession": "accession_number", "patientid": "patient_id",
                "bodypart": "body_part", "bodypartexamined": "body_part", "priority": "priority"}
PRIORITIES = {"": "routine", "routine": "routine", "normal": "routine", "low": "routine", "urgent": "urgent",
              "stat": "urgent", "high": "urgent", "emergency": "urgent"}
MAX_ORDERS = 20000


@dataclass(frozen=True)
class Order:
    accession_number: str
    patient_id: str
    body_part: str
    priority: str  # routine | urgent

    @property
    def urgent(self) -> bool:
        return self.priority == "urgent"

    def describe(self) -> str:
        key = f"accession {self.accession_number}" if self.accession_number else f"patient {self.patient_id}"
        return f"RIS order ({key}): body part {self.body_part or '-'}, priority {self.priority}"


def _order(raw: Mapping[str, Any], where: str) -> Order:
    unknown = sorted(set(raw) - set(COLUMNS))
    if unknown:
        raise InvalidInput(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(COLUMNS)}")
    values = {}
    for name in COLUMNS:
        value = raw.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value.strip()) > 64:
            raise InvalidInput(f"{where}: {name} must be a string of at most 64 characters")
        values[name] = value.strip()
    if not values["accession_number"] and not values["patient_id"]:
        raise InvalidInput(f"{where}: give accession_number or patient_id")
    if not values["body_part"]:
        raise InvalidInput(f"{where}: body_part is empty")
    priority = PRIORITIES.get(values["priority"].lower())
    if priority is None:
        raise InvalidInput(f"{where}: priority {values['priority']!r} is not routine or urgent")
    body_part = values["body_part"].upper()
    if len(body_part) > 64:  # upper case can be longer (ß → SS)
        raise InvalidInput(f"{where}: body_part must be at most 64 characters")
    return Order(values["accession_number"], values["patient_id"], body_part, priority)


def _checked(orders: list[Order]) -> list[Order]:
    if not orders:
        raise InvalidInput("the upload holds no orders")
    if len(orders) > MAX_ORDERS:
        raise InvalidInput(f"at most {MAX_ORDERS} orders per upload")
    return orders


def parse_csv(text: str) -> list[Order]:
    """Orders of a CSV text whose first row names the columns (``,`` or ``;`` separated)."""
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
    try:
        rows = [r for r in reader if any(cell.strip() for cell in r)]
    except csv.Error as exc:
        raise InvalidInput(f"the CSV cannot be read ({exc})") from None
    if not rows:
        raise InvalidInput("the CSV is empty")
    header = [COLUMN_NAMES.get(h.strip().lower().replace(" ", "").replace("_", ""), h.strip()) for h in rows[0]]
    orders = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) > len(header):
            raise InvalidInput(f"CSV line {n}: {len(row)} cells, the header names {len(header)}")
        orders.append(_order(dict(zip(header, row, strict=False)), f"CSV line {n}"))
    return _checked(orders)


def parse_json(body: Mapping[str, Any]) -> list[Order]:
    unknown = sorted(set(body) - {"orders"})
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; known: orders")
    items = body.get("orders")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidInput("orders must be a list of objects")
    return _checked([_order(item, f"order {n}") for n, item in enumerate(items, start=1)])


def find_order(orders: Sequence[Order], accession: str, patient_id: str) -> Order | None:
    """The order of a study: by AccessionNumber, else by PatientID among orders without one."""
    if accession:
        hit = next((o for o in orders if o.accession_number == accession), None)
        if hit is not None:
            return hit
    if patient_id:
        return next((o for o in orders if not o.accession_number and o.patient_id == patient_id), None)
    return None


def _with_body_part(attrs: Mapping[str, Value], body_part: str) -> dict[str, Value]:
    out = dict(attrs)
    have = out.get("BodyPartExamined")
    values = [have] if isinstance(have, str) and have else list(have) if isinstance(have, (list, tuple)) else []
    out["BodyPartExamined"] = [*values, body_part]
    out["HintBodyPart"] = body_part
    return out


def apply_order(order: Order | None, study: Mapping[str, Value],
                series: Sequence[Mapping[str, Value]] | None) -> tuple[dict[str, Value], list[dict[str, Value]] | None]:
    """The study and series attributes as the rules of the order's institution see them."""
    if order is None:
        return dict(study), None if series is None else [dict(s) for s in series]
    return (_with_body_part(study, order.body_part),
            None if series is None else [_with_body_part(s, order.body_part) for s in series])
