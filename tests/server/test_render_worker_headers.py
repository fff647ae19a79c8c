"""The render worker keeps the headers it parsed: a second window of an instance costs no parse,
and a file rewritten in place is parsed again."""

from __future__ import annotations

import shutil
import struct
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomweb.pixels.render_params import RenderParams, Window
from server import render_pool


def _layout(path: Path) -> tuple[int, list[tuple[int, int]]]:
    """Offset of the native pixel data value (= the header's length) and the one frame's range."""
    raw = path.read_bytes()
    tag = struct.pack("<HH", 0x7FE0, 0x0010)
    at = raw.rindex(tag)
    length = struct.unpack("<I", raw[at + 8 : at + 12])[0]
    return at + 12, [(at + 12, length)]


@pytest.fixture
def ct(tmp_path: Path) -> Path:
    path = tmp_path / "ct.dcm"
    shutil.copy(get_testdata_file("CT_small.dcm"), path)
    return path


def test_second_render_of_a_file_reuses_the_parsed_header(ct: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    render_pool._headers.clear()
    parses: list[int] = []
    real = pydicom.dcmread
    monkeypatch.setattr(render_pool.pydicom, "dcmread", lambda *a, **k: parses.append(1) or real(*a, **k))
    header_length, ranges = _layout(ct)
    first = render_pool.render_unparsed(str(ct), header_length, ranges, 1, RenderParams(window=Window(40, 400)))
    second = render_pool.render_unparsed(str(ct), header_length, ranges, 1, RenderParams(window=Window(60, 300)))
    again = render_pool.render_unparsed(str(ct), header_length, ranges, 1, RenderParams(window=Window(40, 400)))
    assert len(parses) == 1
    assert first == again and first != second and first[:2] == b"\xff\xd8"


def test_a_rewritten_file_is_parsed_again(ct: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    render_pool._headers.clear()
    header_length, ranges = _layout(ct)
    before = render_pool.render_unparsed(str(ct), header_length, ranges, 1, RenderParams(window=Window(40, 400)))
    time.sleep(0.05)  # a later modification time than the file's first version
    ds = pydicom.dcmread(ct)
    ds.RescaleIntercept = float(ds.RescaleIntercept) + 500  # same layout, other values
    ds.save_as(ct)
    header_length, ranges = _layout(ct)
    after = render_pool.render_unparsed(str(ct), header_length, ranges, 1, RenderParams(window=Window(40, 400)))
    assert before != after


def test_the_cache_is_bounded(ct: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    render_pool._headers.clear()
    monkeypatch.setattr(render_pool, "HEADER_CACHE_ENTRIES", 3)
    header_length, ranges = _layout(ct)
    for i in range(6):
        copy = ct.with_name(f"c{i}.dcm")
        shutil.copy(ct, copy)
        render_pool.render_unparsed(str(copy), header_length, ranges, 1, RenderParams(window=Window(40, 400)))
    assert len(render_pool._headers) == 3
