"""Unit tests with known answers for the steps of the lung segmentation: working grid and
orientation (grid.py), right / left labelling (split.py), airway tracking (airways.py) and
organ-dome carving (cavity.carve_domes)."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.lungs import LEFT, RIGHT, LungOptions
from covidct.lungs.airways import find_airways, remove_airways
from covidct.lungs.cavity import carve_domes
from covidct.lungs.grid import Orientation, WorkingGrid, labels_to_input, to_working
from covidct.lungs.split import label_sides

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
FLIP_X = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
SAGITTAL = (0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # index x = LPS y, y = z, z = x


# ---------------------------------------------------------------- grid.py
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
    assert feet_high.superior_is_high is False
    sag = Orientation.from_direction(SAGITTAL, (1.0, 1.0, 1.0))
    assert sag.lr_axis == 0 and not sag.axial


# ---------------------------------------------------------------- split.py
def _two_boxes(bridge: bool) -> np.ndarray:
    mask = np.zeros((6, 40, 60), bool)
    mask[:, 5:35, 5:25] = True
    mask[:, 5:35, 35:55] = True
    if bridge:
        mask[:, 18:22, 25:35] = True  # a thin junction line between the lungs
    return mask


@pytest.mark.parametrize("bridge", [False, True])
def test_label_sides_known_answer(bridge):
    mask = _two_boxes(bridge)
    orient = Orientation.from_direction(IDENTITY, (2.0, 1.0, 1.0))
    labels = label_sides(mask, orient, 30.0, (2.0, 1.0, 1.0), min_voxels=10)
    # identity direction: patient right at low x
    assert (labels[:, 5:35, 5:25] == RIGHT).all()
    assert (labels[:, 5:35, 35:55] == LEFT).all()
    if bridge:  # the junction is split between the two lungs, none of it lost
        assert (labels[mask] > 0).all()
    flipped = label_sides(mask, Orientation.from_direction(FLIP_X, (2.0, 1.0, 1.0)), 30.0,
                          (2.0, 1.0, 1.0), min_voxels=10)
    assert (flipped[:, 5:35, 5:25] == LEFT).all() and (flipped[:, 5:35, 35:55] == RIGHT).all()


def test_label_sides_drops_small_parts():
    mask = _two_boxes(False)
    mask[0, 0, 0] = True
    labels = label_sides(mask, Orientation.from_direction(IDENTITY, (2.0, 1.0, 1.0)), 30.0,
                         (2.0, 1.0, 1.0), min_voxels=10)
    assert labels[0, 0, 0] == 0


# ---------------------------------------------------------------- airways.py
def _tube_phantom(with_airway: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Body of soft tissue, two lung boxes, a trachea (z 30-59) at x = 40 and two bronchi."""
    hu = np.full((60, 80, 80), 40.0, np.float32)
    body = np.zeros(hu.shape, bool)
    body[:, 5:75, 2:78] = True
    hu[~body] = -1000.0
    lungs = np.zeros(hu.shape, bool)
    lungs[:40, 15:65, 8:34] = True
    lungs[:40, 15:65, 46:72] = True
    hu[lungs] = -850.0
    trachea = np.zeros(hu.shape, bool)
    yy, xx = np.mgrid[:80, :80]
    trachea[30:, (yy - 30) ** 2 + (xx - 40) ** 2 <= 16] = True
    bronchi = np.zeros(hu.shape, bool)
    for z in range(26, 30):  # the main bronchi run out sideways into the lungs
        d = 30 - z
        for cx in (40 - 3 * d, 40 + 3 * d):
            bronchi[z, (yy - 30) ** 2 + (xx - cx) ** 2 <= 9] = True
    if with_airway:
        hu[trachea | bronchi] = -1000.0
    return hu, body, lungs & ~bronchi, trachea


