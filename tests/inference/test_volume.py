"""3D model inference on one CT: save/load round trip, probabilities, crop -> CT mapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from covidct.errors import InvalidInputError, NoLungsFoundError
from covidct.inference import (
    VolumeModel, load_volume_model, predict_volume, prepare_volume, save_volume_model, to_ct_grid,
)
from covidct.phantom import simulate_case
from covidct.preprocess.grid import get_grid
from covidct.training.config import get_preset
from covidct.training.data import Normaliser
from covidct.training.module import CovidCTModule


@pytest.fixture(scope="module")
def case():
    return simulate_case(3, diagnosis="covid", size="tiny")


@pytest.fixture(scope="module")
def model() -> VolumeModel:
    torch.manual_seed(0)
    config = get_preset("covid-mtl-nofeatures")
    grid = get_grid("tiny-6mm")
    return VolumeModel(module=CovidCTModule(config).eval(), config=config, grid=grid,
                       crop=grid.crop, normaliser=Normaliser(-1024, 600, -700.0, 300.0),
                       source=None, sha256="")  # type: ignore[arg-type]


def test_save_load_round_trip_gives_same_probabilities(tmp_path, model, case):
    path = save_volume_model(model, tmp_path / "m.pt", card={"name": "test"})
    loaded = load_volume_model(path)
    assert loaded.card["name"] == "test" and len(loaded.card["sha256"]) == 64
    assert loaded.tasks == ("ct", "nat", "severity")
    prepared = prepare_volume(loaded, case.volume, case.lungs)
    assert tuple(prepared.tensor.shape) == (1, 1, *model.crop)
    a = predict_volume(model, prepared)
    b = predict_volume(loaded, prepared)
    for task, n in (("ct", 2), ("nat", 2), ("severity", 3)):
        assert a[task].shape == (n,)
        np.testing.assert_allclose(a[task].sum(), 1.0, atol=1e-6)
        np.testing.assert_allclose(a[task], b[task], atol=1e-6)


def test_crop_values_land_on_the_same_physical_point_of_the_ct(model, case):
    prepared = prepare_volume(model, case.volume, case.lungs)
    crop = prepared.tensor.shape[2:]
    heat = np.zeros(crop, np.float32)
    centre = tuple(c // 2 for c in crop)
    heat[tuple(slice(c - 1, c + 2) for c in centre)] = 1.0  # a 3-voxel cube, 18 mm
    on_ct = to_ct_grid(heat, prepared, case.volume)
    assert on_ct.shape == case.volume.shape
    # physical position of the cube's centre on the grid vs the heat's centre of mass on the CT
    grid_img = prepared.grid_case.volume.to_sitk()
    grid_index = [int(o + c) for o, c in zip(prepared.crop_offsets, centre)][::-1]
    expected = np.array(grid_img.TransformIndexToPhysicalPoint(grid_index))
    zyx = np.array(np.nonzero(on_ct > 0.5)).mean(axis=1)
    ct_img = case.volume.to_sitk()
    got = np.array(ct_img.TransformContinuousIndexToPhysicalPoint(zyx[::-1].tolist()))
    assert np.all(np.abs(got - expected) <= np.array(case.volume.spacing[::-1]))
    # a CT voxel that is far outside the crop gets 0
    assert on_ct[0, 0, 0] == 0.0


def test_bad_inputs_are_clear_errors(tmp_path, model, case):
    with pytest.raises(InvalidInputError):
        load_volume_model(tmp_path / "missing.pt")
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not a torch file")
    with pytest.raises(InvalidInputError):
        load_volume_model(damaged)
    with pytest.raises(NoLungsFoundError):
        prepare_volume(model, case.volume, np.zeros_like(case.lungs))
    prepared = prepare_volume(model, case.volume, case.lungs)
    with pytest.raises(InvalidInputError):
        to_ct_grid(np.zeros((2, 2, 2), np.float32), prepared, case.volume)
