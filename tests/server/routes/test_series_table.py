"""First reads of a series: one indexed look-up for its whole instance table, shared by the frame,
rendered and metadata paths; late arrivals and DELETE still answer correctly."""

from __future__ import annotations

from pydicom.uid import generate_uid

from tests.dicom_helpers import STOW_TYPE, ct_instance, multipart

FRAME_ACCEPT = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}


def _store(client, study, series, sops, first=1):  # type: ignore[no-untyped-def]
    parts = [ct_instance(study=study, series=series, sop=s, number=first + i) for i, s in enumerate(sops)]
    r = client.post("/dicom-web/studies", content=multipart(parts), headers={"Content-Type": STOW_TYPE})
    assert r.status_code == 200, r.text


def test_frames_of_a_series_cost_one_table_load(client) -> None:  # type: ignore[no-untyped-def]
    ctx = client.app.state.ctx
    study, series = generate_uid(), generate_uid()
    sops = [generate_uid() for _ in range(6)]
    _store(client, study, series, sops)
    base = f"/dicom-web/studies/{study}/series/{series}/instances"
    before = ctx.memory.series.loads
    for sop in sops:
        r = client.get(f"{base}/{sop}/frames/1", headers=FRAME_ACCEPT)
        assert r.status_code == 200
        r = client.get(f"{base}/{sop}/rendered", headers={"Accept": "image/png"})
        assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    assert ctx.memory.series.loads == before + 1
    # An instance stored after the table was read is found (and the table is not reloaded).
    late = generate_uid()
    _store(client, study, series, [late], first=7)
    assert client.get(f"{base}/{late}/frames/1", headers=FRAME_ACCEPT).status_code == 200
    assert ctx.memory.series.loads == before + 1
    # An unknown instance is a 404, a deleted one too (DELETE evicts the table).
    assert client.get(f"{base}/{generate_uid()}/frames/1", headers=FRAME_ACCEPT).status_code == 404
    assert client.delete(f"{base}/{sops[0]}").status_code == 204
    assert client.get(f"{base}/{sops[0]}/frames/1", headers=FRAME_ACCEPT).status_code == 404
    assert client.get(f"{base}/{sops[1]}/frames/1", headers=FRAME_ACCEPT).status_code == 200


def test_series_metadata_fills_the_table_for_the_frames_that_follow(client) -> None:  # type: ignore[no-untyped-def]
    ctx = client.app.state.ctx
    study, series = generate_uid(), generate_uid()
    sops = [generate_uid() for _ in range(4)]
    _store(client, study, series, sops)
    assert len(client.get(f"/dicom-web/studies/{study}/series/{series}/metadata").json()) == 4
    loads = ctx.memory.series.loads
    for sop in sops:
        url = f"/dicom-web/studies/{study}/series/{series}/instances/{sop}/frames/1"
        assert client.get(url, headers=FRAME_ACCEPT).status_code == 200
    assert ctx.memory.series.loads == loads
    assert ctx.memory.series.size > 0
