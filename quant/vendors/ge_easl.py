"""GE eASL (multi-delay, time-encoded pCASL): the delay design from GE's user CVs.

Private elements read (creator GEMS_ACQU_01, group 0019; "User data 4–7" in GE's dictionary, the
pulse sequence's user control variables CV4–CV7):

====================  =====  ===============================================================
(0019,xxAB) CV4       ms     post-labeling delay of the sub-bolus nearest the readout (first PLD)
(0019,xxAC) CV5       ms     total labeling duration, shared by the sub-boluses
(0019,xxAD) CV6              number of delays (sub-boluses), e.g. 7
(0019,xxAE) CV7              design: 1 = equal sub-bolus durations (linear), 0 = durations chosen
                             for equal signal per sub-bolus (exponential); between 0 and 1 the
                             two designs are blended with that weight
====================  =====  ===============================================================

Sub-bolus k (k = 0 nearest the readout) has duration LD_k and delay PLD_k, with PLD_0 = CV4 and
PLD_{k+1} = PLD_k + LD_k; linear: LD_k = CV5 / CV6; equal signal: (1 − e^(−LD_k/T1a))·e^(−PLD_k/T1a)
= (1 − e^(−CV5/T1a))·e^(−CV4/T1a) / CV6 with T1a = 1650 ms. This is how pyaslreport
(``sequences/ge/asl`` GEMultiPLD) and published GE timing calculators read these CVs, and what
docs/ASL-VENDORS.md lists (*unverified* on a real GE export here: the units and the order of the
delay images in "eASL: Raw" are assumptions the notes state).
"""

from __future__ import annotations

import math

import pydicom

from quant.vendors.common import private

ACQU = "GEMS_ACQU_01"
CV_ELEMENTS = {"first_pld_ms": 0xAB, "total_labeling_ms": 0xAC, "n_delays": 0xAD, "design": 0xAE}
T1_ARTERIAL_MS = 1650.0


def user_cvs(ds: pydicom.Dataset) -> dict[str, float]:
    """CV4–CV7 of an eASL image (only those present and numeric)."""
    out: dict[str, float] = {}
    for name, element in CV_ELEMENTS.items():
        value = private(ds, 0x0019, ACQU, element)
        try:
            number = float(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            number = None
        if number is not None and math.isfinite(number):
            out[name] = number
    return out


def delay_design(first_pld_ms: float, total_ms: float, n: int, design: float) -> tuple[list[float], list[float]]:
    """(labeling durations, PLDs) in ms per sub-bolus, nearest the readout first."""
    if n < 1 or total_ms <= 0 or first_pld_ms < 0:
        raise ValueError("eASL design needs CV6 ≥ 1, CV5 > 0 and CV4 ≥ 0")
    lin_ld = [total_ms / n] * n
    lin_pld = [first_pld_ms + k * total_ms / n for k in range(n)]
    t1 = T1_ARTERIAL_MS
    target = (1 - math.exp(-total_ms / t1)) * math.exp(-first_pld_ms / t1) / n
    exp_ld: list[float] = []
    exp_pld: list[float] = []
    pld = first_pld_ms
    for _ in range(n):
        x = target * math.exp(pld / t1)
        if x >= 1:  # the equal-signal design cannot be met: GE falls back to the linear one
            exp_ld, exp_pld = lin_ld, lin_pld
            break
        ld = -t1 * math.log(1 - x)
        exp_ld.append(ld)
        exp_pld.append(pld)
        pld += ld
    w = min(max(design, 0.0), 1.0)
    lds = [w * a + (1 - w) * b for a, b in zip(lin_ld, exp_ld, strict=True)]
    plds = [w * a + (1 - w) * b for a, b in zip(lin_pld, exp_pld, strict=True)]
    return lds, plds


def describe(cvs: dict[str, float]) -> str:
    design = cvs.get("design", 1.0)
    kind = "linear" if design == 1 else ("equal signal" if design == 0 else f"blend {design:g}")
    return (
        f"GE eASL CV4–CV7 (0019,xxAB–xxAE): first PLD {cvs['first_pld_ms']:g} ms, total labeling "
        f"{cvs['total_labeling_ms']:g} ms, {int(cvs['n_delays'])} delays, design {design:g} ({kind})"
    )
