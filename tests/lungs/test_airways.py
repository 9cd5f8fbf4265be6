"""Trachea and main bronchi: tracking and removal (airways.py), known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import disk

from covidct.lungs import LungOptions
from covidct.lungs.airways import find_airways, remove_airways
from covidct.lungs.grid import Orientation
from covidct.lungs.options import AirwayOptions

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


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


@pytest.mark.parametrize("top, midline", [(50, False), (20, True)])
def test_a_short_lumen_without_a_carina_gives_no_midline(top, midline):
    """A scan of the lung bases: the only lumen near the midline is the oesophagus, a few
    slices of air (here 20 mm) that never split into two main bronchi. Its air is tracked
    (and removed from the lung candidate), but its axis is not the body midline; a tube
    of 80 mm is taken for the trachea even where no carina is seen."""
    hu, body, lungs, _ = _tube_phantom(with_airway=False)
    yy, xx = np.mgrid[:80, :80]
    tube = np.zeros(hu.shape, bool)
    tube[top:, (yy - 69) ** 2 + (xx - 38) ** 2 <= 16] = True  # behind the lungs, by the midline
    hu[tube] = -1000.0
    spacing = (2.0, 1.0, 1.0)
    airway, axis_x = find_airways(hu, body, spacing, Orientation.from_direction(IDENTITY, spacing), LungOptions())
    assert airway[tube].mean() >= 0.95 and not (airway & lungs).any()
    assert axis_x == (pytest.approx(38.0, abs=0.5) if midline else None)


def test_find_airways_feet_at_high_index_is_the_mirror_image():
    hu, body, _, _ = _tube_phantom()
    spacing = (2.0, 1.0, 1.0)
    ref, ref_x = find_airways(hu, body, spacing, Orientation.from_direction(IDENTITY, spacing),
                              LungOptions())
    feet_high = Orientation.from_direction((1, 0, 0, 0, 1, 0, 0, 0, -1.0), spacing)
    airway, axis_x = find_airways(hu[::-1].copy(), body[::-1].copy(), spacing, feet_high,
                                  LungOptions())
    np.testing.assert_array_equal(airway[::-1], ref)
    assert axis_x == ref_x


def test_remove_airways_known_answer():
    """A small lumen touching the airway goes whole; from a lung (a component larger than
    ``airways.max_area_mm2``) only the airway grown by ``airways.dilation_mm`` goes."""
    spacing = (2.0, 1.0, 1.0)
    air = np.zeros((2, 60, 60), bool)
    air[:, 5:50, 5:50] = True  # a lung: 2025 mm2 a slice
    air[:, 52:58, 52:58] = True  # a small lumen: 36 mm2
    airway = np.zeros_like(air)
    airway[:, 26:29, 26:29] = True  # joined to the lung
    airway[:, 54:56, 54:56] = True  # inside the small lumen
    out = remove_airways(air, airway, spacing, LungOptions())
    wall = ndi.binary_dilation(airway[0], structure=disk(2))  # 2 mm at 1 mm pixels
    expected = air[0] & ~wall
    expected[52:58, 52:58] = False
    assert (out == expected[None]).all()
    bare = remove_airways(air, airway, spacing, LungOptions(airways=AirwayOptions(dilation_mm=0)))
    assert bare[0].sum() == 45 * 45 - 9  # the lumen pixels only
