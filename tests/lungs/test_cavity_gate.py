"""The disease gate of the cavity step, organ domes and abdominal gas (known answers)."""

from __future__ import annotations

import numpy as np
from synth import make_chest

from covidct.lungs import LEFT, LungOptions, segment_lungs
from covidct.lungs.cavity import cavity_fill, diseased_lungs, is_diseased, lesion_shares


def _block_lungs(ggo_rows: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two 20 x 40 x 40 box lungs at -850 HU; the first ``ggo_rows`` rows of the right
    lung's interior at -500 HU (ground glass)."""
    labels = np.zeros((20, 60, 100), np.uint8)
    labels[:, 10:50, 5:45] = 1
    labels[:, 10:50, 55:95] = 2
    hu = np.full(labels.shape, 40.0, np.float32)
    hu[labels > 0] = -850.0
    if ggo_rows:
        hu[:, 12 : 12 + ggo_rows, 7:43] = -500.0
    return labels, hu


def test_lesion_shares_known_answer():
    labels, hu = _block_lungs(ggo_rows=9)
    (g_r, g_l), (d_r, d_l) = lesion_shares(labels, hu, LungOptions())
    # interior after a 2-pixel in-plane erosion: 36 x 36; 9 of its 36 rows are ground glass
    assert g_r == 0.25 and g_l == 0.0
    assert d_r == 0.0 and d_l == 0.0
    assert is_diseased(labels, hu, LungOptions())
    assert not is_diseased(*_block_lungs(ggo_rows=3), LungOptions())  # 3/36 < 0.15


def test_diseased_lungs_per_lung():
    labels, hu = _block_lungs(ggo_rows=9)  # right lung 25 % ground glass
    # left lung: 8 of 36 interior rows dense (22 %): neither share alone, but the sum with
    # 2 ground-glass rows (6 %) reaches cavity_min_lesion_share (0.25)
    hu[:, 12:20, 57:93] = 20.0
    assert diseased_lungs(labels, hu, LungOptions()) == [1]
    hu[:, 20:22, 57:93] = -500.0
    assert diseased_lungs(labels, hu, LungOptions()) == [1, 2]
    assert diseased_lungs(labels, hu, LungOptions(cavity_min_lesion_share=0.5)) == [1]


def test_clear_lungs_left_unchanged_by_cavity_step():
    labels, hu = _block_lungs()
    body = np.ones(labels.shape, bool)
    none = np.zeros(labels.shape, bool)
    out = cavity_fill(labels, hu, body, none, (3.0, 1.0, 1.0), LungOptions(), 50.0)
    np.testing.assert_array_equal(out, labels)
    assert out is not labels


def _chest_with_stomach():
    """The synthetic chest with a stomach under the left lung base: a +20 HU ball whose
    top half holds gas (a gas-fluid level), ringed by lung in the slices of the gas; the
    top slice of the gas dome is a gas-lung partial volume (-900 HU, like lung)."""
    chest = make_chest("none", seed=3)
    z, y, x = np.meshgrid(*(np.arange(n) for n in chest.hu.shape), indexing="ij")
    zc, yc, xc = 9, 120, 210  # 27 mm above the first slice, in the left lung base
    ball = ((z - zc) * 3.0) ** 2 + (y - yc) ** 2 + (x - xc) ** 2 <= 22.0**2
    gas = ball & (z >= zc)
    hu = chest.hu.copy()
    hu[ball] = 20
    hu[gas] = -1000
    hu[gas & (z >= zc + 6)] = -900  # the dome's top slice: gas and lung, partial volume
    truth = chest.truth.copy()
    truth[ndi_dilate(ball)] = 0
    return hu, truth, gas, chest.spacing


def ndi_dilate(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.binary_dilation(mask, structure=np.ones((1, 3, 3), bool), iterations=2)


def test_stomach_gas_is_not_lung():
    hu, truth, gas, spacing = _chest_with_stomach()
    labels = segment_lungs(hu, spacing)
    assert (labels[gas] > 0).mean() < 0.05  # the gas bubble stays out
    without = segment_lungs(hu, spacing, options=LungOptions(use_cavity=False))
    assert (without[gas] > 0).mean() < 0.05  # excluded before the cavity step
    left = labels == LEFT
    dice = 2.0 * (left & (truth == 2)).sum() / (left.sum() + (truth == 2).sum())
    assert dice > 0.95
