"""Working grid and orientation of the lung segmentation (grid.py): known answers."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.lungs import LEFT, RIGHT
from covidct.lungs.grid import (
    Orientation,
    WorkingGrid,
    labels_to_input,
    labels_to_working,
    mm2_to_px,
    mm_to_px,
    to_working,
)

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
FLIP_X = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
SAGITTAL = (0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # index x = LPS y, y = z, z = x


def test_working_grid_known_shape_and_never_upsampled():
    grid = WorkingGrid.choose((48, 512, 512), (5.0, 0.5703125, 0.5703125), 1.25, 2.5)
    assert grid.shape == (48, 234, 234)  # 512 * 0.5703 / 1.25 = 233.6 -> 234; 5 mm kept
    assert grid.spacing[0] == 5.0
    assert grid.spacing[1] == pytest.approx(512 * 0.5703125 / 234)
    assert grid.voxel_ml == pytest.approx(np.prod(grid.spacing) / 1000.0)
    coarse = WorkingGrid.choose((20, 100, 100), (3.0, 3.0, 3.0), 1.25, 2.5)
    assert coarse.identity and coarse.spacing == (3.0, 3.0, 3.0)


def test_to_working_keeps_constant_and_mean():
    grid = WorkingGrid.choose((10, 64, 64), (1.0, 0.5, 0.5), 1.0, 2.0)
    assert grid.shape == (5, 32, 32)
    const = np.full((10, 64, 64), -800, np.int16)
    np.testing.assert_allclose(to_working(const, grid), -800.0)
    ramp = np.broadcast_to(np.arange(64, dtype=np.float32)[None, None, :], (10, 64, 64))
    work = to_working(ramp, grid)
    # 2 x 2 block means of 0..63 in x: 0.5, 2.5, ..., 62.5
    np.testing.assert_allclose(work[2, 5], np.arange(32) * 2 + 0.5, atol=1e-4)


def test_labels_round_trip_keeps_box_volume():
    grid = WorkingGrid.choose((20, 80, 80), (1.0, 0.5, 0.5), 1.0, 2.0)
    labels = np.zeros(grid.shape, np.uint8)
    labels[2:8, 10:30, 5:15] = RIGHT
    labels[2:8, 10:30, 25:35] = LEFT
    back = labels_to_input(labels, grid)
    assert back.shape == (20, 80, 80)
    for lab in (RIGHT, LEFT):
        ml_work = (labels == lab).sum() * grid.voxel_ml
        ml_back = (back == lab).sum() * 0.25 / 1000.0
        assert ml_back == pytest.approx(ml_work, rel=0.02)
    # the box edges land on the physical positions: x from 5 * 2 = 10 to 15 * 2 = 30 input voxels
    assert np.nonzero(back[8, 40] == RIGHT)[0][[0, -1]].tolist() == [10, 29]


def test_orientation_from_direction():
    ident = Orientation.from_direction(IDENTITY, (2.0, 1.0, 1.0))
    assert (ident.lr_axis, ident.right_is_low, ident.superior_is_high, ident.axial) == (2, True, True, True)
    assert ident.lps_x((0, 0, 10)) == pytest.approx(10.0)
    flip = Orientation.from_direction(FLIP_X, (2.0, 1.0, 1.0))
    assert flip.right_is_low is False and flip.lps_x((0, 0, 10)) == pytest.approx(-10.0)
    feet_high = Orientation.from_direction((1, 0, 0, 0, 1, 0, 0, 0, -1.0), (2.0, 1.0, 1.0))
    assert feet_high.superior_is_high is False and feet_high.anterior_is_low is True
    ras = Orientation.from_direction((-1, 0, 0, 0, -1, 0, 0, 0, 1.0), (2.0, 1.0, 1.0))  # a NIfTI in RAS
    assert (ras.right_is_low, ras.anterior_is_low, ras.superior_is_high) == (False, False, True)
    assert (ident.layout.flips, ras.layout.flips, feet_high.layout.flips) == ((), (1, 2), (0,))
    assert ident.axial and ras.axial and feet_high.axial
    sag = Orientation.from_direction(SAGITTAL, (1.0, 1.0, 1.0))
    assert sag.lr_axis == 0 and not sag.axial and sag.layout.order == (1, 2, 0)


def test_mm_to_px_known_answers():
    assert mm_to_px(10.0, 1.25) == 8
    assert mm_to_px(2.5, 1.25) == 2 and mm_to_px(2.5, 2.5) == 1
    assert mm_to_px(0.2, 1.25) == 1  # at least one pixel by default
    assert mm_to_px(0.2, 1.25, minimum=0) == 0
    assert mm2_to_px(100.0, (5.0, 1.25, 2.0)) == pytest.approx(40.0)


def test_labels_to_input_lands_on_physical_positions():
    """A box of working voxels 10..19 along x (1.25 mm) on an input grid of 0.6 mm pixels:
    its faces lie at 10 * 1.25 - 0.3 = 12.2 mm and 20 * 1.25 - 0.3 = 24.7 mm from the
    first input voxel centre, so input voxels 21 (12.6 mm) to 41 (24.6 mm) are inside."""
    grid = WorkingGrid.choose((10, 100, 100), (1.0, 0.6, 0.6), 1.25, 1.0)
    assert grid.shape == (10, 48, 48) and grid.spacing[2] == pytest.approx(1.25)
    labels = np.zeros(grid.shape, np.uint8)
    labels[3:6, 20:30, 10:20] = LEFT
    back = labels_to_input(labels, grid)
    xs = np.nonzero(back[4, 50] == LEFT)[0]  # y 20..29 working: 42..61 input
    assert xs[[0, -1]].tolist() == [21, 41]
    assert set(np.unique(back).tolist()) == {0, LEFT}


def _labels_to_working_whole_grid(labels: np.ndarray, grid: WorkingGrid) -> np.ndarray:
    """The reference: each label's 0 / 1 map over the whole input grid through to_working."""
    out = np.zeros(grid.shape, np.uint8)
    for k in (RIGHT, LEFT):
        out[to_working((labels == k).astype(np.float32), grid) >= 0.5] = k
    return out


