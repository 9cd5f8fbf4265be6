"""Clinical labels of a phantom case: diagnosis, NAT / CT results, severity, demographics.

The labels are drawn before the image: the diagnosis and severity decide what findings are
painted (and how much lung they involve); ``lesion_fraction`` and ``ct_category`` are then
measured on the final masks (:func:`involvement_labels`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from covidct.errors import InvalidInputError
from covidct.phantom.options import DIAGNOSES, PhantomOptions

__all__ = ["MORBIDITIES", "CaseDraw", "ct_category", "draw_case", "involvement_labels"]

MORBIDITIES: tuple[str, ...] = (
    "Control", "Suspected", "Mild", "Regular", "Severe", "Critically ill",
)


@dataclass(frozen=True)
class CaseDraw:
    """What a case will show, drawn from the options.

    Attributes:
        diagnosis: 'control', 'pneumonia' or 'covid'.
        severity: 0 (control / suspected), 1 (mild / regular), 2 (severe / critically ill).
        morbidity: iCTCF wording.
        target_fraction: share of lung volume to involve (0 for no lesions).
        consolidation_share: share of the involved volume that is consolidation.
        nat_positive, ct_flip: NAT result; whether the CT label is flipped (label noise).
        age: years; sex: 'M' or 'F'.
    """

    diagnosis: str
    severity: int
    morbidity: str
    target_fraction: float
    consolidation_share: float
    nat_positive: int
    ct_flip: bool
    age: int
    sex: str


def draw_case(rng: np.random.Generator, options: PhantomOptions,
              diagnosis: str | None = None) -> CaseDraw:
    """Draw diagnosis (unless given), severity, involvement and demographics of one case."""
    if diagnosis is None:
        probs = options.diagnosis_probabilities
        diagnosis = str(rng.choice(DIAGNOSES, p=[probs[d] for d in DIAGNOSES]))
    elif diagnosis not in DIAGNOSES:
        raise InvalidInputError(f"unknown diagnosis {diagnosis!r}; expected one of {DIAGNOSES}")
    sex = "M" if rng.random() < 0.5 else "F"
    if diagnosis == "control":
        severity, morbidity, nat = 0, "Control", 0
        fraction, cons = 0.0, 0.0
        age = rng.normal(45, 15)
    elif diagnosis == "pneumonia":
        severity, morbidity, nat = 0, "Suspected", 0
        fraction = float(rng.uniform(0.03, 0.30))
        cons = float(rng.uniform(0.45, 0.8))
        age = rng.normal(52, 17)
    else:
        nat = 1
        if rng.random() < options.p_covid_ct_negative:
            severity, morbidity, fraction, cons = 1, "Mild", 0.0, 0.0
            age = rng.normal(38, 13)
        elif rng.random() < options.p_covid_severe:
            severity = 2
            critical = rng.random() < 0.35
            morbidity = "Critically ill" if critical else "Severe"
            lo, hi = (0.5, 0.85) if critical else (0.25, 0.7)
            fraction = float(rng.uniform(lo, hi))
            cons = float(rng.uniform(0.25, 0.55))
            age = rng.normal(64, 12)
            if rng.random() < 0.15:  # severity skews male
                sex = "M"
        else:
            severity = 1
            regular = rng.random() < 0.75
            morbidity = "Regular" if regular else "Mild"
            fraction = float(rng.uniform(0.04, 0.45) if regular else rng.uniform(0.01, 0.12))
            cons = float(rng.uniform(0.0, 0.25))
            age = rng.normal(50, 14)
    if rng.random() < options.p_nat_flip:
        nat = 1 - nat
    return CaseDraw(
        diagnosis=diagnosis,
        severity=int(severity),
        morbidity=morbidity,
        target_fraction=fraction,
        consolidation_share=cons,
        nat_positive=int(nat),
        ct_flip=bool(rng.random() < options.p_ct_flip),
        age=int(np.clip(round(float(age)), 18, 95)),
        sex=sex,
    )


def ct_category(lesion_fraction: float) -> str:
    """MosMedData category from the share of involved lung: CT-0 (none), CT-1 (< 25%),
    CT-2 (25-50%), CT-3 (50-75%), CT-4 (> 75%)."""
    f = float(lesion_fraction)
    if not 0.0 <= f <= 1.0:
        raise InvalidInputError(f"lesion fraction must be in [0, 1]; got {f}")
    if f == 0.0:
        return "CT-0"
    if f < 0.25:
        return "CT-1"
    if f < 0.50:
        return "CT-2"
    if f < 0.75:
        return "CT-3"
    return "CT-4"


def involvement_labels(draw: CaseDraw, lungs: np.ndarray, lesions: np.ndarray) -> dict:
    """The full label mapping of a case, with ``lesion_fraction`` measured on the masks."""
    n_lung = int(np.count_nonzero(lungs))
    n_lesion = int(np.count_nonzero(lesions))
    fraction = n_lesion / n_lung if n_lung else 0.0
    ct_pos = int(n_lesion > 0)
    if draw.ct_flip:
        ct_pos = 1 - ct_pos
    return {
        "diagnosis": draw.diagnosis,
        "ct_positive": ct_pos,
        "nat_positive": draw.nat_positive,
        "severity": draw.severity,
        "morbidity": draw.morbidity,
        "age": draw.age,
        "sex": draw.sex,
        "lesion_fraction": float(fraction),
        "ct_category": ct_category(fraction),
    }
