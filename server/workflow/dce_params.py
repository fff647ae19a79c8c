"""What a DCE analysis job is in the workflow: its kind marker and the parameters a person may set.

A DCE job is an ``analysis_job`` row like an ASL one; ``labeling`` (the acquisition's kind as the
list shows it) is ``"dce"`` and its acquisition key starts with ``dce:``, so the same queue, states,
retries and listing serve both methods without a new column. ``method_of`` tells the two apart.
"""

from __future__ import annotations

from typing import Any

from quant.dce import RELAXIVITY

DCE_KIND = "dce"
KEY_PREFIX = "dce:"
DCE_MODELS = ["extended_tofts", "tofts", "patlak"]

# Parameters of a DCE job a person may set (same spec shape as ``jobs.PARAMETERS``). Names are the
# DCE engine's override names (quant/dce/params.py); times in seconds.
PARAMETERS: dict[str, dict[str, Any]] = {
    "flip_angle": {"unit": "deg", "kind": "number", "label": "flip angle of the dynamic series"},
    "tr": {"unit": "s", "kind": "seconds", "label": "repetition time TR of the dynamic series"},
    "temporal_resolution": {"unit": "s", "kind": "seconds", "label": "time between phases"},
    "vfa_tr": {"unit": "s", "kind": "seconds", "label": "repetition time TR of the VFA series"},
    "injection_phase": {"kind": "integer", "label": "injection phase (index of the first phase with contrast)"},
    "agent": {"kind": "choice", "choices": sorted(RELAXIVITY), "label": "contrast agent"},
    "relaxivity": {"unit": "1/(mM.s)", "kind": "number", "label": "relaxivity r1"},
    "hematocrit": {"kind": "number", "label": "hematocrit"},
    "aif": {"kind": "choice", "choices": ["parker", "weinmann", "auto"], "label": "arterial input function"},
    "t10": {"unit": "s", "kind": "seconds", "label": "pre-contrast tissue T1 (without a VFA series)"},
}
# Parameters both methods share (their spec lives in ``jobs.PARAMETERS``).
SHARED = ("model", "field_strength")
# The engine reports missing phase times as ``phase_times``; a person enters the phase interval.
MISSING_ALIASES = {"phase_times": "temporal_resolution"}


def is_dce(job: Any) -> bool:
    return getattr(job, "labeling", "") == DCE_KIND


def method_of(job: Any) -> str:
    return "DCE" if is_dce(job) else "ASL"