@pytest.mark.parametrize("grid", [
    WorkingGrid.choose((30, 90, 90), (2.0, 0.6, 0.6), 1.25, 5.0),  # ratio 2.08, no whole-voxel blocks in z
    WorkingGrid.choose((30, 90, 90), (1.0, 0.6, 0.6), 1.9, 2.5),  # blocks of 3 in-plane, 2 in z
    WorkingGrid.choose((30, 90, 90), (1.0, 0.7, 0.7), 3.1, 7.5),  # blocks of 4 and 7
])
def test_labels_to_working_equals_the_whole_grid(grid):
    """Resampled in the box around the labels, the labels are those of the whole grid, to the
    voxel: boxes inside the scan, at its first and last voxels, and a single voxel."""
    rng = np.random.default_rng(4)
    labels = np.zeros(grid.in_shape, np.uint8)
    labels[6:20, 20:50, 10:40] = RIGHT
    labels[6:20, 20:50, 50:80] = LEFT
    labels[rng.random(grid.in_shape) < 0.02] = 0  # ragged edges and holes
    labels[25, 70, 5] = RIGHT
    edges = labels.copy()
    edges[:2, :4, :] = RIGHT  # against the scan's first voxels
    edges[-3:, -6:, -9:] = LEFT  # and its last
    single = np.zeros(grid.in_shape, np.uint8)
    single[15, 47, 43] = LEFT
    for case in (labels, edges, single, np.roll(labels, (1, 1, 1), axis=(0, 1, 2))):
        np.testing.assert_array_equal(labels_to_working(case, grid), _labels_to_working_whole_grid(case, grid))
    assert not labels_to_working(np.zeros(grid.in_shape, np.uint8), grid).any()


def test_labels_to_working_on_the_input_grid_keeps_the_labels():
    grid = WorkingGrid.choose((8, 20, 20), (3.0, 3.0, 3.0), 1.25, 2.5)
    assert grid.identity
    labels = np.zeros(grid.in_shape, np.uint8)
    labels[2:5, 3:9, 2:6] = RIGHT
    labels[2:5, 3:9, 12:16] = LEFT
    labels[0, 0, 0] = 7  # not a lung label
    out = labels_to_working(labels, grid)
    assert out[0, 0, 0] == 0
    labels[0, 0, 0] = 0
    np.testing.assert_array_equal(out, labels)
