"""The classical threshold lung mask (Kaggle / Data Science Bowl 2017 preprocessing).

Steps, on the working grid (HU, ``(z, y, x)``): threshold air (below ``threshold_hu``),
clear what touches the slice border (outside air), label in 3D, drop the components that
touch the volume corners, fill the lung structures slice by slice, keep the large 3D air
components. It is the baseline of the COVID-MTL paper and under-segments dense lung
(consolidation and ground glass touching the pleura, "white lung").

Also here: the body mask (the patient outline, holes filled per slice), which the other
steps use to tell air inside the chest from the air around the patient, and the morphology
helpers the lung steps share.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image
from skimage.segmentation import clear_border

__all__ = ["body_mask", "classical_air", "convex_hull", "dilated", "fill_holes", "fill_slices", "large_components"]

log = logging.getLogger(__name__)

_IN_PLANE = np.zeros((3, 3, 3), bool)  # face neighbours within an axial slice
_IN_PLANE[1] = ndi.generate_binary_structure(2, 1)


def dilated(mask: np.ndarray, structure: np.ndarray | None = None, iterations: int = 1) -> np.ndarray:
    """``ndi.binary_dilation(mask, structure, iterations)`` (``iterations`` >= 1), computed
    in the box around ``mask`` widened by the dilation's reach: the same voxels, a fraction
    of the work when the mask is small (the airways, a lumen in a slice)."""
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1; got {iterations}")
    out = np.zeros(mask.shape, bool)
    boxes = ndi.find_objects(np.asarray(mask, bool).view(np.uint8))
    if not boxes:
        return out
    shape = structure.shape if structure is not None else (3,) * mask.ndim
    wide = tuple(slice(max(0, s.start - (k // 2) * iterations), min(n, s.stop + (k // 2) * iterations))
                 for s, k, n in zip(boxes[0], shape, mask.shape))
    out[wide] = ndi.binary_dilation(mask[wide], structure=structure, iterations=iterations)
    return out


def _filled(mask: np.ndarray, structure: np.ndarray | None, faces: tuple[int, ...]) -> np.ndarray:
    """``mask`` or the background components not touching the array's faces along ``faces``."""
    lab, n = ndi.label(~mask, structure=structure)
    outside = np.zeros(n + 1, bool)
    for axis in faces:
        outside[np.take(lab, [0, -1], axis=axis)] = True
    outside[0] = False
    return ~outside[lab]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` (bool, 2D) with its holes filled: the same as ``scipy.ndimage.binary_fill_holes``
    (background not face-connected to the border becomes foreground), from one labelling of
    the background instead of an iterated dilation (3-5 x faster)."""
    return _filled(np.asarray(mask, bool), None, tuple(range(mask.ndim)))


def fill_slices(mask: np.ndarray) -> np.ndarray:
    """Fill holes in every axial slice of a boolean ``(z, y, x)`` mask (:func:`fill_holes` of
    each slice, in one labelling)."""
    return _filled(np.asarray(mask, bool), _IN_PLANE, (1, 2))


def convex_hull(mask: np.ndarray) -> np.ndarray:
    """The convex hull of a 2D bool mask, as ``skimage.morphology.convex_hull_image`` (which
    tests every pixel of the image), computed in the box around ``mask``'s pixels."""
    hits = [np.nonzero(mask.any(axis=1 - axis))[0] for axis in (0, 1)]
    out = np.zeros(mask.shape, bool)
    if len(hits[0]):
        box = tuple(slice(h[0], h[-1] + 1) for h in hits)
        out[box] = convex_hull_image(mask[box])
    return out


def body_mask(hu: np.ndarray, body_hu: float) -> np.ndarray:
    """The patient's body: tissue above ``body_hu`` (largest 3D part), filled per slice.

    Args:
        hu: ``(z, y, x)`` HU on the working grid.
        body_hu: tissue threshold in HU (e.g. -500).
    Returns:
        boolean ``(z, y, x)`` mask; all False when there is no tissue.
    """
    tissue = hu > body_hu
    # a thin opening detaches the table and blankets (thin, bright lines)
    tissue = ndi.binary_opening(tissue, structure=np.ones((1, 3, 3), bool))
    lab, n = ndi.label(tissue)
    if n == 0:
        return np.zeros(hu.shape, dtype=bool)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    body = lab == int(np.argmax(sizes))
    return fill_slices(body)


def large_components(mask: np.ndarray, min_voxels: int) -> tuple[np.ndarray, int]:
    """Labelled 3D components (6-connectivity) of at least ``min_voxels``, biggest first."""
    lab, n = ndi.label(mask)
    if n == 0:
        return np.zeros(mask.shape, dtype=np.int32), 0
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    order = [int(i) for i in np.argsort(sizes)[::-1] if sizes[i] >= max(min_voxels, 1)]
    lut = np.zeros(n + 1, dtype=np.int32)
    for rank, old in enumerate(order, start=1):
        lut[old] = rank
    return lut[lab], len(order)


def classical_air(hu: np.ndarray, threshold_hu: float) -> np.ndarray:
    """The Kaggle/DSB-2017 air mask before component selection.

    Threshold below ``threshold_hu``, clear the components touching each slice border,
    label in 3D and drop components touching the 8 corners of the volume, then fill the
    remaining structures slice by slice (vessels and nodules inside the lung).
    """
    air = hu < threshold_hu
    cleared = np.empty_like(air)
    for z in range(air.shape[0]):
        cleared[z] = clear_border(air[z])
    lab, _ = ndi.label(cleared)
    zs, ys, xs = (0, -1), (0, -1), (0, -1)
    corner = {int(lab[z, y, x]) for z in zs for y in ys for x in xs}
    corner.discard(0)
    if corner:
        cleared[np.isin(lab, list(corner))] = False
    return fill_slices(cleared)
