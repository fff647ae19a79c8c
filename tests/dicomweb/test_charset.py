"""PS3.18 §8.8 character set negotiation (``dicomweb.charset``)."""

from __future__ import annotations

import pytest

from dicomweb.charset import UTF8, choose_charset, parse_accept_charset
from dicomweb.errors import NotAcceptable


@pytest.mark.parametrize("header", [None, "", "utf-8", "UTF-8", "iso-8859-1, utf-8;q=0.1", "*", "*;q=0.2",
                                    "iso-8859-1;q=1, *;q=0.5", "csUTF8", "utf-8;q=bad, *", ";;,"])
def test_utf8_when_it_is_acceptable(header: str | None) -> None:
    assert choose_charset(header) == UTF8


@pytest.mark.parametrize(("header", "named"), [
    ("iso-8859-1", "iso-8859-1"),
    ("ISO-8859-1, gb18030;q=0.5", "iso-8859-1, gb18030"),
    ("utf-8;q=0, *", "*"),  # q=0 excludes UTF-8 even though * admits the rest
    ("*;q=0", "none (every charset has q=0)"),
    ("gb2312, utf-8;q=0", "gb2312"),
])
def test_406_names_what_was_asked(header: str, named: str) -> None:
    with pytest.raises(NotAcceptable) as err:
        choose_charset(header)
    assert err.value.message == f"Accept-Charset: Cirrus answers in UTF-8 only; the request accepts {named}"
    assert err.value.available == ("utf-8",)


def test_query_parameter_takes_the_place_of_the_header() -> None:
    assert choose_charset("iso-8859-1", ["utf-8"]) == UTF8
    with pytest.raises(NotAcceptable, match="charset parameter: .* accepts iso-8859-1$"):
        choose_charset("utf-8", ["iso-8859-1"])


def test_parse_keeps_q_values_and_drops_malformed() -> None:
    ranges = parse_accept_charset('utf-8;q=0.3, "gb18030", bad name, x;q=2, latin1;q=0')
    assert [(r.name, r.q) for r in ranges] == [("utf-8", 0.3), ("gb18030", 1.0), ("latin1", 0.0)]
