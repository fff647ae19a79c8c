"""RIS/HIS order hints (pure): parsing CSV and JSON, finding a study's order, and a rule that takes
a study whose BodyPartExamined is wrong because its order says otherwise."""

from __future__ import annotations

import pytest

from server.app_errors import InvalidInput
from server.pull.hints import Order, apply_order, find_order, parse_csv, parse_json
from server.pull.matching import compile_rule, decide


def test_csv_with_either_separator_header_names_and_priorities() -> None:
    orders = parse_csv("\ufeffAccessionNumber,patient_id,BodyPartExamined,priority\r\n"
                       "A1,P1,head,stat\r\n,P2,Chest,\r\n")
    assert orders == [Order("A1", "P1", "HEAD", "urgent"), Order("", "P2", "CHEST", "routine")]
    assert parse_csv("accession;body part\nA2;头颅\n") == [Order("A2", "", "头颅", "routine")]


@pytest.mark.parametrize(("text", "named"), [
    ("accession_number,body_part\n", "no orders"),
    ("accession_number,body_part,priority\nA,HEAD,later\n", "CSV line 2: priority 'later'"),
    ("accession_number,body_part\nA,\n", "CSV line 2: body_part is empty"),
    ("body_part\nHEAD\n", "CSV line 2: give accession_number or patient_id"),
    ("accession_number,body_part\nA,HEAD,extra\n", "CSV line 2: 3 cells"),
    ("accession_number,colour\nA,red\n", "unknown field(s) colour"),
])
def test_csv_errors_name_the_line(text: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named.replace("(", r"\(").replace(")", r"\)")):
        parse_csv(text)


def test_json_orders() -> None:
    assert parse_json({"orders": [{"accession_number": "A", "body_part": "brain", "priority": "URGENT"}]}) == [
        Order("A", "", "BRAIN", "urgent")]
    with pytest.raises(InvalidInput, match="order 1: body_part must be a string"):
        parse_json({"orders": [{"accession_number": "A", "body_part": 3}]})
    with pytest.raises(InvalidInput, match="orders must be a list"):
        parse_json({"orders": "A"})


def test_find_order_by_accession_then_by_patient_without_accession() -> None:
    by_acc, by_patient, other = Order("A1", "P1", "HEAD", "routine"), Order("", "P1", "CHEST", "urgent"), \
        Order("A2", "P1", "KNEE", "routine")
    orders = [other, by_patient, by_acc]
    assert find_order(orders, "A1", "P1") is by_acc
    assert find_order(orders, "A9", "P1") is by_patient  # no order of that accession: the patient's open one
    assert find_order(orders, "", "P2") is None


def test_a_rule_takes_a_misdescribed_study_by_its_order_for_its_institution_only() -> None:
    brain = compile_rule(id=1, name="brain", institution_id=7, study_filter="ModalitiesInStudy=MR",
                         series_filter="BodyPartExamined~HEAD,BRAIN")
    other = compile_rule(id=2, name="other's brain", institution_id=8, priority=5, study_filter="ModalitiesInStudy=MR",
                         series_filter="BodyPartExamined~HEAD")
    study = {"ModalitiesInStudy": ["MR"], "StudyDescription": "."}
    series = [{"SeriesInstanceUID": "1.2", "BodyPartExamined": "KNEE"}]
    assert decide([brain, other], study, series).taken_by is None
    decision = decide([brain, other], study, series, {7: Order("A1", "", "HEAD", "urgent")})
    assert decision.taken_by is not None and decision.taken_by.rule is brain
    assert decision.taken_by.series_uids == ["1.2"]
    assert not decision.verdicts[0].taken and "KNEE" in decision.verdicts[0].reason  # institution 8's rule
    seen, _ = apply_order(Order("A1", "", "HEAD", "urgent"), {"BodyPartExamined": "KNEE"}, None)
    assert seen["BodyPartExamined"] == ["KNEE", "HEAD"] and seen["HintBodyPart"] == "HEAD"
