"""Organ-dome carving (domes.carve_domes): known answers on a rib ring with a dome."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from covidct.lungs import LEFT, LungOptions
from covidct.lungs.cavity import rib_slab
from covidct.lungs.domes import carve_domes

SPACING = (5.0, 1.25, 1.25)  # (sz, sy, sx) mm

def _dome_phantom(radius: float, bridge: bool,
                  dome_hu: float = 40.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Axial slices 1.25 mm, 5 mm apart: a rib ring, lung above z = 4 ringing a soft-tissue
    dome (an organ top, of ``dome_hu``) of ``radius`` pixels rising from the body below."""
    shape = (10, 120, 120)
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    r = np.hypot(yy - 60, xx - 60)
    hu = np.full(shape, 40.0, np.float32)
    body = np.broadcast_to(r < 58, shape).copy()
    hu[:, r >= 58] = -1000.0
    hu[:, (r >= 50) & (r < 54)] = 700.0  # ribs
    hu[:, r < radius] = dome_hu
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


def _carve(labels, hu, body, diseased: bool, opts: LungOptions | None = None) -> np.ndarray:
    opts = opts or LungOptions()
    smooth = ndi.median_filter(hu, size=(1, 3, 3))
    return carve_domes(labels, smooth, rib_slab(smooth, SPACING, opts), body, SPACING, opts,
                       diseased=diseased)


def test_carve_domes_removes_small_dome_keeps_aerated_lung():
    labels, hu, body = _dome_phantom(radius=12, bridge=False)
    out = _carve(labels, hu, body, diseased=False)
    dome = np.hypot(*(np.mgrid[:120, :120] - 60)) < 12
    assert (out[4][dome] == 0).all()  # the dome top over non-lung is not lung
    assert (out[4][~dome] == labels[4][~dome]).all()  # the aerated ring is kept
    assert (out[5:][:, dome] == 0).all()  # and the slices above follow
    assert (labels[4][dome] == LEFT).all()  # input not modified


def test_carve_domes_contrast_enhanced_organ_is_not_rib():
    # a spleen top enhanced to 180 HU is above the rib threshold (150 HU) in the slab, but it
    # lies inside the lung's hull: it is a dome, not the rib line
    labels, hu, body = _dome_phantom(radius=12, bridge=False, dome_hu=180.0)
    assert LungOptions().cavity.rib_hu < 180.0
    out = _carve(labels, hu, body, diseased=False)
    dome = np.hypot(*(np.mgrid[:120, :120] - 60)) < 12
    assert (out[4:][:, dome] == 0).all()
    assert (out[4:][:, ~dome] == labels[4:][:, ~dome]).all()


def test_carve_domes_wall_contact():
    labels, hu, body = _dome_phantom(radius=12, bridge=True)
    kept = _carve(labels, hu, body, diseased=False)
    dome = np.hypot(*(np.mgrid[:120, :120] - 60)) < 12
    # joined to the ribs and smaller than dome_wall_area_mm2 (4.5 cm2): a pleural lesion
    assert (kept[4][dome] == LEFT).all()
    big_labels, big_hu, big_body = _dome_phantom(radius=30, bridge=True)  # 35 cm2 > 25 cm2
    big = np.hypot(*(np.mgrid[:120, :120] - 60)) < 30
    carved = _carve(big_labels, big_hu, big_body, diseased=False)
    assert (carved[4][big] == 0).mean() > 0.95
    # in diseased lungs only dense parts enclosed by aerated lung go: the bridged dome is
    # not enclosed (the band cuts the ring), so it may be consolidation and stays
    sick = _carve(big_labels, big_hu, big_body, diseased=True)
    assert (sick[4][big] == LEFT).all()


def test_carve_domes_feet_at_high_index_is_the_mirror_image():
    labels, hu, body = _dome_phantom(radius=12, bridge=False)
    opts = LungOptions()
    smooth = ndi.median_filter(hu[::-1], size=(1, 3, 3))
    flipped = carve_domes(labels[::-1], smooth, rib_slab(smooth, SPACING, opts), body[::-1],
                          SPACING, opts, diseased=False, superior_is_high=False)
    np.testing.assert_array_equal(flipped[::-1], _carve(labels, hu, body, diseased=False))


def test_carve_domes_needs_a_visible_rib_cage():
    labels, hu, body = _dome_phantom(radius=12, bridge=False)
    hu[hu > 500] = 40.0  # no ribs: no cage in any slice, nothing is carved
    np.testing.assert_array_equal(_carve(labels, hu, body, diseased=False), labels)
