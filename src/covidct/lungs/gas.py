"""Gas that is not lung: large pure-gas pockets and the abdominal gas among them.

Lung parenchyma is -950..-700 HU (vessels and partial volume); the gas of the stomach and
bowel is purer. A pocket of pure gas (in-plane median below :data:`GAS_MEDIAN_HU`) of at
least :data:`GAS_POCKET_ML` is never lung candidate air; one that floats on soft tissue
(gas rises onto fluid or the organ wall) is abdominal gas and never becomes lung later.
Working grid, ``(z, y, x)`` arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage as ndi

from covidct.lungs.classical import dilated
from covidct.lungs.grid import mm_to_px

if TYPE_CHECKING:
    from covidct.lungs.grid import Orientation
    from covidct.lungs.options import LungOptions

__all__ = ["GAS_MEDIAN_HU", "GAS_POCKET_ML", "WALL_MEDIAN_HU", "abdominal_gas", "abdominal_gas_of", "gas_pockets"]

GAS_MEDIAN_HU = -975.0  # an air region or pocket with a median below this is pure gas
GAS_POCKET_ML = 5.0  # pure-gas pockets at least this large are not lung
WALL_MEDIAN_HU = -500.0  # median HU under a gas pocket that floats on soft tissue


def gas_pockets(smooth: np.ndarray, voxel_ml: float) -> np.ndarray:
    """Large pure-gas pockets (stomach, bowel), grown by a pixel: not lung even if they touch it.

    ``smooth``: the in-plane 3 x 3 median of the HU; ``voxel_ml``: the volume of a voxel.
    A pocket of at least ``GAS_POCKET_ML`` below ``GAS_MEDIAN_HU`` is gas. Airways inside
    the lung come back when the slices are filled (they are enclosed by lung).
    """
    gas = smooth < GAS_MEDIAN_HU
    lab, n = ndi.label(gas)
    if n == 0:
        return gas
    sizes = np.bincount(lab.ravel()) * voxel_ml
    sizes[0] = 0.0
    big = np.nonzero(sizes >= GAS_POCKET_ML)[0]
    pockets = np.isin(lab, big)
    return ndi.binary_dilation(pockets, structure=np.ones((1, 3, 3), bool))


def abdominal_gas(
    pockets: np.ndarray, hu: np.ndarray, body: np.ndarray, airway: np.ndarray,
    superior_is_high: bool,
) -> np.ndarray:
    """The gas pockets that float on soft tissue (stomach, bowel), grown by a voxel in 3D.

    A pocket inside the body that does not touch the ``airway`` and whose floor (the voxels
    one or two slices below it, towards the feet) has a median above ``WALL_MEDIAN_HU`` is
    abdominal gas (gas rises onto fluid or the organ wall); an emphysematous bulla or an
    airway lies on lung. The growth covers the partial-volume top of the gas dome.
    """
    lab, n = ndi.label(pockets)
    if n == 0:
        return np.zeros(pockets.shape, bool)
    # feet at index 0; the floor of a pocket: the voxels right under its columns, read
    # as the higher HU of the two voxels below (a gas-fluid level is partial volume)
    lab_up = lab if superior_is_high else lab[::-1]
    hu_up = hu if superior_is_high else hu[::-1]
    floor_lab = np.zeros_like(lab_up)
    floor_lab[:-1] = lab_up[1:]
    floor_lab[lab_up > 0] = 0
    floor_hu = hu_up.copy()
    floor_hu[1:] = np.maximum(hu_up[1:], hu_up[:-1])
    outside = set(np.unique(lab[~body]).tolist())
    touch = set(np.unique(lab[airway]).tolist())
    keep = []
    for i in range(1, n + 1):
        if i in outside or i in touch:
            continue
        floor = floor_hu[floor_lab == i]
        if floor.size and float(np.median(floor)) > WALL_MEDIAN_HU:
            keep.append(i)
    gas = np.isin(lab, keep)
    return dilated(gas, np.ones((3, 3, 3), bool)) if keep else gas


def abdominal_gas_of(hu: np.ndarray, body: np.ndarray, airway: np.ndarray, pockets: np.ndarray,
                     spacing: tuple[float, float, float], orient: Orientation, opts: LungOptions) -> np.ndarray:
    """The scan's abdominal gas (:func:`abdominal_gas`): the gas ``pockets``
    (:func:`gas_pockets`) that float on soft tissue, away from the
    ``airway`` lumen and its wall (``airways.dilation_mm``). Never lung, in any method."""
    wall_px = mm_to_px(opts.airways.dilation_mm, spacing[1])
    return abdominal_gas(pockets, hu, body, dilated(airway, iterations=wall_px),
                         orient.superior_is_high)
