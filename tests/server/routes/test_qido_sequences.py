"""QIDO-RS sequence matching and matching on private values (PS3.18 §8.3.4.1) through the typed
expression → SQL path, on SQLite and PostgreSQL: which entities match, exactly."""

from __future__ import annotations

import io
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.dicom_helpers import ct_instance
from tests.server.routes.test_conformance import store


def instance(study: str, series: str, *, sps: list[str], code: str, private: str | None = None,
             creator: str = "ACME 1.0", block: int = 0x10) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(ct_instance(study=study, series=series, sop=generate_uid())))
    items = []
    for i, step in enumerate(sps):
        item = Dataset()
        item.ScheduledProcedureStepID = step
        item.RequestedProcedureID = f"RP-{i}"
        items.append(item)
    ds.RequestAttributesSequence = items
    procedure = Dataset()
    procedure.CodeValue, procedure.CodingSchemeDesignator, procedure.CodeMeaning = code, "99LOCAL", f"proc {code}"
    ds.ProcedureCodeSequence = [procedure]
    if private is not None:
        ds.add_new((0x0009 << 16) | block, "LO", creator)
        ds.add_new((0x0009 << 16) | (block << 8) | 0x01, "LO", private)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def uids(client: Any, path: str, tag: str, **params: str) -> set[str]:
    r = client.get(path, params=params)
    assert r.status_code == 200, (params, r.text)
    return {item[tag]["Value"][0] for item in r.json()}


def test_sequence_matching(client: Any) -> None:
    study_a, study_b = generate_uid(), generate_uid()
    a1, a2, b1 = generate_uid(), generate_uid(), generate_uid()
    store(client, [instance(study_a, a1, sps=["SPS-1", "SPS-2"], code="MRBRAIN"),
                   instance(study_a, a2, sps=["SPS-3"], code="MRBRAIN"),
                   instance(study_b, b1, sps=[], code="CTHEAD")])
    series = lambda **p: uids(client, "/dicom-web/series", "0020000E", **p)  # noqa: E731
    mine = {a1, a2, b1}
    # Any item matches (the second item of a1's sequence).
    assert series(**{"RequestAttributesSequence.ScheduledProcedureStepID": "SPS-2"}) & mine == {a1}
    assert series(**{"00400275.00400009": "SPS-*"}) & mine == {a1, a2}  # tags, wildcard
    assert series(**{"RequestAttributesSequence.ScheduledProcedureStepID": "SPS-9"}) & mine == set()
    # Two keys on the same sequence, and the key with an ordinary one.
    both = {"RequestAttributesSequence.RequestedProcedureID": "RP-0", "SeriesInstanceUID": f"{a1}\\{a2}"}
    assert series(**both) == {a1, a2}
    # Study-level sequence (Procedure Code Sequence) at study, series and instance level.
    studies = uids(client, "/dicom-web/studies", "0020000D", **{"ProcedureCodeSequence.CodeValue": "MRBRAIN"})
    assert studies & {study_a, study_b} == {study_a}
    assert series(**{"ProcedureCodeSequence.CodeValue": "CT*"}) & mine == {b1}
    found = uids(client, f"/dicom-web/studies/{study_a}/instances", "0020000E",
                 **{"ProcedureCodeSequence.CodingSchemeDesignator": "99LOCAL"})
    assert found == {a1, a2}
    # The matched sequence is returned.
    [item] = client.get("/dicom-web/series", params={"SeriesInstanceUID": a2,
                                                     "RequestAttributesSequence.ScheduledProcedureStepID": "SPS-3"}
                        ).json()
    assert item["00400275"]["Value"][0]["00400009"]["Value"] == ["SPS-3"]
    # Unsupported pairs and a series key at study level: 400 naming the key.
    for params, named in [({"ReferencedStudySequence.StudyInstanceUID": "1.2"}, "ReferencedStudySequence"),
                          ({"RequestAttributesSequence.Nonsense": "x"}, "Nonsense"),
                          ({"RequestAttributesSequence.ScheduledProcedureStepID.X": "x"}, "one level")]:
        r = client.get("/dicom-web/series", params=params)
        assert r.status_code == 400 and named in r.json()["error"], r.text
    r = client.get("/dicom-web/studies", params={"RequestAttributesSequence.ScheduledProcedureStepID": "SPS-1"})
    assert r.status_code == 400 and "series attribute" in r.json()["error"]


def test_private_value_matching(client: Any) -> None:
    study, series = generate_uid(), generate_uid()
    store(client, [instance(study, series, sps=[], code="X", private="alpha"),
                   instance(study, series, sps=[], code="X", private="beta"),
                   instance(study, series, sps=[], code="X", private="alpha", creator="OTHER 2.0"),
                   instance(study, series, sps=[], code="X")])
    sops = [i["00080018"]["Value"][0] for i in client.get(f"/dicom-web/studies/{study}/instances").json()]
    path = f"/dicom-web/studies/{study}/instances"
    alpha = uids(client, path, "00080018", **{"00091001": "alpha"})
    assert len(alpha) == 2 and alpha < set(sops)
    assert len(uids(client, path, "00091001" if False else "00080018", **{"00091001": "b*"})) == 1
    # With the Private Creator named, only its block counts.
    acme = client.get(path, params={"00091001": "alpha", "00090010": "ACME 1.0"}).json()
    assert len(acme) == 1
    assert acme[0]["00091001"] == {"vr": "LO", "Value": ["alpha"]}  # returned with its creator
    assert acme[0]["00090010"]["Value"] == ["ACME 1.0"]
    # Not stored at study or series level: 400 naming the key, as before.
    r = client.get("/dicom-web/studies", params={"00091001": "alpha"})
    assert r.status_code == 400 and "00091001" in r.json()["error"]
