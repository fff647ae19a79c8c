"""Parameters a person enters: explicit time units, every missing value at once, Philips labeling
type from the series name, multi-TI Philips PASL, protocol presets."""

from __future__ import annotations

import numpy as np
import pytest

from quant import (
    InputError,
    MissingParameterError,
    Param,
    UnitsError,
    apply_preset,
    classify_study,
    parse_time,
    preset_values,
    protocol_key,
    quantify,
    time_param,
)
from quant.vendors.philips import labeling_from_name
from tests.quant.builders import head, philips_series, small_geometry
from tests.quant.conftest import read_series


@pytest.mark.parametrize(
    ("name", "value", "unit", "seconds"),
    [
        ("pld", 1800, "ms", [1.8]),
        ("pld", 1.8, "s", [1.8]),
        ("pld", "1800, 2300", "ms", [1.8, 2.3]),
        ("pld", [250, 500, 750], "MS", [0.25, 0.5, 0.75]),
        ("labeling_duration", "1.5", "s", 1.5),
        ("labeling_duration", [1000, 500], "ms", [1.0, 0.5]),
        ("ti1", 700, "ms", 0.7),
        ("slice_time", 0, "ms", 0.0),
    ],
)
def test_parse_time(name: str, value, unit: str, seconds) -> None:
    assert parse_time(name, value, unit) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("name", "value", "unit", "message"),
    [
        ("pld", 1800, "s", r"1800 s is implausible .*did you mean 1800 ms\?"),
        ("labeling_duration", 1.8, "ms", r"1.8 ms is implausible .*did you mean 1.8 s\?"),
        ("pld", 1800, "", "unit must be given as 'ms' or 's'"),
        ("pld", 1800, "sec", "unit must be given"),
        ("pld", "1,8", "s", "ambiguous"),
        ("pld", "soon", "s", "not a number"),
        ("pld", float("nan"), "s", "not a number"),
        ("pld", True, "s", "not a time"),
        ("ti1", [700, 800], "ms", "takes one value"),
        ("pld", -5, "ms", "implausible"),
        ("nex", 3, "s", "not a time parameter"),
    ],
)
def test_parse_time_refuses_and_says_why(name: str, value, unit: str, message: str) -> None:
    with pytest.raises(UnitsError, match=message):
        parse_time(name, value, unit)


def test_time_param_records_what_was_entered() -> None:
    p = time_param("pld", "1800, 2300", "ms")
    assert (p.value, p.unit, p.source) == ([1.8, 2.3], "s", "user")
    assert p.detail == "entered as 1800, 2300 ms"


def test_philips_labeling_type_from_series_name() -> None:
    assert labeling_from_name("SOURCE - pCASL", 1)[0] == "pcasl"
    assert labeling_from_name("WIP PCASL_2D", 1)[0] == "pcasl"
    assert labeling_from_name("STAR_ASL", 8)[0] == "pasl"
    assert labeling_from_name("ASL multiphase", 8)[0] == "pasl"
    assert labeling_from_name("ASL", 1) is None  # single-phase "ASL" does not say which
    assert labeling_from_name("Perfusion research", 1) is None
    (acq,) = classify_study(read_series("philips/202_SOURCE_-_pCASL", limit=64))
    p = acq.parameters["labeling_type"]
    assert (p.value, p.source) == ("pcasl", "series description") and "SOURCE - pCASL" in p.detail
    assert acq.missing == ["pld", "labeling_duration"]
    # Both timing values are asked for together, not one after the other.
    with pytest.raises(MissingParameterError) as exc:
        quantify(acq)
    assert exc.value.missing == ["pld", "labeling_duration"]
    with pytest.raises(MissingParameterError) as exc:
        quantify(acq, {"pld": [1.8]})
    assert exc.value.missing == ["labeling_duration"]


def test_philips_without_a_name_asks_for_everything_at_once() -> None:
    g = small_geometry()
    vol = np.where(head(g.shape), 1000.0, 0.0)
    series = philips_series(
        [("CONTROL", 1, d, vol) for d in (1, 2)] + [("LABEL", 1, d, vol * 0.99) for d in (1, 2)],
        g,
        description="Perfusion research",
    )
    (acq,) = classify_study(series)
    assert acq.labeling_type is None
    with pytest.raises(MissingParameterError) as exc:
        quantify(acq)
    assert exc.value.missing == ["labeling_type", "pld", "labeling_duration"]
    assert "labeling_type, pld, labeling_duration" in str(exc.value)


