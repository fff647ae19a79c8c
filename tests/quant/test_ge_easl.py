"""GE 7-delay eASL: delays from the user CVs, CBF and ATT from the kinetic model, and the
comparison with the scanner's transit-corrected flow and transit delay maps (synthetic, known truth)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant import classify_study, quantify
from quant.compare import compare_with_scanner_maps, map_quantity
from quant.kinetics import gkm_pcasl
from quant.vendors.ge_easl import delay_design
from tests.quant.builders import ge_easl_series, ge_map_series, head, small_geometry

CVS = (1000.0, 3500.0, 7, 1.0)  # first PLD 1000 ms, total labeling 3500 ms, 7 delays, linear


def test_delay_design_linear_and_equal_signal() -> None:
    lds, plds = delay_design(1000, 3500, 7, 1.0)
    assert lds == pytest.approx([500.0] * 7) and plds == pytest.approx([1000 + 500 * k for k in range(7)])
    lds, plds = delay_design(1000, 3500, 7, 0.0)
    assert sum(lds) == pytest.approx(3500)  # the sub-boluses tile the total labeling time
    signal = [(1 - math.exp(-ld / 1650)) * math.exp(-pld / 1650) for ld, pld in zip(lds, plds, strict=True)]
    assert max(signal) == pytest.approx(min(signal), rel=1e-9)  # equal signal per sub-bolus
    assert all(b == pytest.approx(a + ld) for a, b, ld in zip(plds, plds[1:], lds, strict=False))
    half = delay_design(1000, 3500, 7, 0.5)
    assert half[0][0] == pytest.approx((500 + delay_design(1000, 3500, 7, 0.0)[0][0]) / 2)


def easl_study(inversion_per_delay: bool, flow_scale: float = 1.0):
    g = small_geometry(nz=4, ny=24, nx=24)
    brain = head(g.shape)
    x = np.broadcast_to(np.arange(24)[None, None, :], g.shape)
    y = np.broadcast_to(np.arange(24)[None, :, None], g.shape)
    cbf = np.where(brain, np.where(x < 12, 60.0, 35.0), 0.0)
    # Both transit times exceed the first PLD: with ATT below every delay the signal barely
    # depends on ATT and no fit can recover it.
    att = np.where(brain, np.where(y < 12, 1.3, 2.0), 0.0)
    m0 = np.where(brain, 1000.0, 0.0)
    lds, plds = delay_design(*CVS[:2], int(CVS[2]), CVS[3])
    dms = [m0 * gkm_pcasl(cbf, att, p / 1000, ld / 1000, 1.65, 1.2, 0.85, 0.9) for ld, p in zip(lds, plds, strict=True)]
    raw = ge_easl_series(dms, m0, g, cvs=CVS, inversion_ms=plds if inversion_per_delay else None, nex=2)
    flow = ge_map_series(cbf * flow_scale, raw[0], g, "eASL: Transit-corrected Flow")
    delay = ge_map_series(att * 1000.0, raw[0], g, "eASL: Transit delay")  # GE writes ms (assumed)
    return raw + flow + delay, cbf, att, brain


@pytest.mark.parametrize("inversion_per_delay", [True, False])
def test_easl_raw_series_delays_and_scanner_maps(inversion_per_delay: bool) -> None:
    datasets, cbf, att, brain = easl_study(inversion_per_delay)
    (acq,) = classify_study(datasets)
    p = acq.parameters
    assert acq.vendor == "GE" and acq.multi_delay and acq.kinds() == {"delta_m": 7, "m0": 1}
    assert p["pld"].value == pytest.approx([1.0 + 0.5 * k for k in range(7)])
    assert p["labeling_duration"].value == pytest.approx([0.5] * 7)
    assert p["pld"].source == "tag" and "CV4–CV7 (0019,xxAB–xxAE)" in p["pld"].detail
    assert {m.description for m in acq.scanner_maps} == {"eASL: Transit-corrected Flow", "eASL: Transit delay"}
    if not inversion_per_delay:
        assert any("instance order" in n for n in acq.notes)
    result = quantify(acq, {"t1_tissue": 1.2})
    assert result.model == "kinetic" and result.att is not None
    for region in (brain & (cbf == 60), brain & (cbf == 35)):
        inner = region & result.mask
        assert np.median(result.cbf[inner]) == pytest.approx(float(np.median(cbf[inner])), rel=0.02)
    for value in (1.3, 2.0):
        inner = brain & (att == value) & result.mask
        assert np.median(result.att[inner]) == pytest.approx(value, rel=0.05)
    comparisons = {c.quantity: c for c in compare_with_scanner_maps(result, acq)}
    flow, delay = comparisons["cbf"], comparisons["att"]
    assert flow.median_ratio == pytest.approx(1.0, abs=0.03) and flow.pearson_r > 0.95
    assert flow.n_voxels == int(result.mask.sum()) and flow.scanner_unit == "ml/100g/min"
    assert delay.scanner_unit == "s (map read as ms)" and delay.median_ratio == pytest.approx(1.0, abs=0.05)
    assert delay.pearson_r > 0.9


def test_comparison_reveals_a_scanner_scale_difference() -> None:
    datasets, *_ = easl_study(True, flow_scale=1.25)
    (acq,) = classify_study(datasets)
    result = quantify(acq, {"t1_tissue": 1.2})
    (flow,) = [c for c in compare_with_scanner_maps(result, acq) if c.quantity == "cbf"]
    assert flow.median_ratio == pytest.approx(0.8, abs=0.03)
    assert flow.as_dict()["description"] == "eASL: Transit-corrected Flow"


def test_map_quantity_from_names() -> None:
    assert map_quantity("eASL: Transit delay") == "att"
    assert map_quantity("Transit-corrected CBF") == "cbf"
    assert map_quantity("relCBF") == "cbf"
    assert map_quantity("PWI") is None
