"""STOW-RS semantics on SQLite and PostgreSQL (the `client` fixture runs the real app)."""

from __future__ import annotations

import pydicom
from pydicom.uid import generate_uid

from server.app import create_app
from tests.conftest import authed_client
from tests.dicom_helpers import BOUNDARY, STOW_TYPE, ct_instance, multipart

SQ_REFERENCED = "00081199"
SQ_FAILED = "00081198"
FAILURE_REASON = "00081197"


def stow(client, parts, study=None, content_type=STOW_TYPE):  # type: ignore[no-untyped-def]
    url = "/dicom-web/studies" + (f"/{study}" if study else "")
    return client.post(url, content=multipart(parts), headers={"Content-Type": content_type})


def failures(body) -> list[int]:  # type: ignore[no-untyped-def]
    return [item[FAILURE_REASON]["Value"][0] for item in body.get(SQ_FAILED, {}).get("Value", [])]


def test_store_all_ok_returns_200_with_retrieve_urls(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    parts = [ct_instance(study=study, number=i) for i in range(3)]
    r = stow(client, parts)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/dicom+json")
    refs = r.json()[SQ_REFERENCED]["Value"]
    assert len(refs) == 3
    url = refs[0]["00081190"]["Value"][0]
    assert url.startswith(f"http://testserver/dicom-web/studies/{study}/series/")
    got = client.get(url.removeprefix("http://testserver"))
    assert got.status_code == 200
    assert parts[0] in got.content


def test_unquoted_type_and_single_part_body(client) -> None:  # type: ignore[no-untyped-def]
    r = stow(client, [ct_instance()], content_type=f"multipart/related; type=application/dicom; boundary={BOUNDARY}")
    assert r.status_code == 200
    r = client.post("/dicom-web/studies", content=ct_instance(), headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200, r.text


def test_identical_resend_is_success_and_different_object_is_refused(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    first = ct_instance(study=study, series=series, sop=sop, seed=1)
    assert stow(client, [first]).status_code == 200
    assert stow(client, [first]).status_code == 200
    other = ct_instance(study=study, series=series, sop=sop, seed=2)
    r = stow(client, [other])
    assert r.status_code == 409
    assert failures(r.json()) == [0x0111]
    assert "not overwritten" in r.text
    frames = client.get(f"/dicom-web/studies/{study}/series/{series}/instances/{sop}")
    assert first in frames.content and other not in frames.content


def test_mixed_batch_returns_202_and_names_each_failure(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    good = ct_instance(study=study)
    sop = "1.2." + "3" * 70
    long_uid = _with_long_uid(study, sop)
    r = stow(client, [good, b"this is not DICOM", long_uid, good[:400]])
    assert r.status_code == 202, r.text
    body = r.json()
    assert len(body[SQ_REFERENCED]["Value"]) == 1
    assert sorted(failures(body)) == [0xA900, 0xC000, 0xC000]  # long UID; not DICOM; cut inside an element
    assert "longer than 64" in r.text


def _with_long_uid(study: str, sop: str) -> bytes:
    import io
    import warnings

    ds = pydicom.dcmread(io.BytesIO(ct_instance(study=study)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.SOPInstanceUID = sop
        buf = io.BytesIO()
        ds.save_as(buf)
    return buf.getvalue()


def test_study_in_url_must_match(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    r = stow(client, [ct_instance(study=study), ct_instance()], study=study)
    assert r.status_code == 202
    assert failures(r.json()) == [0xA900]
    assert "differs from the study in the URL" in r.text


def test_none_stored_is_409(client) -> None:  # type: ignore[no-untyped-def]
    r = stow(client, [b"garbage", b"\x00" * 200])
    assert r.status_code == 409
    assert failures(r.json()) == [0xC000, 0xC000]


def test_wrong_content_types(client) -> None:  # type: ignore[no-untyped-def]
    def post(body: bytes, content_type: str):  # type: ignore[no-untyped-def]
        return client.post("/dicom-web/studies", content=body, headers={"Content-Type": content_type})

    assert post(b"{}", "application/json").status_code == 415
    assert post(b"x", 'multipart/related; type="application/dicom+xml"; boundary=a').status_code == 415
    r = post(b"x", 'multipart/related; type="application/dicom"')
    assert r.status_code == 400 and "boundary" in r.json()["error"]
    r = client.post("/dicom-web/studies", content=b"--nope\r\n", headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 400


def test_truncated_multipart_keeps_what_was_complete(client) -> None:  # type: ignore[no-untyped-def]
    study = generate_uid()
    body = multipart([ct_instance(study=study), ct_instance(study=study)])
    r = client.post("/dicom-web/studies", content=body[: len(body) - 300], headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 202
    assert "Warning" in r.headers
    assert len(r.json()[SQ_REFERENCED]["Value"]) == 1


def test_bad_input_never_touches_stored_data_and_server_keeps_serving(client) -> None:  # type: ignore[no-untyped-def]
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    original = ct_instance(study=study, series=series, sop=sop)
    assert stow(client, [original]).status_code == 200
    hostile = [
        b"DICM" * 1000,
        b"\x00" * 128 + b"DICM" + b"\xff" * 500,
        original[:200],
        original[:-10],
        ct_instance(study=study, series=series, sop=sop, seed=9),
    ]
    for part in hostile:
        r = stow(client, [part])
        assert r.status_code in (202, 409), r.text
    got = client.get(f"/dicom-web/studies/{study}/series/{series}/instances/{sop}")
    assert got.status_code == 200 and original in got.content
    meta = client.get(f"/dicom-web/studies/{study}/metadata").json()
    assert len(meta) == 1


def test_data_set_without_preamble_is_stored_as_part10(client) -> None:  # type: ignore[no-untyped-def]
    import io

    study = generate_uid()
    ds = pydicom.dcmread(io.BytesIO(ct_instance(study=study)))
    ds.preamble = None
    buf = io.BytesIO()
    ds.save_as(buf)  # file meta written, no preamble / DICM prefix
    no_preamble = buf.getvalue()
    assert no_preamble[128:132] != b"DICM"
    r = stow(client, [no_preamble])
    assert r.status_code == 200, r.text
    got = client.get(f"/dicom-web/studies/{study}")
    [stored] = [p for p in got.content.split(b"\r\n--") if b"DICM" in p]
    assert b"DICM" in stored
    meta = client.get(f"/dicom-web/studies/{study}/metadata").json()
    assert meta[0]["00080018"]["Value"][0] == ds.SOPInstanceUID


def test_series_uid_reused_under_another_study_is_refused(client) -> None:  # type: ignore[no-untyped-def]
    series = generate_uid()
    first = ct_instance(study=generate_uid(), series=series, number=1)
    assert stow(client, [first]).status_code == 200
    other_study = generate_uid()
    r = stow(client, [ct_instance(study=other_study, series=series, number=2), ct_instance(study=other_study)])
    assert r.status_code == 202
    assert failures(r.json()) == [0xA900]
    assert "already belongs to another study" in r.text
    assert len(client.get(f"/dicom-web/studies/{other_study}/metadata").json()) == 1


def test_parts_spool_in_memory_within_a_budget_and_spill_to_disk_beyond(database_url, settings_factory) -> None:  # type: ignore[no-untyped-def]
    # A 1 MiB budget holds about three of these ~290 KB parts; the rest of the batch goes to disk.
    settings = settings_factory(database_url, stow_memory_mb=1)
    with authed_client(create_app(settings)) as client:
        budget = client.app.state.ctx.memory.stow_budget
        study, series = generate_uid(), generate_uid()
        sops = [generate_uid() for _ in range(8)]
        parts = [ct_instance(study=study, series=series, sop=s, number=i, size=384) for i, s in enumerate(sops)]
        assert all(250_000 < len(p) < 300_000 for p in parts)
        r = stow(client, parts)
        assert r.status_code == 200, r.text
        assert budget.spills >= 4, "parts past the budget go to disk"
        assert budget.used == 0  # every byte taken is given back
        for sop, part in zip(sops, parts, strict=True):
            got = client.get(f"/dicom-web/studies/{study}/series/{series}/instances/{sop}")
            assert part in got.content
        assert not list(settings.tmp_dir.glob("stow-*")), "spool files are removed once stored"

    # A part larger than the per-part limit goes to disk even with budget to spare; failures give
    # back what they held too.
    settings = settings_factory(database_url, stow_part_memory_kb=100)
    with authed_client(create_app(settings)) as client:
        budget = client.app.state.ctx.memory.stow_budget
        r = stow(client, [ct_instance(study=study, size=384), b"not DICOM at all"])
        assert r.status_code == 202, r.text
        assert budget.spills == 1 and budget.used == 0


def test_a_failed_storage_sync_stores_nothing_and_says_so(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = client.app.state.ctx.store

    async def broken_sync(keys: list[str]) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(store, "sync", broken_sync)
    study = generate_uid()
    r = stow(client, [ct_instance(study=study, number=i) for i in range(3)])
    assert r.status_code == 409, r.text
    assert failures(r.json()) == [0x0110] * 3
    assert "storage sync failed" in r.text
    assert client.get(f"/dicom-web/studies?StudyInstanceUID={study}").json() == []
    monkeypatch.undo()
    # Nothing was left half-stored: the same instances store normally afterwards.
    assert stow(client, [ct_instance(study=study, number=i) for i in range(3)]).status_code == 200
