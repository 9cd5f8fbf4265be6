"""The partial-volume rim trim of ``"refined"`` (segment._partial_volume_rim, _beside_aerated)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from covidct.lungs import LungOptions
from covidct.lungs.segment import _beside_aerated, _partial_volume_rim


def _square_lung(inner_hu_right: float) -> tuple[np.ndarray, np.ndarray]:
    """Three slices, a 20 x 20 lung in a 40 x 40 chest wall (40 HU): its outer ring at
    -300 HU (lung mixed with wall), inside it aerated lung (-850 HU) on the left half and
    ``inner_hu_right`` on the right half."""
    labels = np.zeros((3, 40, 40), np.uint8)
    labels[:, 10:30, 10:30] = 1
    hu = np.full(labels.shape, 40.0, np.float32)
    hu[:, 10:30, 10:30] = -300.0
    hu[:, 11:29, 11:20] = -850.0
    hu[:, 11:29, 20:29] = inner_hu_right
    return labels, hu


def test_rim_is_the_outer_ring_between_air_and_soft_tissue():
    labels, hu = _square_lung(-850.0)
    rim = _partial_volume_rim(labels, hu, LungOptions())
    ring = (labels > 0) & ~ndi.binary_erosion(labels > 0, structure=np.ones((1, 3, 3), bool))
    np.testing.assert_array_equal(rim, ring)
    hu[:, 10, 15] = 20.0  # consolidation against the wall: kept
    assert not _partial_volume_rim(labels, hu, LungOptions())[1, 10, 15]


def test_diseased_lungs_trim_only_the_rim_beside_aerated_lung():
    opts = LungOptions()
    labels, hu = _square_lung(-550.0)  # ground glass on the right half, up to the ring
    smooth = ndi.median_filter(hu, size=(1, 3, 3))
    rim = _partial_volume_rim(labels, hu, opts)
    trimmed = rim & _beside_aerated(labels, rim, smooth, opts)
    # the left side of the ring (next to -850 HU lung) is partial volume: trimmed
    assert trimmed[:, 12:28, 10].all()
    # the right side (next to ground glass) may be disease at the pleura: kept
    assert not trimmed[:, 11:29, 29].any()
    # the top edge: trimmed along the aerated half, none of it beside the ground glass
    top = np.nonzero(trimmed[1, 10])[0]
    assert top.min() <= 12 and 19 <= top.max() <= 20
