"""3D Grad-CAM on the CT's own grid: a known shift of the CT's content survives the round trip
(CT -> model grid -> lung crop -> CAM -> back to the CT), and the explain command writes it."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from torch import nn
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.errors import InvalidInputError
from covidct.explain import volume_heatmap
from covidct.inference import VolumeModel, predict_volume, prepare_volume, save_volume_model
from covidct.io import CTVolume
from covidct.io.write import write_image
from covidct.preprocess.grid import get_grid
from covidct.training.config import get_preset
from covidct.training.data import Normaliser
from covidct.training.module import CovidCTModule

SPACING = (2.5, 1.5, 1.5)
CUBE = (8, 12, 12)  # voxels: 20 x 18 x 18 mm


class _Brightness(nn.Module):
    """logit(1) = mean ReLU(input): its Grad-CAM is ReLU(input), scaled to [0, 1]."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 1, bias=False)
        self.head = nn.Linear(1, 2, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.head.weight.copy_(torch.tensor([[-1.0], [1.0]]))

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))


@pytest.fixture(scope="module")
def model() -> VolumeModel:
    config = get_preset("resnet3d-ct")
    module = CovidCTModule(config)
    module.model = _Brightness()
    grid = get_grid("tiny-6mm")
    return VolumeModel(module=module.eval(), config=config, grid=grid, crop=grid.crop,
                       normaliser=Normaliser(-1024, 600, -700.0, 300.0), source=None, sha256="")  # type: ignore[arg-type]


def _ct(corner: tuple[int, int, int]) -> tuple[CTVolume, np.ndarray]:
    """Air around a -800 HU 'lung' box holding a +400 HU cube at voxel ``corner``."""
    hu = np.full((48, 80, 80), -1000.0, np.float32)
    lungs = np.zeros(hu.shape, np.uint8)
    lungs[4:44, 8:72, 8:72] = 1
    hu[lungs > 0] = -800.0
    hu[tuple(slice(c, c + s) for c, s in zip(corner, CUBE))] = 400.0
    return CTVolume(hu, SPACING, origin=(-60.0, -40.0, 100.0)), lungs


def _centre_mm(ct: CTVolume, mask: np.ndarray) -> np.ndarray:
    zyx = np.array(np.nonzero(mask)).mean(axis=1)
    return np.array(ct.to_sitk().TransformContinuousIndexToPhysicalPoint(zyx[::-1].tolist()))


def test_heat_lands_on_the_cube_and_follows_a_known_shift(model):
    shift = np.array([4, -6, 8])  # voxels (z, y, x): 10, -9, 12 mm
    centres = []
    for corner in ((14, 30, 24), tuple(np.array((14, 30, 24)) + shift)):
        ct, lungs = _ct(corner)
        heat = volume_heatmap(model, prepare_volume(model, ct, lungs), ct, task="ct")
        assert heat.shape == ct.shape and heat.dtype == np.float32
        assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0, abs=0.05)
        cube = np.zeros(ct.shape, bool)
        cube[tuple(slice(c, c + s) for c, s in zip(corner, CUBE))] = True
        assert heat[cube].sum() / heat.sum() > 0.5  # most heat is on the cube
        got, expected = _centre_mm(ct, heat > 0.5), _centre_mm(ct, cube)
        assert np.all(np.abs(got - expected) <= 3.0)  # within half a 6 mm grid voxel
        centres.append(got)
    moved = centres[1] - centres[0]
    np.testing.assert_allclose(moved, (shift * np.array(SPACING))[::-1], atol=3.0)  # (x, y, z) mm


def test_the_model_stays_in_eval_mode_with_the_same_answer(model):
    ct, lungs = _ct((14, 30, 24))
    prepared = prepare_volume(model, ct, lungs)
    model.module.eval()
    before = predict_volume(model, prepared)
    volume_heatmap(model, prepared, ct, task="ct")
    assert not any(m.training for m in model.module.modules())
    after = predict_volume(model, prepared)
    for task in before:
        np.testing.assert_allclose(after[task], before[task], atol=1e-6)


def test_unknown_task_is_refused(model):
    ct, lungs = _ct((14, 30, 24))
    with pytest.raises(InvalidInputError):
        volume_heatmap(model, prepare_volume(model, ct, lungs), ct, task="severity")


def test_explain_volume_writes_the_heat_volume_on_the_ct_grid(model, tmp_path, monkeypatch):
    from covidct.explain.run import ExplainOptions, explain_volume
    from covidct.inference import volume as vol

    ct, lungs = _ct((14, 30, 24))
    ct_file = write_image(ct.array, ct, tmp_path / "ct.nii.gz")
    lung_file = write_image(lungs, ct, tmp_path / "lungs.nii.gz")
    model_file = tmp_path / "analytic.pt"
    torch.save(model.module.state_dict(), model_file)
    # the analytic network is not a registered model: hand it to explain as if loaded
    monkeypatch.setattr(vol, "load_volume_model", lambda path: replace(model, source=model_file))
    out = explain_volume(model_file, ct_file, tmp_path / "out", options=ExplainOptions(),
                         lungs_path=lung_file)
    img = sitk.ReadImage(str(out / "heat.nii.gz"))
    assert img.GetSize() == ct.shape[::-1]
    np.testing.assert_allclose(img.GetSpacing(), SPACING[::-1])
    np.testing.assert_allclose(img.GetOrigin(), ct.origin)
    heat = sitk.GetArrayFromImage(img)
    assert 0 <= heat.min() and heat.max() <= 1 and heat[14:22, 30:42, 24:36].mean() > 0.5
    assert (out / "axial.png").is_file()
    info = json.loads((out / "explain.json").read_text())
    assert info["task"] == "ct" and info["target"] == 1


def test_explain_command_refuses_a_missing_ct(model, tmp_path):
    model_file = save_volume_model(model.__class__(**{**model.__dict__, "module": CovidCTModule(
        get_preset("resnet3d-ct")).eval()}), tmp_path / "m.pt")
    res = CliRunner().invoke(app, ["explain", str(model_file), str(tmp_path / "none.nii.gz"), "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "does not exist" in res.output
