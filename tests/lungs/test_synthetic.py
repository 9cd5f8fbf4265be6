"""segment_lungs on a synthetic chest with exact truth (anisotropic 3 x 1 x 1 mm)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from synth import SHAPE, SPACING, dice

from covidct.errors import InvalidInputError, NoLungsFoundError
from covidct.io.volume import CTVolume
from covidct.lungs import LEFT, RIGHT, LungOptions, segment_lungs
from covidct.lungs.options import GridOptions, RefineOptions, SnakeOptions, ThresholdOptions

FLIP_X = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@pytest.fixture(scope="module")
def refined(chest):
    before = chest.hu.copy()
    labels = segment_lungs(chest.hu, chest.spacing, method="refined")  # the rules (synthetic chest)
    np.testing.assert_array_equal(chest.hu, before)  # input not modified
    return labels


def test_refined_matches_truth(chest, refined):
    assert refined.dtype == np.uint8 and refined.shape == chest.hu.shape
    assert set(np.unique(refined)) == {0, RIGHT, LEFT}
    assert dice(refined > 0, chest.truth > 0) >= 0.95
    assert dice(refined == RIGHT, chest.truth == 1) >= 0.95
    assert dice(refined == LEFT, chest.truth == 2) >= 0.95


def test_right_lung_is_on_patient_right(chest, refined):
    xs_right = np.nonzero(refined == RIGHT)[2]
    xs_left = np.nonzero(refined == LEFT)[2]
    # identity direction: LPS x grows with the index, patient right is at low x
    assert xs_right.mean() < SHAPE[2] / 2 < xs_left.mean()


def test_trachea_excluded(chest, refined):
    from synth import Z0, _grid

    z = _grid()[0]
    trachea = chest.airway & (z > Z0 + 32)
    assert trachea.sum() > 1000
    assert not (refined.astype(bool) & trachea).any()
    # the main bronchi: at most their tips inside the lung may be kept
    assert (refined.astype(bool) & chest.airway).sum() < 0.05 * chest.airway.sum()


def test_flipped_direction_keeps_sides(chest, refined):
    vol = CTVolume(array=chest.hu[:, :, ::-1].copy(), spacing=SPACING, direction=FLIP_X)
    flipped = segment_lungs(vol, method="refined")
    # the same anatomy: right lung = 1 although it now lies at high x index
    assert dice(flipped[:, :, ::-1] == RIGHT, refined == RIGHT) > 0.97
    assert np.nonzero(flipped == RIGHT)[2].mean() > SHAPE[2] / 2


@pytest.mark.parametrize("axes", [(2,), (1, 2), (0,), (0, 1, 2)], ids=["x", "RAS", "head first", "all"])
@pytest.mark.parametrize("method", ["refined", "classical"])
def test_any_array_order_gets_the_same_labels(chest, refined, method, axes):
    """The chest stored in another array order (the direction saying so: a NIfTI in RAS, a
    series head first) gets the labels of the standard order, to the voxel."""
    d = np.eye(3)
    d[:, [2 - a for a in axes]] *= -1  # direction columns of array axes z, y, x: 2, 1, 0
    vol = CTVolume(array=np.ascontiguousarray(np.flip(chest.hu, axes)), spacing=SPACING, direction=tuple(d.ravel()))
    standard = refined if method == "refined" else segment_lungs(chest.hu, SPACING, method=method)
    assert np.array_equal(np.flip(segment_lungs(vol, method=method), axes), standard)


@pytest.mark.parametrize("method", ["refined", "classical"])
def test_a_reformat_gets_the_same_labels(chest, refined, method, reformat):
    """The chest stored as coronal or sagittal slices (axes permuted, the direction saying so)
    gets the labels of the axial series, to the voxel (before: its coronal slices were
    segmented as if they were axial)."""
    stored = reformat.volume(CTVolume(array=chest.hu, spacing=SPACING))
    assert stored.shape != chest.hu.shape
    standard = refined if method == "refined" else segment_lungs(chest.hu, SPACING, method=method)
    labels = segment_lungs(stored, method=method)
    assert labels.shape == stored.shape and np.array_equal(reformat.back(labels), standard)


def test_array_call_equals_volume_call_and_is_deterministic(chest, refined):
    vol = CTVolume(array=chest.hu, spacing=SPACING)
    np.testing.assert_array_equal(segment_lungs(vol, method="refined"), refined)


def test_classical_method_on_clear_lungs(chest):
    labels = segment_lungs(chest.hu, chest.spacing, method="classical")
    assert dice(labels > 0, chest.truth > 0) >= 0.95
    assert dice(labels == RIGHT, chest.truth == 1) >= 0.95


@pytest.mark.parametrize("kind", ["soft_tissue", "blank", "abdomen"])
def test_no_lungs(kind):
    z, y, x = np.meshgrid(*(np.arange(n) for n in (30, 120, 150)), indexing="ij")
    body = ((x - 75) / 65.0) ** 2 + ((y - 60) / 50.0) ** 2 <= 1
    hu = np.full((30, 120, 150), -1000, np.int16)
    if kind != "blank":
        hu[body] = 40
    if kind == "abdomen":  # bowel gas: pure air pockets in soft tissue
        for cx, cy in ((50, 50), (95, 70), (75, 40)):
            hu[((x - cx) ** 2 + (y - cy) ** 2 <= 100) & (z > 5) & (z < 20)] = -1000
    with pytest.raises(NoLungsFoundError, match="no"):
        segment_lungs(hu, (3.0, 2.0, 2.0))


def test_invalid_inputs(chest):
    with pytest.raises(InvalidInputError, match="3D"):
        segment_lungs(chest.hu[10], (1.0, 1.0))
    with pytest.raises(InvalidInputError, match="spacing"):
        segment_lungs(chest.hu, (3.0, 1.0, 500.0))
    with pytest.raises(InvalidInputError, match="spacing"):
        segment_lungs(chest.hu)
    png = CTVolume(array=np.zeros((5, 20, 20), np.uint8), spacing=(1, 1, 1), is_hu=False)
    with pytest.raises(InvalidInputError, match="Hounsfield"):
        segment_lungs(png)
    with pytest.raises(InvalidInputError, match="method"):
        segment_lungs(chest.hu, SPACING, method="unet")  # type: ignore[arg-type]


def test_options_presets_and_validation():
    paper = LungOptions.paper()
    assert paper.threshold.air_hu == -420 and paper.refine.close_mm == 10
    assert paper.refine.final_erode_mm == 2
    assert (paper.snake.alpha, paper.snake.beta, paper.snake.iterations) == (0.02, 20.0, 20)
    assert paper.grid.inplane_mm == 1.0 == paper.grid.slice_mm
    assert paper.pockets.enabled and paper.cavity.enabled
    only = LungOptions.paper_only()
    assert not (only.pockets.enabled or only.mirror.enabled or only.cavity.enabled)
    assert only.grid == paper.grid and only.snake == paper.snake
    assert LungOptions.fast() == LungOptions()
    nested = LungOptions().as_dict()
    assert nested["snake"]["contour_level"] == 0.8
    assert nested["cavity"]["fat_hu"] == (-190.0, -60.0)
    assert set(nested) == {"grid", "threshold", "select", "airways", "refine", "snake",
                           "pockets", "mirror", "gate", "cavity", "domes", "hybrid"}
    with pytest.raises(InvalidInputError, match="refine.close_mm"):
        RefineOptions(close_mm=0)
    with pytest.raises(InvalidInputError, match="air_hu"):
        ThresholdOptions(air_hu=100)
    with pytest.raises(InvalidInputError, match="snake"):
        SnakeOptions(points=4)
    with pytest.raises(TypeError):  # keyword-only, frozen
        GridOptions(1.0, 2.0)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        LungOptions().grid = GridOptions()  # type: ignore[misc]
