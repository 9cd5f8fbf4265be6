"""HOG: the slice, the vector length, CTVolume vs array, PCA fit on training data only."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from covidct.errors import InvalidInputError
from covidct.features import HogPCA, hog_features, largest_lung_slice
from covidct.features.hog import HOG_LENGTH, hog_image
from covidct.io import CTVolume


def test_largest_lung_slice():
    lungs = np.zeros((5, 8, 8), np.uint8)
    lungs[1, :2, :2] = 1
    lungs[3, :4, :4] = 2
    assert largest_lung_slice(lungs) == 3
    with pytest.raises(InvalidInputError, match="empty"):
        largest_lung_slice(np.zeros((3, 4, 4)))


def test_hog_length_and_inputs(small_ct):
    volume, mask = small_ct
    before = volume.array.copy()
    vec = hog_features(volume, mask)
    assert HOG_LENGTH == 8192 and vec.shape == (8192,)
    assert np.all(vec >= 0) and np.isfinite(vec).all() and vec.sum() > 0
    same = hog_features(volume.array, mask, volume.spacing)
    np.testing.assert_array_equal(vec, same)
    np.testing.assert_array_equal(volume.array, before)
    img = hog_image(volume, mask)
    assert img.shape == (256, 256) and img.min() >= 0 and img.max() <= 1
    # 320 mm field at 1.25 mm: the 32 x 22.4 mm lung block spans ~26 x 18 px
    assert 300 < np.count_nonzero(img) < 900
    with pytest.raises(InvalidInputError, match="shape"):
        hog_features(volume, mask[:, 1:])


def test_hog_pca_fits_on_training_rows_only():
    rng = np.random.default_rng(1)
    train, test = rng.random((30, 50)), rng.random((10, 50)) + 5.0
    pca = HogPCA(n_components=100).fit(train)
    assert pca.pca_.n_components_ == 30  # capped at the training rows
    ref = PCA(n_components=30, random_state=0).fit(train)
    np.testing.assert_allclose(pca.transform(test), ref.transform(test))
    np.testing.assert_allclose(pca.pca_.mean_, train.mean(axis=0))  # test rows not seen
    assert pca.get_feature_names_out()[0] == "hog_pca_000"
    pipe = make_pipeline(HogPCA(n_components=5)).fit(train)
    assert pipe.transform(test).shape == (10, 5)
    with pytest.raises(InvalidInputError, match="50 features"):
        pca.transform(rng.random((2, 7)))


def test_hog_features_with_fitted_pca(small_ct):
    volume, mask = small_ct
    vecs = np.stack([hog_features(volume.with_array(volume.array + d), mask) for d in (0, 50, 100)])
    pca = HogPCA(n_components=2).fit(vecs)
    out = hog_features(volume, mask, pca=pca)
    np.testing.assert_allclose(out, pca.transform(vecs[:1])[0])
    assert isinstance(volume, CTVolume)


def test_hog_of_a_file_stored_in_ras_is_that_of_dicom_order(small_ct):
    """The slice of a CT stored in RAS (x and y flipped, the direction saying so) is taken front
    up, the patient's right on the left: the same HOG vector as the DICOM-order file."""
    volume, mask = small_ct
    ras = CTVolume(np.ascontiguousarray(volume.array[:, ::-1, ::-1]), volume.spacing,
                   direction=(-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    ras_mask = np.ascontiguousarray(mask[:, ::-1, ::-1])
    np.testing.assert_array_equal(hog_image(ras, ras_mask), hog_image(volume, mask))
    np.testing.assert_array_equal(hog_features(ras, ras_mask), hog_features(volume, mask))
    # a plain array has no direction: taken as it is
    assert not np.array_equal(hog_features(ras.array, ras_mask, volume.spacing), hog_features(volume, mask))


def test_hog_of_a_reformat_is_that_of_its_axial_series(small_ct, reformat):
    """A CT stored as coronal or sagittal slices gets the HOG of its largest axial lung slice,
    as the axial series does (before: of a coronal slice)."""
    volume, mask = small_ct
    stored = reformat.volume(volume)
    np.testing.assert_array_equal(hog_image(stored, reformat.mask(mask)), hog_image(volume, mask))
