"""Real anatomy, simulated disease: phantom findings painted into the lungs of a real CT.

The phantom's chest approximates a real one; painting its findings (exact GGO and
consolidation masks) into a real CT with clear lungs tests the lung and lesion steps on
real hearts, livers, mediastinal fat and scanner noise (``benchmarks/hybrid_validation.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from covidct.errors import InvalidInputError
from covidct.io.volume import CTVolume, check_same_grid
from covidct.phantom.findings import paint_findings
from covidct.phantom.geometry import Grid
from covidct.phantom.labels import CaseDraw

__all__ = ["PAINTED_SETS", "noise_sd", "paint_into", "painted_cases"]

#: Named sets of painted cases: ``(findings, seed of the first)``, each finding
#: ``(diagnosis, share of the lung involved, share of it consolidated)``, case i with seed
#: first + i. "standard" to "fifth" and the mild sets score the lung and lesion steps
#: (``benchmarks/hybrid_validation.py``); "fresh" was drawn after the hybrid's thresholds
#: were chosen on "standard", "third" after its collapse check was set on two "fresh" cases,
#: "fourth" after that check ran on every scan, "fifth" after the diseased-lung rim rule, "mild2"
#: after the lost-lung test was set on "mild": none was looked at before the change it checks.
#: "x1" and "x2" add severe cases for fitting the lung choice classifier
#: (:mod:`covidct.lungs.train_choice`).
PAINTED_SETS: dict[str, tuple[list[tuple[str, float, float]], int]] = {
    "standard": ([("covid", 0.25, 0.2), ("covid", 0.5, 0.4), ("covid", 0.75, 0.6), ("pneumonia", 0.25, 0.7)], 0),
    "fresh": ([("covid", 0.3, 0.3), ("covid", 0.55, 0.5), ("covid", 0.8, 0.8), ("pneumonia", 0.4, 0.8)], 10),
    "third": ([("covid", 0.45, 0.7), ("covid", 0.85, 0.9), ("pneumonia", 0.35, 1.0), ("covid", 0.65, 0.3)], 20),
    "fourth": ([("covid", 0.35, 0.5), ("covid", 0.6, 0.7), ("pneumonia", 0.3, 0.9), ("covid", 0.9, 0.6)], 30),
    "fifth": ([("covid", 0.4, 0.4), ("covid", 0.7, 0.8), ("pneumonia", 0.5, 0.9), ("covid", 0.95, 0.5)], 40),
    "mild": ([("covid", 0.02, 0.3), ("covid", 0.05, 0.5), ("covid", 0.1, 0.8), ("pneumonia", 0.05, 0.9),
              ("pneumonia", 0.1, 1.0)], 60),
    "mild2": ([("covid", 0.03, 0.4), ("covid", 0.08, 0.6), ("covid", 0.12, 0.9), ("pneumonia", 0.08, 1.0),
               ("pneumonia", 0.12, 0.8)], 70),
    "x1": ([("covid", 0.35, 0.6), ("covid", 0.6, 0.8), ("pneumonia", 0.45, 0.9), ("covid", 0.85, 0.7)], 50),
    "x2": ([("covid", 0.5, 0.7), ("covid", 0.75, 0.9), ("pneumonia", 0.3, 1.0), ("covid", 0.9, 0.8)], 60),
}


def noise_sd(hu: np.ndarray, region: np.ndarray) -> float:
    """Noise SD (HU) of a CT in a homogeneous ``region`` (e.g. body fat): robust SD of the
    step between neighbouring voxels along x, divided by sqrt(2)."""
    steps = np.diff(np.asarray(hu, np.float32), axis=2)[region[:, :, 1:] & region[:, :, :-1]]
    if steps.size == 0:
        return 0.0
    mad = float(np.median(np.abs(steps - np.median(steps))))
    return 1.4826 * mad / float(np.sqrt(2.0))


def paint_into(
    volume: CTVolume,
    lungs: np.ndarray,
    *,
    diagnosis: str = "covid",
    fraction: float = 0.5,
    consolidation_share: float = 0.4,
    seed: int = 0,
) -> tuple[CTVolume, np.ndarray]:
    """Paint findings into the lungs of a real CT.

    Args:
        volume: CT in HU with clear lungs, ``(z, y, x)``, LPS direction (axial).
        lungs: ``(z, y, x)`` lung labels on its grid (1 right, 2 left), e.g. ``segment_lungs``.
        diagnosis: ``"covid"`` (bilateral, peripheral, posterior) or ``"pneumonia"`` (lobar).
        fraction: share of the lung volume to involve (0-0.97).
        consolidation_share: share of the involved volume that is consolidation.
        seed: random seed of the findings and their noise.
    Returns:
        ``(sick volume (int16 HU, same geometry), lesion mask (uint8: 1 GGO, 2 consolidation))``;
        the painted voxels get noise of the scan's own SD (:func:`noise_sd` in body fat).
    """
    check_same_grid(volume, lungs)
    if diagnosis not in ("covid", "pneumonia"):
        raise InvalidInputError(f"diagnosis must be 'covid' or 'pneumonia'; got {diagnosis!r}")
    if not (0.0 < fraction <= 0.97 and 0.0 <= consolidation_share <= 1.0):
        raise InvalidInputError(
            f"fraction must be in (0, 0.97] and consolidation_share in [0, 1]; got "
            f"{fraction}, {consolidation_share}")
    if not ((np.asarray(lungs) == 1).any() and (np.asarray(lungs) == 2).any()):
        raise InvalidInputError("the lung mask needs both lungs (labels 1 and 2)")
    rng = np.random.default_rng(seed)
    draw = CaseDraw(diagnosis=diagnosis, severity=2 if fraction >= 0.5 else 1, morbidity="",
                    target_fraction=float(fraction), consolidation_share=float(consolidation_share),
                    nat_positive=1, ct_flip=False, age=60, sex="M")
    hu = np.asarray(volume.array, np.float32).copy()
    grid = Grid(shape=volume.shape, spacing=volume.spacing, origin=volume.origin)
    lesions = paint_findings(rng, draw, hu, np.asarray(lungs, np.uint8), grid)
    painted = lesions > 0
    sd = noise_sd(volume.array, (volume.array > -150) & (volume.array < -50))
    hu[painted] += rng.normal(0.0, sd, int(painted.sum())).astype(np.float32)
    sick = volume.with_array(np.clip(np.rint(hu), -1024, 3071).astype(np.int16),
                             painted_findings=f"{diagnosis} {fraction:.2f}/{consolidation_share:.2f}")
    return sick, lesions


def painted_cases(volume: CTVolume, lungs: np.ndarray, names: Iterable[str], *, sets: Mapping[str, Any] = PAINTED_SETS
                  ) -> Iterator[tuple[str, str, CTVolume, np.ndarray]]:
    """``(set name, case name, painted scan, lesion mask)`` for each case of the sets ``names``
    of ``sets`` (default :data:`PAINTED_SETS`) painted into ``volume``'s ``lungs``
    (:func:`paint_into`); the case name reads ``"covid 0.50/0.4 s1"``.

    Raises:
        InvalidInputError: a set name not in ``sets``.
    """
    unknown = sorted(set(names) - set(sets))
    if unknown:
        raise InvalidInputError(f"unknown painted case sets {unknown}; known: {sorted(sets)}")
    for name in names:
        findings, first_seed = sets[name]
        for seed, (diagnosis, fraction, cons) in enumerate(findings, start=first_seed):
            sick, lesions = paint_into(volume, lungs, diagnosis=diagnosis, fraction=fraction,
                                       consolidation_share=cons, seed=seed)
            yield name, f"{diagnosis} {fraction:.2f}/{cons:.1f} s{seed}", sick, lesions
