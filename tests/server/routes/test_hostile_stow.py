"""Hostile STOW-RS bodies (issue 12): cut objects, deep nesting, NUL characters, absurd numbers.

Every object is made by the test. Each bad object is its own failure (0xC000) with a message;
the good objects of the same request are stored; a cut object never reserves its SOP Instance UID,
so the complete object sent afterwards is stored; what was stored before stays byte-identical.
"""

from __future__ import annotations

import io
import sys

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from dicomweb.structure import check_part10
from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart

SQ_REFERENCED, SQ_FAILED, FAILURE_REASON, SOP_UID = "00081199", "00081198", "00081197", "00081155"
WARNING_REASON = "00081196"


def stow(client, parts):  # type: ignore[no-untyped-def]
    return client.post("/dicom-web/studies", content=multipart(parts), headers={"Content-Type": STOW_TYPE})


def failed(body) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(item[FAILURE_REASON]["Value"][0], item.get(SOP_UID, {}).get("Value", [""])[0])
            for item in body.get(SQ_FAILED, {}).get("Value", [])]


def stored(body) -> list[str]:  # type: ignore[no-untyped-def]
    return [item[SOP_UID]["Value"][0] for item in body.get(SQ_REFERENCED, {}).get("Value", [])]


def nested(levels: int, study: str) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(ct_instance(study=study)))
    inner = Dataset()
    inner.CodeValue = "X"
    for _ in range(levels):
        outer = Dataset()
        outer.ContentSequence = Sequence([inner])
        inner = outer
    ds.ContentSequence = inner.ContentSequence
    buf = io.BytesIO()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * levels))  # pydicom writes nested sequences recursively
    try:
        ds.save_as(buf, enforce_file_format=True)
    finally:
        sys.setrecursionlimit(limit)
    return buf.getvalue()


def with_attributes(study: str, **attrs: object) -> tuple[bytes, str]:
    ds = pydicom.dcmread(io.BytesIO(ct_instance(study=study)))
    for k, v in attrs.items():
        setattr(ds, k, v)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), str(ds.SOPInstanceUID)


def test_every_cut_of_an_instance_is_refused_and_the_whole_one_stored_after(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    before = ct_instance(study=study, number=1)
    assert stow(client, [before]).status_code == 200
    whole = ct_instance(study=study, number=2)
    sop = pydicom.dcmread(io.BytesIO(whole)).SOPInstanceUID
    # Every cut inside the File Meta Information, then every 7th byte, and the last bytes.
    cuts = sorted({*range(132, 160), *range(160, len(whole), 7), *range(len(whole) - 12, len(whole))})
    for start in range(0, len(cuts), 40):
        batch = [whole[:n] for n in cuts[start:start + 40]]
        r = stow(client, batch)
        assert r.status_code == 409, (cuts[start], r.text)
        body = r.json()
        assert stored(body) == []
        # Cut inside an element or before the pixel data: 0xC000; cut before a required UID: 0xA900.
        assert len(failed(body)) == len(batch)
        assert {reason for reason, _ in failed(body)} <= {0xC000, 0xA900}
        assert all(sop_uid in ("", sop) for _, sop_uid in failed(body)), "never a cut UID"
        assert all(item.get("0040A160") for item in body[SQ_FAILED]["Value"]), "each failure has a message"
    r = stow(client, [whole])
    assert r.status_code == 200, r.text
    assert stored(r.json()) == [sop]
    series = client.get(f"/dicom-web/studies/{study}/instances").json()
    assert len(series) == 2
    for item in series:
        got = client.get(item["00081190"]["Value"][0].removeprefix("http://testserver"),
                         headers={"Accept": 'multipart/related; type="application/dicom"'})
        assert before in got.content or whole in got.content


def test_a_cut_in_the_middle_of_a_batch_fails_alone(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    good = [ct_instance(study=study, number=i) for i in range(3)]
    cut = ct_instance(study=study, number=9)[:666]
    r = stow(client, [good[0], cut, good[1], cut[:150], good[2]])
    assert r.status_code == 202, r.text
    body = r.json()
    assert len(stored(body)) == 3
    assert [reason for reason, _ in failed(body)] == [0xC000, 0xC000]
    assert "not whole" in r.text or "File Meta" in r.text


def test_deeply_nested_sequences_fail_alone(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    good = ct_instance(study=study)
    shallow = nested(6, study)
    r = stow(client, [good, nested(220, study), shallow])
    assert r.status_code == 202, r.text
    body = r.json()
    assert len(stored(body)) == 2
    assert [reason for reason, _ in failed(body)] == [0xC000]
    assert "nested deeper" in r.text


def test_nul_in_patient_name_and_absurd_numbers_do_not_fail_the_batch(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    nul, nul_sop = with_attributes(study, PatientName="Evil\x00^Name")
    huge, huge_sop = with_attributes(generate_uid(), InstanceNumber="99999999999", SeriesNumber="-99999999999")
    good = ct_instance(study=study, number=5)
    r = stow(client, [nul, huge, good])
    assert r.status_code == 200, r.text
    assert len(stored(r.json())) == 3
    found = client.get("/dicom-web/studies", params={"PatientName": "Evil^Name"}).json()
    assert [s["0020000D"]["Value"][0] for s in found] == [study]
    got = client.get(f"/dicom-web/studies/{study}/instances", params={"SOPInstanceUID": nul_sop})
    assert got.status_code == 200 and len(got.json()) == 1
    assert huge_sop in client.get("/dicom-web/instances", params={"SOPInstanceUID": huge_sop}).text


@pytest.mark.parametrize("cut", [1, 100, 131, 133, 141, 145, 150, 152, 153, 155, 300, -1])
def test_structure_check_refuses_cuts_inside_an_element(cut: int) -> None:
    """(Cuts at element boundaries read as a smaller whole object; the parser refuses those.)"""
    whole = ct_instance()
    assert check_part10(whole, True, True) is None
    assert check_part10(whole[:cut], True, True) is not None