def test_philips_multiphase_star_is_multi_ti_pasl() -> None:
    g = small_geometry()
    brain = head(g.shape)
    m0 = np.where(brain, 1000.0, 0.0)
    trigger = {1: 300.0, 2: 600.0, 3: 900.0, 4: 1200.0}
    volumes = []
    for phase in trigger:
        for dyn in (1, 2, 3):
            volumes += [("CONTROL", phase, dyn, m0), ("LABEL", phase, dyn, m0 - np.where(brain, 6.0, 0.0))]
    (acq,) = classify_study(philips_series(volumes, g, description="STAR_ASL", trigger_ms=trigger))
    assert acq.labeling_type == "pasl" and acq.multi_delay
    assert acq.parameters["labeling_type"].source == "series description"
    assert acq.missing == ["ti", "ti1"]
    assert acq.parameters["ti_hint"].value == pytest.approx([0.3, 0.6, 0.9, 1.2])
    assert any("enter one inflow time TI per phase (4)" in n for n in acq.notes)
    with pytest.raises(MissingParameterError) as exc:
        quantify(acq)
    assert exc.value.missing == ["ti", "ti1"]
    with pytest.raises(InputError, match="3 delay value"):
        quantify(acq, {"ti": [0.3, 0.6, 0.9], "ti1": 0.7, "m0": "control"})
    result = quantify(
        acq, {"ti": time_param("ti", "300 600 900 1200", "ms"), "ti1": time_param("ti1", 700, "ms"), "m0": "control"}
    )
    assert result.model == "kinetic" and result.att is not None
    assert result.parameters["ti"].detail == "entered as 300 600 900 1200 ms"


def test_protocol_key() -> None:
    (acq,) = classify_study(read_series("siemens/pcasl3d/15_pcasl_3d"))
    key = protocol_key(acq)
    assert (key.manufacturer, key.protocol, key.sequence, key.station) == (
        "Siemens", "pcasl_3d", "tgse_pcasl_ve11c", "MRC35131"
    )
    assert key.key == "siemens|pcasl_3d|tgse_pcasl_ve11c|mrc35131"
    assert acq.protocol == key and acq.summary()["protocol"]["key"] == key.key
    (philips,) = classify_study(read_series("philips/202_SOURCE_-_pCASL", limit=64))
    assert philips.protocol is not None
    assert philips.protocol.key == "philips|source - pcasl|feepi|philips-d5n0tni"


def test_preset_starts_a_philips_study_at_once() -> None:
    (acq,) = classify_study(read_series("philips/202_SOURCE_-_pCASL", limit=64))
    entered = {"pld": time_param("pld", 1800, "ms"), "labeling_duration": 1.8, "model": "consensus"}
    values = preset_values(acq, entered)
    assert values == {"pld": [1.8], "labeling_duration": 1.8}  # model is not a protocol property
    # A later study of the same protocol: the preset fills what the headers lack.
    (later,) = classify_study(read_series("philips/202_SOURCE_-_pCASL", limit=128)[64:])
    assert later.protocol == acq.protocol
    applied = apply_preset(later, values, later.protocol)
    assert applied.missing == [] and not applied.skipped
    assert {p.source for p in applied.overrides.values()} == {"preset"}
    result = quantify(later, applied.overrides)
    assert result.parameters["pld"].source == "preset"
    assert result.parameters["pld"].detail == "preset for Philips · SOURCE - pCASL · FEEPI · PHILIPS-D5N0TNI"
    # Per job, a person may still change a preset value.
    edited = quantify(later, {**applied.overrides, "labeling_duration": 1.5})
    assert edited.parameters["labeling_duration"].source == "user"


def test_preset_never_replaces_values_read_from_the_images() -> None:
    (acq,) = classify_study(read_series("siemens/pcasl3d/15_pcasl_3d"))
    applied = apply_preset(acq, {"pld": [2.0], "labeling_duration": 1.8, "nex": 2, "bogus": 1}, "site preset")
    assert set(applied.skipped) == {"pld", "labeling_duration", "bogus"}
    assert "read from the images (protocol" in applied.skipped["pld"]
    assert list(applied.overrides) == ["nex"] and applied.missing == []
    assert preset_values(acq, {"pld": [2.0], "background_suppression": 2}) == {}


def test_damaged_preset_is_refused() -> None:
    (acq,) = classify_study(read_series("philips/202_SOURCE_-_pCASL", limit=64))
    with pytest.raises(InputError, match=r"preset for x: post-labeling delay 1800 s is implausible"):
        apply_preset(acq, {"pld": [1800], "labeling_duration": 1.8}, "x")
    partial = apply_preset(acq, {"pld": [1.8]}, "x")
    assert partial.missing == ["labeling_duration"]
    assert isinstance(partial.overrides["pld"], Param)
