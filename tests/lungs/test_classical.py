"""Mask helpers of covidct.lungs.classical against the scipy / scikit-image functions they replace."""

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image

from covidct.lungs.classical import convex_hull, dilated, fill_holes, fill_slices
from covidct.lungs.segment import _median_in_plane


def _blobs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return ndi.binary_opening(rng.random(shape) < rng.uniform(0.25, 0.75))


def test_fill_holes_known_answer():
    ring = np.zeros((7, 7), bool)
    ring[1:6, 1:6] = True
    ring[2:5, 2:5] = False  # a 3 x 3 hole
    ring[3, 3] = True  # an island inside it
    filled = fill_holes(ring)
    assert filled[1:6, 1:6].all() and filled.sum() == 25
    notch = ring.copy()
    notch[1, 3] = False  # the hole opens to the border through a face: not a hole
    assert not fill_holes(notch)[2:5, 2].any()
    diagonal = ring.copy()
    diagonal[1, 1] = False  # a corner (diagonal) contact only: still a hole (face connectivity)
    assert fill_holes(diagonal)[2:5, 2:5].all()


@pytest.mark.parametrize("seed", range(4))
def test_fill_holes_and_slices_equal_scipy(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        m = _blobs(rng, (int(rng.integers(5, 60)), int(rng.integers(5, 60))))
        assert np.array_equal(fill_holes(m), ndi.binary_fill_holes(m))
    vol = _blobs(rng, (6, 40, 45))
    vol[2] = False
    expected = np.stack([ndi.binary_fill_holes(s) for s in vol])
    assert np.array_equal(fill_slices(vol), expected)  # holes are per slice, not in 3D


@pytest.mark.parametrize("seed", range(4))
def test_convex_hull_equals_scikit_image(seed):
    rng = np.random.default_rng(seed)
    for _ in range(30):
        m = np.zeros((80, 90), bool)
        y, x = rng.integers(0, 60, 2)
        m[y:y + 20, x:x + 25] = _blobs(rng, (20, 25))
        if m.any():
            assert np.array_equal(convex_hull(m), convex_hull_image(m))
    assert not convex_hull(np.zeros((9, 9), bool)).any()


def test_median_in_plane_equals_scipy():
    rng = np.random.default_rng(0)
    hu = rng.normal(-500, 300, (4, 33, 41)).astype(np.float32)
    hu[:, 0, :] = 1000.0  # edge rows: the border handling must match too
    assert np.array_equal(_median_in_plane(hu), ndi.median_filter(hu, size=(1, 3, 3)))
    ties = (np.round(hu / 250.0) * 250.0).astype(np.int16)  # few values: many ties; integer HU
    out = _median_in_plane(ties)
    assert out.dtype == np.int16 and np.array_equal(out, ndi.median_filter(ties, size=(1, 3, 3)))
    one_row = hu[:, :1, :5]  # slices of one row: the border on both sides
    assert np.array_equal(_median_in_plane(one_row), ndi.median_filter(one_row, size=(1, 3, 3)))


def test_dilated_in_its_box_equals_scipy():
    """The dilation in the box around the mask gives scipy's voxels over the whole array: 2D
    and 3D masks, inside and at the edges, footprints, the default cross, iterations, empty."""
    from skimage.morphology import disk

    rng = np.random.default_rng(2)
    for trial in range(120):
        shape = (40, 50) if trial % 2 else (7, 30, 26)
        mask = np.zeros(shape, bool)
        for _ in range(int(rng.integers(0, 4))):
            mask[tuple(int(rng.integers(0, n)) for n in shape)] = True
        if trial % 3 == 0:
            mask[(0,) * len(shape)] = mask[(-1,) * len(shape)] = True
        if len(shape) == 2:
            structure = disk(int(rng.integers(1, 6)))
        else:
            structure = [None, np.ones((1, 3, 3), bool), np.ones((3, 3, 3), bool)][trial % 3]
        iterations = int(rng.integers(1, 4))
        np.testing.assert_array_equal(dilated(mask, structure, iterations),
                                      ndi.binary_dilation(mask, structure=structure, iterations=iterations))
    with pytest.raises(ValueError):
        dilated(np.ones((3, 3), bool), iterations=0)
