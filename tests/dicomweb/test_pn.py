"""Person name matching decisions (PS3.18 §8.3.4.2; Cirrus's fuzzy semantics)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from dicomweb.pn import fuzzy_name_match, name_matches, wildcard_match
from dicomweb.qido import QueryLevel, parse_query

NAMES = ["Doe^John", "Smith^Jane Mary", "Yamada^Tarou=山田^太郎=やまだ^たろう", "O'Neil^Sean", "DOE^JOHANNA", "Jones"]


@pytest.mark.parametrize(
    "query,expected",
    [
        ("PatientName=doe^john", ["Doe^John"]),
        ("PatientName=DOE^JOHN", ["Doe^John"]),
        ("PatientName=doe*", ["Doe^John", "DOE^JOHANNA"]),
        ("PatientName=*an*", ["Smith^Jane Mary", "O'Neil^Sean", "DOE^JOHANNA"]),
        ("PatientName=d?e^j*", ["Doe^John", "DOE^JOHANNA"]),
        ("PatientName=jo&fuzzymatching=true", ["Doe^John", "DOE^JOHANNA", "Jones"]),
        ("PatientName=mary&fuzzymatching=true", ["Smith^Jane Mary"]),
        ("PatientName=山田&fuzzymatching=true", ["Yamada^Tarou=山田^太郎=やまだ^たろう"]),
        ("PatientName=たろ&fuzzymatching=true", ["Yamada^Tarou=山田^太郎=やまだ^たろう"]),
        ("PatientName=s*n&fuzzymatching=true", ["Smith^Jane Mary", "O'Neil^Sean"]),
        ("PatientName=oh&fuzzymatching=true", []),  # not at the start of a component or word
        ("PatientName=jo&fuzzymatching=false", []),
        ("PatientName=", NAMES),
        ("PatientName=*", NAMES),
    ],
)
def test_name_matching_table(query: str, expected: list[str]) -> None:
    (match,) = parse_query(QueryLevel.STUDY, parse_qsl(query, keep_blank_values=True)).matches
    assert [n for n in NAMES if name_matches(match.matcher, n)] == expected


def test_wildcards_are_only_star_and_question_mark() -> None:
    assert wildcard_match("A.B", "A.B") and not wildcard_match("A.B", "AXB")
    assert wildcard_match("A[B]", "A[B]") and wildcard_match("*", "") and not wildcard_match("?", "")
    assert fuzzy_name_match("", "anything")
