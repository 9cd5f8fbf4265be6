"""Subpleural bands of :func:`covidct.lesions.detect.detect_lesions` on the synthetic chest."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from .conftest import SPACING, make_chest

from covidct.errors import InvalidInputError
from covidct.lesions import QuantOptions
from covidct.lesions.detect import _subpleural_bands, detect_lesions


def _in_plane_depth(lung: np.ndarray) -> np.ndarray:
    """Distance (mm) of lung voxels to the lung boundary of their own slice."""
    return np.stack([ndi.distance_transform_edt(np.pad(s, 1), sampling=SPACING[1:])[1:-1, 1:-1] for s in lung])


@pytest.fixture(scope="module")
def band_chest():
    """A clear chest (no vessels) with an 8 mm thick GGO band (-550 HU) along the lateral
    wall of the right lung over 40 mm of height."""
    chest = make_chest(vessels=False, seed=3)
    right = chest.lungs == 1
    z_mm = (np.arange(right.shape[0]) - (right.shape[0] - 1) / 2.0) * SPACING[0]
    x_mm = (np.arange(right.shape[2]) - (right.shape[2] - 1) / 2.0) * SPACING[2]
    band = right & (_in_plane_depth(right) <= 8.0) & (np.abs(z_mm) <= 20.0)[:, None, None] \
        & (x_mm < -65.0)[None, None, :]
    image = chest.image.copy()
    image[band] = np.random.default_rng(4).normal(-550.0, 35.0, int(band.sum()))
    return image, chest.lungs, band


def test_thin_subpleural_band_is_lesion(band_chest):
    image, lungs, band = band_chest
    assert band.sum() * np.prod(SPACING) / 1000.0 > 2.0  # ml: a band, not a speck
    found = detect_lesions(image, lungs, SPACING) > 0
    assert (found & band).sum() >= 0.85 * band.sum()
    outside = found & ~ndi.binary_dilation(band, iterations=2)
    assert outside.sum() <= 0.05 * band.sum()
    # without the band step the rim and the 4 mm ball opening leave it no seed
    off = detect_lesions(image, lungs, SPACING, options=QuantOptions(band_open_mm=None)) > 0
    assert (off & band).sum() <= 0.1 * band.sum()


def test_partial_volume_rim_is_not_lesion():
    chest = make_chest(vessels=False, seed=5)
    lung = chest.lungs > 0
    rim = lung & (_in_plane_depth(lung) <= 1.0)  # the outer pixel layer of every slice
    image = chest.image.copy()
    image[rim] = -600.0  # half lung, half chest wall
    found = detect_lesions(image, chest.lungs, SPACING) > 0
    assert found.sum() <= 0.002 * lung.sum()


def test_band_seeds_keep_band_end_mm_from_the_domes():
    """A box of lung whose two lowest slices (5 mm) are dense from wall to wall, as the
    partial volume over a dome on thin slices: with ``band_end_mm`` 5 none of it seeds a
    band; keeping out only the first slice, the second one does."""
    lung = np.zeros((20, 60, 60), bool)
    lung[2:18, 5:55, 5:55] = True
    dense = lung & (np.arange(20)[:, None, None] < 4)  # lung slices 2 and 3
    spacing = (2.5, 0.8, 0.8)
    assert not _subpleural_bands(dense, lung, None, spacing, QuantOptions(band_end_mm=5.0)).any()
    one_slice = _subpleural_bands(dense, lung, None, spacing, QuantOptions(band_end_mm=0.0))
    assert one_slice[3].sum() > 0.5 * dense[3].sum() and not one_slice[2].any()


def test_band_options_are_validated():
    with pytest.raises(InvalidInputError, match="band_open_mm"):
        QuantOptions(band_open_mm=0.0)
    with pytest.raises(InvalidInputError, match="band_min_ml"):
        QuantOptions(band_min_ml=-1.0)
    with pytest.raises(InvalidInputError, match="band_end_mm"):
        QuantOptions(band_end_mm=float("nan"))
