"""The disease gate: are the lungs diseased, and which of them?

Evaluated once per scan, on the outline left by the per-slice refinement
(:func:`covidct.lungs.refine.refine_labels`), and passed on: it decides whether the cavity
growth runs and which lungs grow (:func:`covidct.lungs.cavity.cavity_fill`), how organ
domes are carved (:func:`covidct.lungs.domes.carve_domes`) and which of the
partial-volume rim is trimmed (all of it in clear lungs, beside aerated lung in diseased
ones). Settings: :class:`~covidct.lungs.options.GateOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from covidct.lungs.grid import mm_to_px
from covidct.lungs.options import LungOptions

__all__ = ["DiseaseGate", "disease_gate", "lesion_shares"]

_PV_RIM_PX = 2  # the partial-volume rim at the pleura spans a pixel or two, whatever their size


@dataclass(frozen=True)
class DiseaseGate:
    """The gate's reading of one scan.

    Attributes:
        ggo: share of ground glass in the interior of the (right, left) lung.
        dense: share of dense tissue (consolidation, vessels) there.
        diseased: labels (1 right, 2 left) of the diseased lungs.
        growing: labels the cavity step may grow: the diseased ones, and the other when it
            also carries ``gate.grow_share`` of lesion-range tissue.
    """

    ggo: tuple[float, float]
    dense: tuple[float, float]
    diseased: tuple[int, ...]
    growing: tuple[int, ...]

    @property
    def open(self) -> bool:
        """True when at least one lung is diseased."""
        return bool(self.diseased)


def lesion_shares(
    labels: np.ndarray, hu: np.ndarray, spacing: tuple[float, float, float], opts: LungOptions
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Shares of ground glass and of dense tissue inside the right and left lung.

    The interior is each lung's mask eroded in-plane by ``gate.interior_mm`` (a square of
    whole pixels of ``spacing``), and by at least two pixels: partial volume at the pleura
    is a pixel phenomenon (on 3.5 mm pixels one pixel of erosion let it open the gate of a
    clear phantom lung). Ground glass: HU in ``gate.ggo_hu``; dense: from its
    upper end to ``threshold.bone_hu``. Returns ((ggo_right, ggo_left), (dense_right,
    dense_left)); 0 for an empty lung.
    """
    lo, hi = opts.gate.ggo_hu
    r = mm_to_px(opts.gate.interior_mm, spacing[1], minimum=_PV_RIM_PX)
    square = np.ones((1, 2 * r + 1, 2 * r + 1), bool)
    ggo, dense = [], []
    for k in (1, 2):
        inner = ndi.binary_erosion(labels == k, structure=square)
        vals = hu[inner]
        n = max(1, vals.size)
        ggo.append(float(np.count_nonzero((vals > lo) & (vals < hi))) / n)
        dense.append(float(np.count_nonzero((vals >= hi) & (vals < opts.threshold.bone_hu))) / n)
    return (ggo[0], ggo[1]), (dense[0], dense[1])


def disease_gate(
    labels: np.ndarray, hu: np.ndarray, spacing: tuple[float, float, float], opts: LungOptions
) -> DiseaseGate:
    """The gate of uint8 lung labels (1 right, 2 left) on HU ``(z, y, x)``, spacing in mm.

    A lung is diseased when its interior holds at least ``gate.min_ggo_share`` of ground
    glass, ``gate.min_dense_share`` of dense tissue (white lung), or
    ``gate.min_lesion_share`` of both (lobar pneumonia).
    """
    g = opts.gate
    ggo, dense = lesion_shares(labels, hu, spacing, opts)
    lesion = [a + b for a, b in zip(ggo, dense)]
    diseased = tuple(k for k, a, b, s in zip((1, 2), ggo, dense, lesion)
                     if a >= g.min_ggo_share or b >= g.min_dense_share or s >= g.min_lesion_share)
    growing = ()
    if diseased:
        growing = tuple(k for k, s in zip((1, 2), lesion) if k in diseased or s >= g.grow_share)
    return DiseaseGate(ggo=ggo, dense=dense, diseased=diseased, growing=growing)
