"""Right / left labelling of the lung mask, splitting lungs that touch.

Every air component is given to the side of the body midline (the trachea axis when one
was found, else the body's centre) that holds its centroid. A component lying well on both
sides (the two lungs touching at the anterior or posterior junction) is split: it is
eroded in-plane until it falls into two large parts, one per side, which seed a watershed
on the distance map; when erosion cannot separate them the midline plane cuts it.
Right is patient right (LPS -x), found through the direction matrix, so a flipped volume
still gets right = 1.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from covidct.lungs.grid import Orientation

__all__ = ["LEFT", "RIGHT", "label_sides"]

log = logging.getLogger(__name__)

RIGHT, LEFT = 1, 2
_BRIDGE_FRACTION = 0.1  # a component with this much on each side is two lungs touching
_MAX_ERODE_MM = 15.0


def _coords(shape: tuple[int, ...], axis: int) -> np.ndarray:
    shp = [1, 1, 1]
    shp[axis] = shape[axis]
    return np.arange(shape[axis], dtype=np.float32).reshape(shp)


def _split_component(
    comp: np.ndarray, low_side: np.ndarray, spacing: tuple[float, float, float], axis: int
) -> np.ndarray:
    """Split a bridged component: int array, 1 = low-index side piece, 2 = high side."""
    sl = ndi.find_objects(comp.astype(np.uint8))[0]
    sub = comp[sl]
    low = low_side[sl] if low_side.shape == comp.shape else np.broadcast_to(low_side, comp.shape)[sl]
    total = sub.sum()
    struct = np.zeros((3, 3, 3), bool)
    struct[1] = ndi.generate_binary_structure(2, 1)
    eroded = sub.copy()
    step_mm = min(spacing[1], spacing[2])
    markers = None
    for _ in range(max(1, int(_MAX_ERODE_MM / step_mm))):
        eroded = ndi.binary_erosion(eroded, structure=struct)
        if not eroded.any():
            break
        lab, n = ndi.label(eroded)
        if n < 2:
            continue
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        big = [i for i in np.argsort(sizes)[::-1][:2] if sizes[i] >= 0.05 * total]
        if len(big) < 2:
            continue
        fr = [float((low & (lab == i)).sum()) / sizes[i] for i in big]
        if (fr[0] - 0.5) * (fr[1] - 0.5) >= 0:
            continue  # both big parts on the same side: keep eroding
        markers = np.zeros(sub.shape, np.int32)
        for i, f in zip(big, fr):
            markers[lab == i] = 1 if f > 0.5 else 2
        break
    out = np.zeros(comp.shape, np.int32)
    if markers is None:
        log.info("lungs touching: erosion did not separate them, cutting at the midline")
        piece = np.where(low, 1, 2) * sub
    else:
        dist = ndi.distance_transform_edt(sub, sampling=spacing)
        piece = watershed(-dist, markers, mask=sub)
    out[sl] = piece
    return out


def label_sides(
    mask: np.ndarray,
    orient: Orientation,
    midline: float,
    spacing: tuple[float, float, float],
    min_voxels: int,
) -> np.ndarray:
    """uint8 ``(z, y, x)`` labels: 0 background, 1 right lung, 2 left lung.

    Args:
        mask: boolean lung mask on the working grid (airways already removed).
        orient: array orientation (left-right axis and which side is right).
        midline: index position of the body midline along ``orient.lr_axis``.
        spacing: ``(sz, sy, sx)`` mm of the working grid.
        min_voxels: components smaller than this are dropped.
    """
    axis = orient.lr_axis
    coord = _coords(mask.shape, axis)
    low_side = coord < midline
    lab, n = ndi.label(mask)
    out = np.zeros(mask.shape, np.uint8)
    if n == 0:
        return out
    sizes = np.bincount(lab.ravel())
    low_counts = np.bincount(lab.ravel(), weights=np.broadcast_to(low_side, mask.shape).ravel())
    low_label = RIGHT if orient.right_is_low else LEFT
    high_label = LEFT if orient.right_is_low else RIGHT
    for i in range(1, n + 1):
        if sizes[i] < min_voxels:
            continue
        comp = lab == i
        frac_low = low_counts[i] / sizes[i]
        if min(frac_low, 1 - frac_low) >= _BRIDGE_FRACTION and sizes[i] >= 20 * min_voxels:
            pieces = _split_component(comp, low_side, spacing, axis)
            out[pieces == 1] = low_label
            out[pieces == 2] = high_label
        else:
            out[comp] = low_label if frac_low >= 0.5 else high_label
    return out
