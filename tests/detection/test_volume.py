"""Whole-volume helpers: the slice resampling round trip, class maps, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.datasets._common import resample_slice_to_square
from covidct.detection.volume import (
    LesionModelOptions,
    _class_map,
    segment_lesions_model,
    slice_back_to_grid,
)
from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.io.volume import CTVolume


@pytest.mark.parametrize(("shape", "spacing", "size"), [((40, 60), (1.0, 1.0), 120),
                                                        ((30, 60), (2.0, 0.5), 60)])
def test_square_round_trip_restores_labels(shape, spacing, size):
    rng = np.random.default_rng(0)
    labels = np.kron(rng.integers(0, 3, (shape[0] // 10, shape[1] // 10)), np.ones((10, 10))).astype(np.uint8)
    square = resample_slice_to_square(labels, spacing, size=size, order=0, fill=0)
    back = slice_back_to_grid(square, shape, spacing)
    assert back.shape == shape
    assert np.mean(back == labels) > 0.97


def test_class_map_highest_score_wins_and_threshold():
    probs = np.zeros((3, 8, 8), np.float32)
    probs[0, :4] = 0.9
    probs[1, 2:6] = 0.8
    probs[2, 6:] = 0.9
    det = {"labels": np.array([1, 2, 2]), "scores": np.array([0.6, 0.9, 0.3]), "mask_probs": probs}
    out = _class_map(det, "both", LesionModelOptions(score_threshold=0.5), (8, 8))
    assert out[0, 0] == 1 and out[3, 0] == 2 and out[5, 0] == 2 and out[7, 0] == 0
    merged = _class_map(det, "merge", LesionModelOptions(score_threshold=0.5), (8, 8))
    assert set(np.unique(merged)) == {0, 1}


def test_bad_inputs():
    from covidct.detection.model import MaskRCNNOptions, build_maskrcnn

    vol = CTVolume(array=np.zeros((2, 8, 8), np.float32), spacing=(1.0, 1.0, 1.0))
    model = build_maskrcnn(MaskRCNNOptions(backbone="resnet18", truncation=2, min_size=32, max_size=32))
    with pytest.raises(GeometryMismatchError):
        segment_lesions_model(vol, np.ones((2, 8, 9), np.uint8), model, mask_type="merge")
    with pytest.raises(InvalidInputError):
        segment_lesions_model(vol, np.ones((2, 8, 8), np.uint8), model)


def test_quantify_uses_a_given_lesion_mask():
    from covidct.lesions import quantify

    hu = np.full((4, 20, 20), -850.0, np.float32)
    lungs = np.zeros(hu.shape, np.uint8)
    lungs[:, 2:18, 2:10], lungs[:, 2:18, 10:18] = 1, 2
    mask = np.zeros(hu.shape, np.uint8)
    mask[1, 4:8, 4:8] = 1          # 16 GGO voxels in the right lung
    mask[2, 4:6, 12:14] = 2        # 4 consolidation voxels in the left lung
    mask[0, 0, 0] = 1              # outside the lungs: ignored
    vol = CTVolume(array=hu, spacing=(2.0, 1.0, 1.0))
    res = quantify(vol, lungs, lesion_mask=mask)
    assert res.ggo_volume_ml == pytest.approx(16 * 2.0 / 1000)
    assert res.consolidation_volume_ml == pytest.approx(4 * 2.0 / 1000)
    assert res.lesion_mask[0, 0, 0] == 0 and mask[0, 0, 0] == 1  # input not modified
    with pytest.raises(InvalidInputError):
        quantify(vol, lungs, lesion_mask=mask[:2])


def test_the_model_reads_a_file_stored_otherwise_as_a_dicom_series(monkeypatch, stored_order):
    """Axial slices of a CT stored in RAS or as a coronal or sagittal reformat reach the
    network front up, the patient's right on the left, and its mask comes back on the file's
    grid: the same lesions as the DICOM-order file."""
    from covidct.detection import infer

    seen = []

    def fake_predict(model, images, **kwargs):  # lesion where the slice is bright
        seen.extend(np.asarray(im).copy() for im in images)
        return [{"labels": np.array([1]), "scores": np.array([0.9]),
                 "mask_probs": (np.asarray(im)[0] > 0.5).astype(np.float32)[None]} for im in images]

    monkeypatch.setattr(infer, "predict_slices", fake_predict)
    rng = np.random.default_rng(0)
    hu = rng.uniform(-1000, 100, (3, 16, 12)).astype(np.float32)
    lungs = np.ones(hu.shape, np.uint8)
    axial = CTVolume(array=hu, spacing=(2.0, 1.0, 1.0))
    a = segment_lesions_model(axial, lungs, object(), mask_type="both")
    b = segment_lesions_model(stored_order.volume(axial), stored_order.mask(lungs), object(), mask_type="both")
    assert a.any() and np.array_equal(stored_order.back(b), a)
    assert all(np.array_equal(x, y) for x, y in zip(seen[:3], seen[3:], strict=True))  # the same images
