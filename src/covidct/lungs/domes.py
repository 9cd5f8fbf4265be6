"""Organ domes (liver, stomach, spleen tops) carved out of the lung bases.

Per-slice hole filling, closing and the snake take the top of an organ dome when the lung
rings it. Going from the feet up, dense pixels (smoothed HU above ``domes.min_hu``) of a
lung slice that lie over non-lung body in the slice below, in parts of at least
``domes.min_area_mm2`` that do not reach the rib line (a subpleural consolidation of the
costophrenic recess does), are not lung. The rib line is the rib slab's bone outside the
convex hull of each lung in the slice: in a contrast-enhanced scan the slab also holds the
enhanced organ under a dome (a spleen of 165 HU), which lies inside that hull and must not
pass for ribs (the hull of both lungs together would also take in the spine). In diseased
lungs (the disease gate, :mod:`covidct.lungs.gate`) dense lung over the diaphragm may be
consolidation: only dense parts enclosed by aerated lung in the slice are removed there.
In clear lungs, a part of at least ``domes.wall_area_mm2`` (after bridges thinner than
twice ``domes.bridge_mm`` are opened away) is removed even where it reaches the rib line
(the spleen top ringed by the left lung of the real lung2 CT; a basal pleural tumour in one
slice is smaller).
Slices without a visible cage (``cavity.min_cage_mm2``) are left unchanged.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from covidct.lungs.classical import convex_hull, fill_holes
from covidct.lungs.grid import mm2_to_px, mm_to_px
from covidct.lungs.options import LungOptions

__all__ = ["carve_domes"]

log = logging.getLogger(__name__)

_SQUARE = np.ones((3, 3), bool)


def _big_parts(mask: np.ndarray, min_px: int, radius_px: int) -> np.ndarray:
    """Parts of a 2D ``mask`` of at least ``min_px`` pixels once opened by a diamond
    (city-block ball) of ``radius_px`` (thin bridges cut), grown back into the mask by it."""
    diamond = ndi.iterate_structure(ndi.generate_binary_structure(2, 1), radius_px)
    opened = ndi.binary_opening(mask, structure=diamond)
    lab, n = ndi.label(opened, structure=_SQUARE)
    if n == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    big = np.isin(lab, np.nonzero(sizes >= min_px)[0])
    return ndi.binary_dilation(big, structure=diamond, mask=mask) if big.any() else big


def _hulls(labels: np.ndarray) -> np.ndarray:
    """The union of the convex hulls of each lung of a 2D label slice."""
    out = np.zeros(labels.shape, bool)
    for k in np.unique(labels[labels > 0]):
        out |= convex_hull(labels == k)
    return out


def _dome_pixels(cand: np.ndarray, bone: np.ndarray, diseased: bool, min_px: int,
                 wall_px: int, big_px: int, bridge_px: int) -> np.ndarray:
    """The dome pixels among the dense candidates ``cand`` of one slice (2D); ``bone`` is
    the rib line (slab bone outside the lungs' hulls)."""
    near_wall = ndi.binary_dilation(bone, iterations=wall_px)
    lab, n = ndi.label(cand, structure=_SQUARE)
    sizes = np.bincount(lab.ravel())
    hit = set(np.unique(lab[near_wall & (lab > 0)]).tolist())
    rm = np.isin(lab, [i for i in range(1, n + 1) if sizes[i] >= min_px and i not in hit])
    if not diseased:
        # in clear lungs a part wider than any basal lesion is an organ dome even where it
        # reaches the ribs; thin bridges along the lung floor (to a pleural tumour) are
        # opened first
        rm |= _big_parts(cand & ~rm, big_px, bridge_px)
    return rm


def carve_domes(
    labels: np.ndarray,
    smooth: np.ndarray,
    slab: np.ndarray,
    body: np.ndarray,
    spacing: tuple[float, float, float],
    opts: LungOptions,
    *,
    diseased: bool,
    superior_is_high: bool = True,
) -> np.ndarray:
    """Remove organ domes from uint8 lung labels (1 right, 2 left; working grid).

    Args:
        labels: ``(z, y, x)`` lung labels.
        smooth: the in-plane 3 x 3 median of the working HU.
        slab: the rib cage, :func:`covidct.lungs.cavity.rib_slab` of ``smooth``.
        body: body mask.
        spacing: ``(sz, sy, sx)`` mm of the working grid.
        diseased: the disease gate is open (:attr:`covidct.lungs.gate.DiseaseGate.open`).
        superior_is_high: True when the head lies at high z index.
    Returns:
        new labels (a copy).
    """
    d = opts.domes
    out = labels.copy()
    zs = np.nonzero(labels.any(axis=(1, 2)))[0]
    dense = smooth > d.min_hu
    min_px = max(1, int(mm2_to_px(d.min_area_mm2, spacing)))
    big_px = max(min_px, int(mm2_to_px(d.wall_area_mm2, spacing)))
    bridge_px = mm_to_px(d.bridge_mm, min(spacing[1], spacing[2]))
    wall_px = mm_to_px(d.wall_reach_mm, spacing[1])
    min_cage_px = round(mm2_to_px(opts.cavity.min_cage_mm2, spacing))
    below = -1 if superior_is_high else 1
    removed = 0
    for z in zs if superior_is_high else zs[::-1]:  # feet first
        if np.count_nonzero(slab[z]) < min_cage_px:
            continue
        zb = z + below
        # the first slice of a scan that starts inside the lung: the unseen slice below
        # is taken as non-lung body (an organ dome cut by the scan's edge)
        under = body[zb] & (out[zb] == 0) if 0 <= zb < out.shape[0] else body[z]
        cand = (out[z] > 0) & dense[z] & under
        if diseased:
            cand &= fill_holes((out[z] > 0) & ~dense[z])  # enclosed by aerated lung
        if np.count_nonzero(cand) < min_px:
            continue
        ribs = slab[z] & ~_hulls(out[z])
        rm = _dome_pixels(cand, ribs, diseased, min_px, wall_px, big_px, bridge_px)
        out[z][rm] = 0
        removed += int(np.count_nonzero(rm))
    log.debug("dome carving: %d voxels removed", removed)
    return out
