"""Siemens research pCASL sequences that keep their timing in the WIP memory block.

``sWipMemBlock.alFree[i]`` / ``adFree[i]`` are free parameter slots whose meaning each sequence
defines. Only layouts documented by two independent readers are used here:

- Oxford 2D vessel-encoded pCASL ``to_ep2d_VEPCASL`` (T. Okell): ``alFree[0]`` = 1 pCASL on,
  ``alFree[3]`` 2 or 3 = background suppression on, ``alFree[9]`` labeling duration (ms),
  ``alFree[11]`` … ``alFree[30]`` PLDs (ms) up to the first empty/zero slot.
  Sources: dcm2niix ``console/nii_dicom_batch.cpp`` (Oxford 2D pCASL: "TagDuration" =
  alFree[9], "InitialPostLabelDelay" = alFree[11..30], a zero ends the list) and ExploreASL
  ``xASL_bids_PhoenixProtocolAnalyzer.m`` (LabelingDuration = alFree[9], PLDs from alFree[11],
  background suppression alFree[3] ∈ {2, 3}).
- Oxford 3D GRASE vessel-encoded pCASL ``jw_tgse_VEPCASL``: ``alFree[5]`` 2 or 3 = background
  suppression on, ``alFree[10]`` labeling duration (ms), ``alFree[30]`` … ``alFree[37]`` PLDs (ms).
  Sources: dcm2niix (PLDs alFree[30..37]) and ExploreASL (LabelingDuration = alFree[10], PLDs
  from alFree[30], background suppression alFree[5]); dcm2niix calls alFree[10..13] "Tag0..3",
  ExploreASL reads alFree[10] as the labeling duration — the detail says so.

Other WIP sequences (e.g. multi-PLD variants of Wang's ``tgse_pcasl``) have no documented
layout: their PLDs and labeling duration are asked for.

Vessel-encoded data: the image order is taken from oxasl's documentation ("Example using vessel
encoded pCASL data": ``--iaf=ve --ibf=tis``, default ``--nenc 8``): encoding cycles vary
fastest, then repeats, then PLDs; of the 8 cycles the first two are non-selective (label all,
then control: encoding matrix rows ``0, 0`` and ``0, 1``), the other six three complementary
vessel-encoded pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from quant.errors import InputError
from quant.params import Param

VE_CYCLES = 8  # oxasl's default number of encoding cycles (--nenc)
NONSELECTIVE_LABEL_CYCLE = 0
NONSELECTIVE_CONTROL_CYCLE = 1


@dataclass(frozen=True)
class WipLayout:
    """Where one research sequence keeps its timing (``alFree`` indices; times in ms)."""

    name: str
    labeling_duration: int
    first_pld: int
    last_pld: int
    background_suppression: int
    pcasl_on: int | None
    readout: str
    labeling_duration_note: str = ""


LAYOUTS = (
    WipLayout("to_ep2d_vepcasl", 9, 11, 30, 3, 0, "2D"),
    WipLayout(
        "jw_tgse_vepcasl", 10, 30, 37, 5, None, "3D",
        "ExploreASL's reading; dcm2niix names alFree[10] 'Tag0'",
    ),
)


def layout_for(sequence: str) -> WipLayout | None:
    seq = sequence.lower()
    return next((w for w in LAYOUTS if seq.endswith(w.name) or w.name in seq), None)


def _free(asc: Mapping[str, str], index: int) -> float | None:
    value = asc.get(f"sWipMemBlock.alFree[{index}]")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def wip_parameters(asc: Mapping[str, str], sequence: str) -> tuple[dict[str, Param], list[str], str, list[str]]:
    """Parameters of a documented WIP layout: (params, missing, labeling type, notes)."""
    layout = layout_for(sequence)
    params: dict[str, Param] = {}
    notes: list[str] = []
    if layout is None:
        notes.append(f"{sequence}: the WIP parameter layout is not documented; PLD(s) and labeling duration are asked")
        return params, ["pld", "labeling_duration"], "pcasl", notes

    def proto(name: str, value: object, unit: str, detail: str) -> None:
        where = f"ASCCONV {detail} ({sequence}; layout: dcm2niix, ExploreASL)"
        params[name] = Param(name, value, unit, "protocol", where)

    missing: list[str] = []
    labeling = "pcasl"
    if layout.pcasl_on is not None:
        on = _free(asc, layout.pcasl_on)
        if on is not None and on != 1:
            labeling = ""
            missing.append("labeling_type")
            notes.append(f"{sequence}: sWipMemBlock.alFree[{layout.pcasl_on}] = {on:g}: pCASL labeling not marked on")
    plds: list[float] = []
    for i in range(layout.first_pld, layout.last_pld + 1):
        v = _free(asc, i)
        if v is None or v <= 0:  # an empty slot ends the list (a later one was not acquired)
            break
        plds.append(v / 1000.0)
    if plds:
        proto("pld", plds, "s", f"sWipMemBlock.alFree[{layout.first_pld}..{layout.first_pld + len(plds) - 1}] ms")
    else:
        missing.append("pld")
    ld = _free(asc, layout.labeling_duration)
    if ld is not None and ld > 0:
        extra = f"; {layout.labeling_duration_note}" if layout.labeling_duration_note else ""
        proto("labeling_duration", ld / 1000.0, "s", f"sWipMemBlock.alFree[{layout.labeling_duration}] ms{extra}")
    else:
        missing.append("labeling_duration")
    bs = _free(asc, layout.background_suppression)
    if bs is not None and "sAsl.ulSuppressionMode" not in asc:
        on = bs in (2.0, 3.0)
        params["background_suppression"] = Param(
            "background_suppression", 2 if on else 0, "", "protocol",
            f"ASCCONV sWipMemBlock.alFree[{layout.background_suppression}] = {bs:g} "
            f"({'on; pulse count not in the protocol, 2 assumed' if on else 'off'})",
        )
    return params, missing, labeling, notes


@dataclass(frozen=True)
class EncodedVolume:
    """Where one image of a vessel-encoded series belongs."""

    index: int  # position in the series (acquisition order, after any M0 volume)
    pld: int
    repeat: int
    cycle: int


def vessel_encoded_layout(n_images: int, n_plds: int, cycles: int = VE_CYCLES) -> list[EncodedVolume]:
    """Cycle, repeat and PLD of each image (cycles fastest, then repeats, then PLDs)."""
    block = n_plds * cycles
    if n_plds < 1 or n_images == 0 or n_images % block:
        raise InputError(
            f"vessel-encoded series: {n_images} images cannot be laid out as {n_plds} PLD(s) × {cycles} encoding "
            "cycles × repeats (cycles fastest, then repeats, then PLDs)"
        )
    repeats = n_images // block
    return [
        EncodedVolume(i, i // (repeats * cycles), (i // cycles) % repeats, i % cycles) for i in range(n_images)
    ]


def nonselective_note(n_plds: int, repeats: int, cycles: int = VE_CYCLES) -> str:
    """What the engine does with vessel-encoded data, for the acquisition's notes.

    Signal model per voxel: S_control = M, S_label-all = M − ΔM, and each complementary pair of
    vessel-encoded cycles sums to 2M − ΔM (every vessel is labelled in exactly one of the two).
    The least-squares estimate of ΔM from all cycles is exactly S_control − S_label-all: the
    pairs inform M only, so the non-selective ΔM uses the two non-selective cycles.
    """
    return (
        f"vessel-encoded pCASL ({n_plds} PLD(s) × {cycles} encoding cycles × {repeats} repeat(s)): the encodings "
        "are combined into a non-selective ΔM per PLD = non-selective control (cycle 2) − label-all (cycle 1); "
        f"the {cycles - 2} vessel-encoded cycles add nothing to the total ΔM (least squares) and are not used; no "
        "per-vessel territories are computed. Image order assumed as in oxasl's VEPCASL example (cycles fastest, "
        "then repeats, then PLDs)"
    )
