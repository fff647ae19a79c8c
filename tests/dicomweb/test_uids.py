from __future__ import annotations

import pytest

from dicomweb.uids import is_valid_uid, uid_problem


@pytest.mark.parametrize("uid", ["1.2.840.10008.1.2.1", "0", "1.0.3", "2.25." + "1" * 58])
def test_valid(uid: str) -> None:
    assert is_valid_uid(uid)


@pytest.mark.parametrize(
    "uid,why",
    [("", "missing"), (None, "missing"), ("1.2." + "3" * 70, "longer than 64"), ("1.02.3", "not a valid"),
     ("1..2", "not a valid"), ("1.2.a", "not a valid"), ("1.2.3.", "not a valid"), ("1.2 3", "not a valid")],
)
def test_invalid(uid: str, why: str) -> None:
    assert why in (uid_problem(uid) or "")
