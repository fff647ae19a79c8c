"""The numbers a report inserts from a finished analysis: ASL (whole brain, regions) and DCE (Ktrans, ve,
vp, kep), each with its UCUM unit, the printed unit and the analysis it comes from (job and version)."""

from __future__ import annotations

from server.db.analysis import AnalysisJob
from server.reading.quantities import measurements_of
from server.workflow.dce_params import DCE_KIND


def test_dce_medians_with_ucum_units_and_the_model() -> None:
    job = AnalysisJob(id=7, version=2, labeling=DCE_KIND, study_instance_uid="1.2.3", statistics={
        "model": "extended_tofts",
        "dce": {"units": {"ktrans": "/min", "ve": "{ratio}", "vp": "{ratio}", "kep": "/min"},
                "mask": {"n_voxels": 10, "maps": {"ktrans": {"median": 0.123456, "mean": 0.2},
                                                  "ve": {"median": 0.31}, "vp": {"median": 0.042},
                                                  "kep": {"median": float("nan")}}}}})
    got = measurements_of(job)
    assert [(m["name"], m["value"], m["unit"]) for m in got] == [
        ("Ktrans (median)", 0.1235, "/min"), ("ve (median)", 0.31, "{ratio}"), ("vp (median)", 0.042, "{ratio}")]
    assert {m["source"] for m in got} == {"DCE analysis job 7 v2 (extended Tofts)"}
    assert got[0]["unit_label"] == "min⁻¹"


def test_asl_whole_brain_and_regions() -> None:
    mca = {"name_en": "MCA territory", "base": "mca_territory", "group": "territory"}
    lobe = {"name_en": "Frontal lobe", "base": "frontal_lobe", "group": "lobe"}
    regions = {"Frontal_Sup_L": {"name_en": "Superior frontal gyrus", "base": "Frontal_Sup", "group": "cortical",
                                 "side": "L", "n": 120, "cbf_mean": 51.2345},  # a gyrus: not inserted
               "frontal_lobe_R": {**lobe, "side": "R", "n": 900, "cbf_mean": 50.0},
               "frontal_lobe_L": {**lobe, "side": "L", "n": 910, "cbf_mean": 52.004},
               "mca_territory_L": {**mca, "side": "L", "n": 0, "cbf_mean": None},  # no voxels: left out
               "mca_territory_R": {**mca, "side": "R", "n": 1500, "cbf_mean": 44.4}}
    job = AnalysisJob(id=3, version=1, study_instance_uid="1.2.3", model="pcasl_single", statistics={
        "whole_brain": {"mean": 47.567}, "asymmetry_index_percent": -3.2, "regions": {"regions": regions}})
    got = measurements_of(job)
    assert [(m["name"], m["value"], m["unit"]) for m in got] == [
        ("CBF whole brain", 47.57, "ml/(100.g.min)"), ("CBF asymmetry index", -3.2, "%"),
        ("CBF MCA territory R", 44.4, "ml/(100.g.min)"), ("CBF Frontal lobe L", 52.0, "ml/(100.g.min)"),
        ("CBF Frontal lobe R", 50.0, "ml/(100.g.min)")]
    assert {m["source"] for m in got} == {"ASL analysis job 3 v1 (pcasl_single)"}


def test_long_names_get_distinct_sr_codes() -> None:
    from server.reading.documents import _slug

    left, right = _slug("CBF Superior frontal gyrus L"), _slug("CBF Superior frontal gyrus R")
    assert left != right and len(left) == len(right) == 16
    assert _slug("CBF whole brain") == "CBF-WHOLE-BRAIN"