def test_find_airways_tracks_the_trachea():
    hu, body, lungs, trachea = _tube_phantom()
    spacing = (2.0, 1.0, 1.0)
    orient = Orientation.from_direction(IDENTITY, spacing)
    airway, axis_x = find_airways(hu, body, spacing, orient, LungOptions())
    assert axis_x == pytest.approx(40.0, abs=0.5)
    assert airway[trachea].mean() >= 0.95  # the whole trachea lumen
    assert not (airway & lungs).any()  # and no lung
    air = (hu < -420) & body
    clean = remove_airways(air, airway, spacing, LungOptions())
    assert not (clean & trachea).any()
    assert clean[:26][lungs[:26]].all()  # lung slices below the bronchi keep every voxel
    assert (air == ((hu < -420) & body)).all()  # input not modified


def test_find_airways_none_without_trachea():
    hu, body, _, _ = _tube_phantom(with_airway=False)  # lungs at -850 HU, no lumen
    orient = Orientation.from_direction(IDENTITY, (2.0, 1.0, 1.0))
    airway, axis_x = find_airways(hu, body, (2.0, 1.0, 1.0), orient, LungOptions())
    assert axis_x is None and not airway.any()


# ---------------------------------------------------------------- carve_domes
def _dome_phantom(radius: float, bridge: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Axial slices 1.25 mm, 5 mm apart: a rib ring, lung above z = 4 ringing a soft-tissue
    dome (an organ top) of ``radius`` pixels rising from the body below."""
    shape = (10, 120, 120)
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    r = np.hypot(yy - 60, xx - 60)
    hu = np.full(shape, 40.0, np.float32)
    body = np.broadcast_to(r < 58, shape).copy()
    hu[:, r >= 58] = -1000.0
    hu[:, (r >= 50) & (r < 54)] = 700.0  # ribs
    labels = np.zeros(shape, np.uint8)
    ring = r < 48
    dome = r < radius
    for z in range(4, 10):
        labels[z][ring] = LEFT
        hu[z][ring & ~dome] = -850.0
    if bridge:  # a dense band from the dome to the ribs (diaphragm partial volume)
        for z in range(4, 10):
            band = (np.abs(yy - 60) <= 3) & (xx >= 60) & ring
            hu[z][band] = 40.0
    return labels, hu, body


def test_carve_domes_removes_small_dome_keeps_aerated_lung():
    labels, hu, body = _dome_phantom(radius=12, bridge=False)
    out = carve_domes(labels, hu, body, (5.0, 1.25, 1.25), LungOptions(), diseased=False)
    dome = np.hypot(*(np.mgrid[:120, :120] - 60)) < 12
    assert (out[4][dome] == 0).all()  # the dome top over non-lung is not lung
    assert (out[4][~dome] == labels[4][~dome]).all()  # the aerated ring is kept
    assert (out[5:][:, dome] == 0).all()  # and the slices above follow
    assert (labels[4][dome] == LEFT).all()  # input not modified


def test_carve_domes_wall_contact():
    labels, hu, body = _dome_phantom(radius=12, bridge=True)
    sp = (5.0, 1.25, 1.25)
    kept = carve_domes(labels, hu, body, sp, LungOptions(), diseased=False)
    dome = np.hypot(*(np.mgrid[:120, :120] - 60)) < 12
    # joined to the ribs and smaller than dome_wall_area_mm2 (4.5 cm2): a pleural lesion
    assert (kept[4][dome] == LEFT).all()
    big_labels, big_hu, big_body = _dome_phantom(radius=30, bridge=True)  # 35 cm2 > 25 cm2
    big = np.hypot(*(np.mgrid[:120, :120] - 60)) < 30
    carved = carve_domes(big_labels, big_hu, big_body, sp, LungOptions(), diseased=False)
    assert (carved[4][big] == 0).mean() > 0.95
    # in diseased lungs only dense parts enclosed by aerated lung go: the bridged dome is
    # not enclosed (the band cuts the ring), so it may be consolidation and stays
    sick = carve_domes(big_labels, big_hu, big_body, sp, LungOptions(), diseased=True)
    assert (sick[4][big] == LEFT).all()
