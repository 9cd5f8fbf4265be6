"""The hilar vessel test of the lesion detector (covidct.lesions.vessels): known answers on
synthetic chests -- a thick bright tube near the mediastinum is a vessel, a blob of the same
HU is lesion; the mediastinal gap and the hilum region have exact geometry."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.lesions import QuantOptions, detect_lesions
from covidct.lesions.vessels import hilum_region, mediastinal_gap, objectness

SPACING = (2.5, 0.8, 0.8)  # (sz, sy, sx) mm
SHAPE = (30, 120, 200)


def _lungs() -> np.ndarray:
    """Right lung (1) at x 10..89, left lung (2) at x 110..189, gap x 90..109 between them."""
    labels = np.zeros(SHAPE, np.uint8)
    labels[2:28, 10:110, 10:90] = 1
    labels[2:28, 10:110, 110:190] = 2
    return labels


def _mm_grid():
    z, y, x = np.meshgrid(*[np.arange(n) * s for n, s in zip(SHAPE, SPACING)], indexing="ij")
    return z, y, x


def _tube(p0, p1, radius_mm) -> np.ndarray:
    """Voxels within ``radius_mm`` of the segment p0-p1 (voxel indices (z, y, x))."""
    z, y, x = _mm_grid()
    a = np.asarray(p0, float) * SPACING
    b = np.asarray(p1, float) * SPACING
    d = b - a
    along = (z - a[0]) * d[0] + (y - a[1]) * d[1] + (x - a[2]) * d[2]
    t = np.clip(along / (d @ d), 0.0, 1.0) if d @ d > 0 else 0.0
    dist2 = (z - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2 + (x - a[2] - t * d[2]) ** 2
    return dist2 <= radius_mm**2


def _ball(centre, radius_mm) -> np.ndarray:
    return _tube(centre, centre, radius_mm)


def _chest(structures, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = _lungs()
    image = np.where(labels > 0, -850.0, 40.0) + rng.normal(0.0, 15.0, SHAPE)
    for mask in structures:
        image[mask & (labels > 0)] = 40.0 + rng.normal(0.0, 15.0, int((mask & (labels > 0)).sum()))
    return image.astype(np.float32), labels


def test_mediastinal_gap_is_the_space_between_the_lungs():
    labels = _lungs()
    gap = mediastinal_gap(labels)
    expected = np.zeros(SHAPE, bool)
    expected[2:28, 10:110, 90:110] = True
    np.testing.assert_array_equal(gap, expected)
    # a mask not split into right and left: the longest non-lung run of each row
    np.testing.assert_array_equal(mediastinal_gap(labels > 0), expected)


def test_hilum_region_reaches_in_plane_only():
    labels = _lungs()
    labels[20:, :, :] = 0  # slices 20.. have no lungs, hence no gap
    near = hilum_region(labels, SPACING, 16.0)
    row = near[10, 50]
    # 16 mm = 20 pixels of 0.8 mm each side of the gap (x 90..109), +-1 pixel (half grid)
    assert row[72:128].all() and not row[:68].any() and not row[132:].any()
    assert not near[20:].any()


def test_objectness_tells_tubes_from_sheets():
    tube = np.where(_tube((15, 20, 60), (15, 100, 60), 2.0), 40.0, -850.0).astype(np.float32)
    sheet = np.full(SHAPE, -850.0, np.float32)
    sheet[:, :, 58:62] = 40.0  # a 3.2 mm wall across every slice
    centre = (15, 60, 60)
    assert objectness(tube, SPACING, sigma_mm=1.5)[0][centre] > 10.0
    sheet_as_tube, sheet_as_sheet = objectness(sheet, SPACING, sigma_mm=1.5, dimensions=(1, 2))
    assert sheet_as_tube[centre] < 1.0
    assert sheet_as_sheet[centre] > 10.0


def test_objectness_of_a_box_thinner_than_four_voxels():
    sheet = np.full((2, 30, 30), -850.0, np.float32)
    sheet[:, :, 14:17] = 40.0
    (out,) = objectness(sheet, SPACING, sigma_mm=1.5, dimensions=(2,))
    assert out.shape == sheet.shape and out[1, 15, 15] > 10.0


def test_thick_tube_at_the_hilum_is_vessel_and_blob_of_same_hu_is_lesion():
    # a 14 mm vessel 8-26 mm from the mediastinum passes the opening and density tests;
    # the vessel test takes its bright tubular edge in aerated lung, a compact blob stays
    tube = _tube((14, 25, 60), (16, 95, 75), 7.0)
    blob = _ball((15, 60, 128), 9.0)  # 18 mm across, 8 mm from the gap
    image, labels = _chest([tube, blob])
    without = detect_lesions(image, labels, SPACING, options=QuantOptions(hilum_mm=None)) > 0
    with_test = detect_lesions(image, labels, SPACING) > 0
    assert without[tube].mean() > 0.6
    assert with_test[tube].mean() < 0.5 * without[tube].mean()
    assert with_test[blob].mean() > 0.8
    assert with_test[blob].mean() == pytest.approx(without[blob].mean(), abs=0.02)


def test_small_lesion_at_the_hilum_is_left_whole():
    # two overlapping 18 mm balls (~3 ml, not compact) 8 mm from the gap: below
    # vessel_min_ml, so the vessel test leaves it as the detector found it
    peanut = _ball((15, 50, 128), 9.0) | _ball((15, 68, 132), 9.0)
    image, labels = _chest([peanut])
    without = detect_lesions(image, labels, SPACING, options=QuantOptions(hilum_mm=None)) > 0
    np.testing.assert_array_equal(detect_lesions(image, labels, SPACING) > 0, without)
    assert without[peanut].mean() > 0.7
    # a volume floor of 1 ml lets the test take its bright edge in aerated lung
    small_floor = detect_lesions(image, labels, SPACING, options=QuantOptions(vessel_min_ml=1.0)) > 0
    assert small_floor[peanut].mean() < 0.6 * without[peanut].mean()


def test_far_from_the_mediastinum_the_same_tube_is_left_alone():
    # the same vessel 36-55 mm lateral to the gap is outside the hilum region (30 mm)
    tube = _tube((14, 25, 22), (16, 95, 34), 7.0)
    image, labels = _chest([tube])
    without = detect_lesions(image, labels, SPACING, options=QuantOptions(hilum_mm=None)) > 0
    with_test = detect_lesions(image, labels, SPACING) > 0
    assert without[tube].mean() > 0.6
    np.testing.assert_array_equal(with_test, without)


@pytest.mark.parametrize(
    "bad", [{"hilum_mm": 0.0}, {"hilum_mm": float("nan")}, {"vessel_sigma_mm": 0.0},
            {"vessel_share": 1.5}, {"vessel_aerated": -0.1}, {"vessel_tube": -1.0},
            {"vessel_min_ml": -1.0}]
)
def test_bad_vessel_options_raise(bad):
    from covidct.errors import InvalidInputError

    with pytest.raises(InvalidInputError):
        QuantOptions(**bad)
