"""Siemens research pCASL: PLDs, labeling duration and encoding from sWipMemBlock (synthetic headers)."""

from __future__ import annotations

import numpy as np
import pytest

from quant import InputError, classify_study, quantify
from quant.kinetics import gkm_pcasl
from tests.quant.builders import head, siemens_mosaics, small_geometry
from tests.quant.conftest import read_series

PLDS_MS = (250.0, 750.0, 1500.0)  # bracket the ATT, so that it can be fitted
LD_MS = 1400.0
VE_2D = {
    "tSequenceFileName": '"%CustomerSeq%\\to_ep2d_VEPCASL"',
    "alTR[0]": "4000000",
    "sAsl.ulMode": "0x1",
    "sWipMemBlock.alFree[0]": "1",  # pCASL on
    "sWipMemBlock.alFree[2]": "4",
    "sWipMemBlock.alFree[3]": "1",  # background suppression off
    "sWipMemBlock.alFree[4]": "20",
    "sWipMemBlock.alFree[9]": f"{LD_MS:g}",
    **{f"sWipMemBlock.alFree[{11 + i}]": f"{v:g}" for i, v in enumerate(PLDS_MS)},
    "sWipMemBlock.alFree[14]": "0",  # the list ends at the first empty slot
    "sWipMemBlock.alFree[15]": "2500",
}


def vessel_encoded_study(asc: dict[str, str], repeats: int = 2, drop_last: bool = False):
    """to_ep2d_VEPCASL with CBF 60 (left) / 40 (right), ATT 1.2 s, and a separate M0 series.

    Image order: 8 encoding cycles fastest, then repeats, then PLDs; cycle 1 labels all vessels,
    cycle 2 is the control, cycles 3–8 three complementary pairs (left/right, front/back, ...).
    """
    g = small_geometry(nz=4, ny=24, nx=24)
    brain = head(g.shape)
    x = np.broadcast_to(np.arange(g.shape[2])[None, None, :], g.shape)
    y = np.broadcast_to(np.arange(g.shape[1])[None, :, None], g.shape)
    left = brain & (x < 12)
    front = brain & (y < 12)
    diag = brain & ((x + y) % 2 == 0)
    cbf = np.where(left, 60.0, np.where(brain, 40.0, 0.0))
    m0 = np.where(brain, 1000.0, 0.0)
    volumes = []
    for pld in PLDS_MS:
        dm = m0 * gkm_pcasl(cbf, 1.2, pld / 1000, LD_MS / 1000, 1.65, 1.65, 0.85, 0.9)
        cycles = [m0 - dm, m0]
        for part in (left, front, diag):
            cycles += [m0 - dm * part, m0 - dm * (brain & ~part)]
        volumes += cycles * repeats
    if drop_last:
        volumes = volumes[:-1]
    study = "1.2.826.0.1.3680043.8.498.1"
    asl = siemens_mosaics(volumes, g, asc, description="VEPCASL_3PLD", study_uid=study)
    m0_asc = {**asc, "alTR[0]": "20000000"}
    m0_series = siemens_mosaics(
        [m0], g, m0_asc, description="VEPCASL_3PLD_M0", series_number=6, study_uid=study, tr_ms=20000.0
    )
    return asl + m0_series, cbf, brain, left


def test_oxford_2d_vepcasl_plds_duration_and_nonselective_delta_m() -> None:
    datasets, cbf, brain, left = vessel_encoded_study(VE_2D)
    (acq,) = classify_study(datasets)
    p = acq.parameters
    assert (acq.vendor, acq.labeling_type) == ("Siemens", "pcasl")
    assert p["pld"].value == pytest.approx([0.25, 0.75, 1.5]) and p["pld"].source == "protocol"
    assert "sWipMemBlock.alFree[11..13] ms (to_ep2d_vepcasl" in p["pld"].detail
    assert p["labeling_duration"].value == pytest.approx(1.4) and "alFree[9]" in p["labeling_duration"].detail
    assert p["background_suppression"].value == 0 and "alFree[3] = 1 (off)" in p["background_suppression"].detail
    # 3 PLDs × 8 cycles × 2 repeats: per PLD and repeat, one label-all and one control image.
    assert acq.kinds() == {"label": 6, "control": 6, "m0": 1} and acq.multi_delay
    assert any("non-selective ΔM per PLD" in n and "3 PLD(s) × 8 encoding cycles × 2 repeat(s)" in n for n in acq.notes)
    result = quantify(acq)
    assert result.model == "kinetic" and result.att is not None
    for region, truth in ((left, 60.0), (brain & ~left, 40.0)):
        inner = region & result.mask
        assert np.median(result.cbf[inner]) == pytest.approx(truth, rel=0.02)
        assert np.median(result.att[inner]) == pytest.approx(1.2, rel=0.05)
    assert result.qc.status == "pass"


def test_oxford_3d_vepcasl_layout() -> None:
    asc = {
        "tSequenceFileName": '"%CustomerSeq%\\jw_tgse_VEPCASL"',
        "alTR[0]": "4000000",
        "sWipMemBlock.alFree[5]": "2",  # background suppression on
        "sWipMemBlock.alFree[9]": "3000",  # MaximumT1Opt, not a timing parameter
        "sWipMemBlock.alFree[10]": "1800",
        "sWipMemBlock.alFree[30]": "1500",
        "sWipMemBlock.alFree[31]": "2000",
    }
    g = small_geometry()
    vol = np.where(head(g.shape), 1000.0, 0.0)
    (acq,) = classify_study(siemens_mosaics([vol] * 16, g, asc, description="tgse_VEPCASL_3D"))
    p = acq.parameters
    assert p["pld"].value == pytest.approx([1.5, 2.0]) and "alFree[30..31]" in p["pld"].detail
    assert p["labeling_duration"].value == pytest.approx(1.8)
    assert "dcm2niix names alFree[10] 'Tag0'" in p["labeling_duration"].detail
    assert p["background_suppression"].value == 2
    assert acq.kinds() == {"label": 2, "control": 2}


def test_images_that_do_not_fit_the_encoding_layout_are_refused() -> None:
    datasets, *_ = vessel_encoded_study(VE_2D, drop_last=True)
    with pytest.raises(InputError, match=r"47 images cannot be laid out as 3 PLD\(s\) × 8 encoding cycles"):
        classify_study(datasets)


def test_undocumented_vessel_encoded_variant_fails_with_the_reason() -> None:
    asc = {**VE_2D, "tSequenceFileName": '"%CustomerSeq%\\ab_ep3d_VEPCASL_v9"'}
    datasets, *_ = vessel_encoded_study(asc)
    (acq,) = classify_study(datasets)
    assert acq.missing == []  # nothing a person could enter would make it quantifiable
    with pytest.raises(InputError, match="encoding cycles cannot be laid out"):
        quantify(acq)


def test_multi_delay_wang_pcasl_is_not_quantified_as_single_delay() -> None:
    """A multi-delay variant of tgse_pcasl (e.g. "mTI16_800-3800_tgse_pcasl") keeps its PLDs where no
    reader documents; adFree[2] would give one PLD and a wrong CBF, so it is refused."""
    datasets = read_series("siemens/pcasl3d/15_pcasl_3d")
    for ds in datasets:
        ds.SeriesDescription = "mTI16_800-3800_tgse_pcasl_3.4x3.4x4"
    (acq,) = classify_study(datasets)
    assert acq.missing == [] and "pld" not in acq.parameters
    with pytest.raises(InputError, match="named as a multi-delay acquisition"):
        quantify(acq)
