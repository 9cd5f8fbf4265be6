"""Lesion numbers from a lesion mask made elsewhere (e.g. the Mask R-CNN lesion model)."""

from __future__ import annotations

import numpy as np

from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.io import CTVolume
from covidct.lesions import LesionQuantification
from covidct.lesions.detect import LESION_CONSOLIDATION, LESION_GGO
from covidct.lesions.options import QuantOptions
from covidct.lesions.quantify import LungQuantification, ct_category
from covidct.lesions.zones import LUNG_LABELS, zone_fractions

__all__ = ["quantify_mask"]


def quantify_mask(
    ct: CTVolume, lungs: np.ndarray, mask: np.ndarray, *, options: QuantOptions | None = None
) -> LesionQuantification:
    """The numbers of :func:`covidct.lesions.quantify` for a given lesion mask.

    Args:
        ct: the CT (its spacing and direction give volumes and zones).
        lungs: (z, y, x) labels 0/1 right/2 left.
        mask: (z, y, x) labels 0 none, 1 GGO, 2 consolidation; voxels outside the lungs
            are not counted.
        options: recorded in the result (its ``ct0_max_fraction`` sets CT-0).
    """
    opts = options or QuantOptions()
    mask = np.asarray(mask)
    if mask.shape != ct.shape or np.shape(lungs) != ct.shape:
        raise GeometryMismatchError(
            f"lesion mask {mask.shape} and lungs {np.shape(lungs)} must match the CT {ct.shape}"
        )
    if mask.size and (mask.min() < 0 or mask.max() > 2):
        raise InvalidInputError("lesion mask values must be 0 (none), 1 (GGO), 2 (consolidation)")
    labels = np.asarray(lungs, dtype=np.uint8)
    mask = np.where(labels > 0, mask, 0).astype(np.uint8)
    voxel_ml = float(np.prod(ct.spacing)) / 1000.0
    counts = np.bincount((labels * np.uint8(3) + mask).ravel(), minlength=9).reshape(3, 3)

    def lung_q(rows: list[int]) -> LungQuantification:
        c = counts[rows].sum(axis=0)
        return LungQuantification.from_counts(
            int(c.sum()), int(c[LESION_GGO]), int(c[LESION_CONSOLIDATION]), voxel_ml
        )

    total = lung_q([1, 2])
    return LesionQuantification(
        **total.to_dict(),
        right=lung_q([LUNG_LABELS["right"]]),
        left=lung_q([LUNG_LABELS["left"]]),
        ct_category=ct_category(total.lesion_fraction, ct0_max_fraction=opts.ct0_max_fraction),
        zones=zone_fractions(labels, mask, ct.spacing, ct.direction),
        options=opts,
        lesion_mask=mask,
    )
