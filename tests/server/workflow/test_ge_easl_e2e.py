"""GE 7-delay eASL end to end through the server (SQLite and PostgreSQL), built from the multi-delay DRO.

No real GE eASL export is available here: the study is synthetic. Its truth is the DRO's (set E:
perfusion rate, transit time and M0 ground-truth maps on the DRO's 64×64×12 grid and geometry); its
layout is GE's as ``docs/ASL-VENDORS.md`` describes it — one "eASL: Raw" series with a PW volume
per delay and the PD images, the delay design in the user CVs CV4–CV7 (0019,xxAB–xxAE), beside the
scanner's "Transit-corrected Flow" and "Transit delay" maps. The private-tag layout and units are
*unverified* on real GE data. The DRO's own images are standard multi-PLD acquisitions (1.8 s
labeling each), which an eASL series is not, so the per-delay ΔM is computed from the DRO's truth
with the general kinetic model for GE's sub-bolus timing (CV4 700 ms, CV5 3500 ms, 7 delays, linear).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from quant.kinetics import gkm_pcasl
from quant.vendors.ge_easl import delay_design
from server.app import create_app
from server.commands.quant_inputs import acquisition_from_bids
from tests.conftest import authed_client
from tests.quant.builders import ge_easl_series, ge_map_series
from tests.quant.conftest import asl_niftis, truth
from tests.server.workflow.analysis_helpers import wait_jobs, zip_folder

CVS = (700.0, 3500.0, 7, 1.0)  # first PLD, total labeling (ms), number of delays, linear design
# The engine's defaults: blood T1, the tissue T1 of the short-TR M0 (PD) correction, labeling efficiency,
# partition coefficient. Its kinetic model lets the label decay with blood T1 unless told otherwise,
# which is DRO set E's truth (tissue T1 = blood T1 = 1.65 s).
T1_BLOOD, T1_TISSUE_M0, ALPHA, LAMBDA = 1.65, 1.3, 0.85, 0.9


@pytest.fixture
def worker_client(database_url: str, settings_factory):  # type: ignore[no-untyped-def]
    settings = settings_factory(database_url, workers=1, stable_seconds=1.0)
    with authed_client(create_app(settings)) as c:
        yield c


def easl_from_dro(dro: Path, out: Path) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    folder = out / "dro"
    with zipfile.ZipFile(next(dro.glob("dro_E_*.zip"))) as zf:
        zf.extractall(folder)
    geometry = acquisition_from_bids(asl_niftis(folder)).geometry
    cbf, att = truth(folder, "perfusion_rate"), truth(folder, "transit_time")
    m0, t1 = truth(folder, "m0"), truth(folder, "t1")
    tissue = (truth(folder, "seg_label") > 0) & (cbf > 0) & (m0 > 0)
    lds, plds = delay_design(CVS[0], CVS[1], int(CVS[2]), CVS[3])
    assert np.allclose(t1[tissue], T1_BLOOD)  # set E: "t1eqblood"
    t1 = np.where(tissue, t1, T1_BLOOD)  # no T1 outside the head; the ΔM is zero there anyway
    dms = [np.where(tissue, m0 * gkm_pcasl(cbf, att, p / 1000, ld / 1000, T1_BLOOD, t1, ALPHA, LAMBDA), 0.0)
           for ld, p in zip(lds, plds, strict=True)]
    # The PD images: saturation recovery (ST 2 s) of tissue with the T1 the engine's M0 correction assumes.
    raw = ge_easl_series(dms, m0, geometry, cvs=CVS, inversion_ms=plds, nex=1, t1t=T1_TISSUE_M0)
    flow = ge_map_series(np.where(tissue, cbf, 0.0), raw[0], geometry, "eASL: Transit-corrected Flow")
    delay = ge_map_series(np.where(tissue, att * 1000.0, 0.0), raw[0], geometry, "eASL: Transit delay")
    study = out / "study"
    study.mkdir()
    for n, ds in enumerate(raw + flow + delay):
        ds.save_as(study / f"{n:04d}.dcm", enforce_file_format=True)
    return zip_folder(study), cbf, att, tissue


def test_ge_easl_from_the_dro_through_the_server(worker_client: TestClient, shared_data: Path,
                                                   tmp_path: Path) -> None:
    c = worker_client
    data, cbf, att, tissue = easl_from_dro(shared_data / "asl" / "dro", tmp_path)
    r = c.post("/api/uploads/stream?filename=easl.zip", content=data, headers={"content-type": "application/zip"})
    assert r.status_code == 200, r.text
    [job] = r.json()["jobs"]  # the scanner's maps open no job of their own
    assert "GE" in job["label"] and "multi-delay" in job["label"], job["label"]
    done = wait_jobs(c.get, [job["id"]], timeout=600)[job["id"]]
    assert done["state"] == "succeeded", done["reason"]
    provenance = done["provenance"]
    assert provenance["pld"]["value"] == pytest.approx([0.7 + 0.5 * k for k in range(7)])
    assert provenance["labeling_duration"]["value"] == pytest.approx([0.5] * 7)
    assert "CV4" in provenance["pld"]["detail"]
    stats = done["statistics"]
    assert stats["model"] == "kinetic"
    truth_cbf, truth_att = float(np.median(cbf[tissue])), float(np.median(att[tissue]))
    assert stats["whole_brain"]["median"] == pytest.approx(truth_cbf, rel=0.05), (stats["whole_brain"], truth_cbf)
    assert stats["att_whole_brain"]["median"] == pytest.approx(truth_att, rel=0.05), (stats["att_whole_brain"],
                                                                                       truth_att)
    series = c.get(f"/dicom-web/studies/{done['study_instance_uid']}/series",
                   headers={"accept": "application/dicom+json"}).json()
    names = {s.get("0008103E", {}).get("Value", [""])[0] for s in series}
    assert any(n.startswith("CBF") for n in names) and any(n.startswith("ATT") for n in names), names
