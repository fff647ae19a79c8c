"""Regions and disease panels, written as data over the AAL3 label names.

Each region is a set of AAL3 labels (Rolls, Huang, Lin, Feng, Joliot: "Automated anatomical
labelling atlas 3", NeuroImage 206:116189, 2020), per hemisphere where the atlas has one.
Names, not label numbers, are used, so another release of the atlas with the same names works.

Lobes follow the AAL grouping (Tzourio-Mazoyer et al., NeuroImage 15:273–289, 2002) with the
cingulate and mesial temporal regions as the limbic lobe and the insula on its own.

Vascular territories — no territory atlas ships in any package that installs offline here, so
they are *derived* from the AAL3 regions with the territory of each structure as given by
Tatu, Moulin, Bogousslavsky, Duvernoy, "Arterial territories of the human brain: cerebral
hemispheres", Neurology 50:1699–1708 (1998) (cortex, basal ganglia, thalamus). Limits: a
whole region goes to the artery that supplies most of it, whereas real boundaries run inside
gyri (the superior frontal gyrus, pre/postcentral gyri, precuneus, inferior temporal gyrus
and posterior cingulate are split between two arteries, and the watershed zones between
them vary between people and with a fetal PCA); the amygdala (anterior choroidal artery),
cerebellum and brainstem (vertebrobasilar; Tatu et al., Neurology 47:1125–1135, 1996) are in
no ACA/MCA/PCA territory. Territory values are therefore approximations for comparing sides
and territories within one patient, not an anatomical ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PANELS", "REGIONS", "Panel", "Region", "region"]

Group = Literal["hemisphere", "lobe", "cortical", "deep", "cerebellum", "territory", "tissue"]
Side = Literal["L", "R", ""]


@dataclass(frozen=True)
class Region:
    """A named region: AAL3 label names (without the _L/_R suffix) on one side (or both)."""

    key: str  # e.g. "precuneus_L"
    base: str  # e.g. "precuneus"
    side: Side
    group: Group
    labels: frozenset[str]  # AAL3 names with their suffix, e.g. "Precuneus_L"
    name_en: str
    name_zh: str
    snomed: str = ""  # pydicom's codes.SCT attribute name for the structure, if one exists


# base key → (AAL3 bases, English, Chinese, SNOMED attribute name)
CORTICAL: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "superior_frontal": (("Frontal_Sup_2", "Frontal_Sup_Medial"), "Superior frontal gyrus", "额上回", ""),
    "middle_frontal": (("Frontal_Mid_2",), "Middle frontal gyrus", "额中回", ""),
    "inferior_frontal": (
        ("Frontal_Inf_Oper", "Frontal_Inf_Tri", "Frontal_Inf_Orb_2"), "Inferior frontal gyrus", "额下回", ""
    ),
    "orbitofrontal": (
        ("Frontal_Med_Orb", "Rectus", "OFCmed", "OFCant", "OFCpost", "OFClat", "Olfactory"),
        "Orbitofrontal cortex", "眶额皮层", "",
    ),
    "precentral": (("Precentral",), "Precentral gyrus", "中央前回", ""),
    "supplementary_motor": (("Supp_Motor_Area",), "Supplementary motor area", "辅助运动区", ""),
    "paracentral": (("Paracentral_Lobule",), "Paracentral lobule", "中央旁小叶", ""),
    "rolandic_operculum": (("Rolandic_Oper",), "Rolandic operculum", "中央沟盖", ""),
    "insula": (("Insula",), "Insula", "岛叶", "Insula"),
    "anterior_cingulate": (("ACC_sub", "ACC_pre", "ACC_sup"), "Anterior cingulate", "前扣带回", ""),
    "middle_cingulate": (("Cingulate_Mid",), "Middle cingulate", "中扣带回", ""),
    "posterior_cingulate": (("Cingulate_Post",), "Posterior cingulate", "后扣带回", ""),
    "postcentral": (("Postcentral",), "Postcentral gyrus", "中央后回", ""),
    "superior_parietal": (("Parietal_Sup",), "Superior parietal lobule", "顶上小叶", ""),
    "inferior_parietal": (("Parietal_Inf",), "Inferior parietal lobule", "顶下小叶", ""),
    "supramarginal": (("SupraMarginal",), "Supramarginal gyrus", "缘上回", ""),
    "angular": (("Angular",), "Angular gyrus", "角回", ""),
    "precuneus": (("Precuneus",), "Precuneus", "楔前叶", ""),
    "superior_temporal": (("Temporal_Sup", "Heschl"), "Superior temporal gyrus", "颞上回", ""),
    "middle_temporal": (("Temporal_Mid",), "Middle temporal gyrus", "颞中回", ""),
    "inferior_temporal": (("Temporal_Inf",), "Inferior temporal gyrus", "颞下回", ""),
    "temporal_pole": (("Temporal_Pole_Sup", "Temporal_Pole_Mid"), "Temporal pole", "颞极", ""),
    "fusiform": (("Fusiform",), "Fusiform gyrus", "梭状回", ""),
    "parahippocampal": (("ParaHippocampal",), "Parahippocampal gyrus", "海马旁回", ""),
    "calcarine": (("Calcarine",), "Calcarine cortex", "距状皮层", ""),
    "cuneus": (("Cuneus",), "Cuneus", "楔叶", ""),
    "lingual": (("Lingual",), "Lingual gyrus", "舌回", ""),
    "superior_occipital": (("Occipital_Sup",), "Superior occipital gyrus", "枕上回", ""),
    "middle_occipital": (("Occipital_Mid",), "Middle occipital gyrus", "枕中回", ""),
    "inferior_occipital": (("Occipital_Inf",), "Inferior occipital gyrus", "枕下回", ""),
}

THALAMUS = (
    "Thal_AV", "Thal_LP", "Thal_VA", "Thal_VL", "Thal_VPL", "Thal_IL", "Thal_Re", "Thal_MDm", "Thal_MDl",
    "Thal_LGN", "Thal_MGN", "Thal_PuI", "Thal_PuM", "Thal_PuA", "Thal_PuL", "Thalamus",
)
DEEP: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "caudate": (("Caudate",), "Caudate nucleus", "尾状核", ""),
    "putamen": (("Putamen",), "Putamen", "壳核", "Putamen"),
    "pallidum": (("Pallidum",), "Globus pallidus", "苍白球", ""),
    "thalamus": (THALAMUS, "Thalamus", "丘脑", "Thalamus"),
    "accumbens": (("N_Acc",), "Nucleus accumbens", "伏隔核", ""),
    "amygdala": (("Amygdala",), "Amygdala", "杏仁核", ""),
    "hippocampus": (("Hippocampus",), "Hippocampus", "海马", "Hippocampus"),
}
CEREBELLUM_BASES = (
    "Cerebellum_Crus1", "Cerebellum_Crus2", "Cerebellum_3", "Cerebellum_4_5", "Cerebellum_6",
    "Cerebellum_7b", "Cerebellum_8", "Cerebellum_9", "Cerebellum_10",
)
VERMIS = ("Vermis_1_2", "Vermis_3", "Vermis_4_5", "Vermis_6", "Vermis_7", "Vermis_8", "Vermis_9", "Vermis_10")

LOBES: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "frontal_lobe": (
        ("superior_frontal", "middle_frontal", "inferior_frontal", "orbitofrontal", "precentral",
         "supplementary_motor", "paracentral", "rolandic_operculum"),
        "Frontal lobe", "额叶", "FrontalLobe",
    ),
    "parietal_lobe": (
        ("postcentral", "superior_parietal", "inferior_parietal", "supramarginal", "angular", "precuneus"),
        "Parietal lobe", "顶叶", "ParietalLobe",
    ),
    "temporal_lobe": (
        ("superior_temporal", "middle_temporal", "inferior_temporal", "temporal_pole", "fusiform"),
        "Temporal lobe", "颞叶", "TemporalLobe",
    ),
    "occipital_lobe": (
        ("calcarine", "cuneus", "lingual", "superior_occipital", "middle_occipital", "inferior_occipital"),
        "Occipital lobe", "枕叶", "OccipitalLobe",
    ),
    "insular_lobe": (("insula",), "Insular lobe", "岛叶（脑叶）", "Insula"),
    "limbic_lobe": (
        ("anterior_cingulate", "middle_cingulate", "posterior_cingulate", "parahippocampal", "hippocampus",
         "amygdala"),
        "Limbic lobe", "边缘叶", "",
    ),
}

# Tatu et al. 1998 (see the module docstring): the artery supplying most of each structure.
TERRITORIES: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "aca_territory": (
        ("superior_frontal", "supplementary_motor", "paracentral", "anterior_cingulate", "middle_cingulate",
         "posterior_cingulate", "precuneus", "accumbens"),
        "ACA territory", "大脑前动脉供血区", "AnteriorCerebralArtery",
    ),
    "mca_territory": (
        ("middle_frontal", "inferior_frontal", "precentral", "rolandic_operculum", "insula", "postcentral",
         "superior_parietal", "inferior_parietal", "supramarginal", "angular", "superior_temporal",
         "middle_temporal", "inferior_temporal", "temporal_pole", "caudate", "putamen", "pallidum"),
        "MCA territory", "大脑中动脉供血区", "MiddleCerebralArtery",
    ),
    "pca_territory": (
        ("calcarine", "cuneus", "lingual", "superior_occipital", "middle_occipital", "inferior_occipital",
         "fusiform", "parahippocampal", "hippocampus", "thalamus"),
        "PCA territory", "大脑后动脉供血区", "PosteriorCerebralArtery",
    ),
}
# The orbitofrontal region is split: gyrus rectus and medial orbital cortex are ACA, the
# lateral, anterior and posterior orbital gyri MCA (Tatu et al. 1998, orbital branches).
ORBITOFRONTAL_ACA = ("Frontal_Med_Orb", "Rectus", "OFCmed", "Olfactory")
ORBITOFRONTAL_MCA = ("OFCant", "OFCpost", "OFClat")


def _sided(bases: tuple[str, ...], side: Side) -> frozenset[str]:
    return frozenset(f"{b}_{side}" for b in bases)


def _build() -> dict[str, Region]:
    out: dict[str, Region] = {}
    leaves: dict[str, tuple[tuple[str, ...], str, str, str]] = {**CORTICAL, **DEEP}
    sides: tuple[Side, ...] = ("L", "R")
    for side in sides:
        for key, (bases, en, zh, sct) in leaves.items():
            group: Group = "deep" if key in DEEP else "cortical"
            out[f"{key}_{side}"] = Region(f"{key}_{side}", key, side, group, _sided(bases, side), en, zh, sct)
        out[f"cerebellum_{side}"] = Region(
            f"cerebellum_{side}", "cerebellum", side, "cerebellum", _sided(CEREBELLUM_BASES, side),
            "Cerebellum", "小脑", "Cerebellum",
        )
        for key, (parts, en, zh, sct) in LOBES.items():
            labels = frozenset().union(*(out[f"{p}_{side}"].labels for p in parts))
            out[f"{key}_{side}"] = Region(f"{key}_{side}", key, side, "lobe", labels, en, zh, sct)
        for key, (parts, en, zh, sct) in TERRITORIES.items():
            labels = frozenset().union(*(out[f"{p}_{side}"].labels for p in parts))
            extra = ORBITOFRONTAL_ACA if key == "aca_territory" else ORBITOFRONTAL_MCA if key == "mca_territory" else ()
            labels = labels | _sided(extra, side)
            out[f"{key}_{side}"] = Region(f"{key}_{side}", key, side, "territory", labels, en, zh, sct)
    cerebrum = frozenset().union(*(r.labels for r in out.values() if r.group in ("cortical", "deep")))
    hemispheres: tuple[tuple[Side, str, str], ...] = (
        ("L", "Left hemisphere", "左侧大脑半球"), ("R", "Right hemisphere", "右侧大脑半球")
    )
    for side, en, zh in hemispheres:
        labels = frozenset(n for n in cerebrum if n.endswith(f"_{side}"))
        out[f"hemisphere_{side}"] = Region(
            f"hemisphere_{side}", "hemisphere", side, "hemisphere", labels, en, zh, "CerebralHemisphere"
        )
    out["cerebellum"] = Region(
        "cerebellum", "cerebellum", "", "cerebellum",
        out["cerebellum_L"].labels | out["cerebellum_R"].labels | frozenset(VERMIS),
        "Cerebellum (both sides and vermis)", "小脑（双侧及蚓部）", "Cerebellum",
    )
    return out


REGIONS: dict[str, Region] = _build()


def region(key: str) -> Region:
    return REGIONS[key]


@dataclass(frozen=True)
class Panel:
    """A report panel: which regions, shown as L/R pairs, and the literature it follows."""

    key: str
    title_en: str
    title_zh: str
    bases: tuple[str, ...]  # region bases, each shown left and right
    relative: bool  # relative CBF is the panel's main value
    att: bool  # show ATT where the acquisition has it
    sources: tuple[str, ...]


PANELS: dict[str, Panel] = {
    "alzheimers": Panel(
        "alzheimers",
        "Alzheimer's disease panel",
        "阿尔茨海默病分析",
        ("posterior_cingulate", "precuneus", "temporoparietal", "hippocampus", "frontal_lobe"),
        relative=True,
        att=False,
        sources=(
            "Alsop DC, Detre JA, Grossman M. Assessment of cerebral blood flow in Alzheimer's disease by "
            "spin-labeled magnetic resonance imaging. Ann Neurol 2000;47:93-100.",
            "Binnewijzend MAA et al. Cerebral blood flow measured with 3D pseudocontinuous arterial spin-labeling "
            "MR imaging in Alzheimer disease and mild cognitive impairment: a marker for disease severity. "
            "Radiology 2013;267:221-230.",
        ),
    ),
    "cerebrovascular": Panel(
        "cerebrovascular",
        "Cerebrovascular panel",
        "脑血管病分析",
        ("aca_territory", "mca_territory", "pca_territory", "thalamus", "putamen", "caudate", "cerebellum"),
        relative=False,
        att=True,
        sources=(
            "Tatu L, Moulin T, Bogousslavsky J, Duvernoy H. Arterial territories of the human brain: cerebral "
            "hemispheres. Neurology 1998;50:1699-1708.",
            "Zaharchuk G. Arterial spin-labeled perfusion imaging in acute ischemic stroke. Stroke "
            "2014;45:1202-1207.",
        ),
    ),
    # Type 2 diabetes, the metabolic disease with a meta-analysis of ASL studies: decreased CBF in
    # the middle occipital gyri, left caudate, right superior parietal gyrus and left calcarine
    # cortex, increased CBF in the right supplementary motor area (Liu et al. 2022); decreased CBF
    # in the posterior cingulate, precuneus and occipital lobes, increased in the anterior
    # cingulate (Cui et al. 2017).
    "metabolic": Panel(
        "metabolic",
        "Endocrine / metabolic panel (type 2 diabetes pattern)",
        "内分泌/代谢性疾病分析（2 型糖尿病模式）",
        ("middle_occipital", "calcarine", "caudate", "superior_parietal", "supplementary_motor",
         "posterior_cingulate", "precuneus", "anterior_cingulate"),
        relative=True,
        att=False,
        sources=(
            "Liu J, Yang X, Li Y, Xu H, Ren J, Zhou P. Cerebral blood flow alterations in type 2 diabetes "
            "mellitus: a systematic review and meta-analysis of arterial spin labeling studies. Front Aging "
            "Neurosci 2022;14:847218.",
            "Cui Y, Liang X, Gu H, et al. Cerebral perfusion alterations in type 2 diabetes and its relation to "
            "insulin resistance and cognitive dysfunction. Brain Imaging Behav 2017;11:1248-1257.",
        ),
    ),
}

# The Alzheimer panel's temporoparietal association cortex: angular and supramarginal gyri and the
# inferior parietal lobule (the region Alsop et al. 2000 and Binnewijzend et al. 2013 report).
TEMPOROPARIETAL = ("angular", "supramarginal", "inferior_parietal")
_SIDES: tuple[Side, ...] = ("L", "R")
for _side in _SIDES:
    REGIONS[f"temporoparietal_{_side}"] = Region(
        f"temporoparietal_{_side}", "temporoparietal", _side, "cortical",
        frozenset().union(*(REGIONS[f"{b}_{_side}"].labels for b in TEMPOROPARIETAL)),
        "Temporoparietal cortex", "颞顶叶皮层",
    )
