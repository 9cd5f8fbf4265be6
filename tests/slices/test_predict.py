"""A slice model over the lung slices of a CT: slice choice, lung box, scores, CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.errors import GeometryMismatchError, NoLungsFoundError
from covidct.io.write import write_image
from covidct.phantom import simulate_case
from covidct.slices.model_file import SliceModel, load_slice_model, save_slice_model
from covidct.slices.models import build_slice_model
from covidct.slices.predict import PredictSlicesOptions, lung_slices, predict_ct_slices
from covidct.slices.transforms import get_transform


@pytest.fixture(scope="module")
def case():
    return simulate_case(5, diagnosis="covid", size="tiny")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net, _ = build_slice_model("resnet18", 2, weights="none")
    model = SliceModel(network=net.eval(), arch="resnet18", class_names=("non-COVID", "COVID"),
                       transform=get_transform("cpu-64"))
    return save_slice_model(model, tmp_path_factory.mktemp("m") / "model.pt", card={"name": "random"})


def test_lung_slices_and_box(case):
    opts = PredictSlicesOptions(min_lung_fraction=0.3, margin_mm=0.0, size=64)
    z, images, (y0, y1, x0, x1) = lung_slices(case.volume, case.lungs, opts)
    area = (case.lungs > 0).sum(axis=(1, 2))
    np.testing.assert_array_equal(z, np.flatnonzero(area >= 0.3 * area.max()))
    ys, xs = np.nonzero((case.lungs > 0).any(axis=0))
    assert y0 <= ys.min() and y1 > ys.max() and x0 <= xs.min() and x1 > xs.max()
    assert all(im.shape == (64, 64) and im.dtype == np.uint8 for im in images)
    assert all(np.ptp(im) > 100 for im in images)  # lung window: lung dark, body bright


def test_scores_are_probabilities_and_the_study_score_aggregates(case, model_file):
    model = load_slice_model(model_file)
    curve = predict_ct_slices(model, case.volume, case.lungs)
    assert curve.probabilities.shape == (len(curve.z), 2)
    np.testing.assert_allclose(curve.probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert curve.study_score == pytest.approx(curve.covid.mean())
    top = predict_ct_slices(model, case.volume, case.lungs, options=PredictSlicesOptions(aggregate="max"))
    assert top.study_score == pytest.approx(curve.covid.max())
    assert json.loads(json.dumps(curve.to_dict()))["slices"][0]["z"] == int(curve.z[0])


def test_bad_masks_are_refused(case, model_file):
    model = load_slice_model(model_file)
    with pytest.raises(NoLungsFoundError):
        predict_ct_slices(model, case.volume, np.zeros_like(case.lungs))
    with pytest.raises(GeometryMismatchError):
        predict_ct_slices(model, case.volume, case.lungs[1:])


def test_cli_writes_json_and_curve(case, model_file, tmp_path):
    ct = write_image(case.volume.array, case.volume, tmp_path / "ct.nii.gz")
    lungs = write_image(case.lungs, case.volume, tmp_path / "lungs.nii.gz")
    out = tmp_path / "res" / "slices.json"
    res = CliRunner().invoke(app, ["predict-slices", str(model_file), str(ct), "--lungs", str(lungs), "-o", str(out)])
    assert res.exit_code == 0, res.output
    payload = json.loads(out.read_text())
    assert payload["class_names"] == ["non-COVID", "COVID"] and payload["slices"]
    assert payload["provenance"]["inputs"][0]["sha256"] == load_slice_model(model_file).sha256
    assert out.with_suffix(".png").is_file()
    res = CliRunner().invoke(app, ["predict-slices", str(model_file), str(ct), "-o", str(tmp_path / "x.txt")])
    assert res.exit_code == 2


@pytest.mark.slow
def test_real_ct_gives_a_curve_over_its_lung_slices(real_ct_paths, model_file):
    from covidct.io import read_ct

    ct = read_ct(real_ct_paths["lung1"])
    curve = predict_ct_slices(load_slice_model(model_file), ct)
    assert len(curve.z) >= 10 and np.all(np.diff(curve.z) > 0)
    assert np.all((curve.covid >= 0) & (curve.covid <= 1))


def test_lung_slices_of_a_file_stored_in_ras_are_those_of_dicom_order(case):
    """A CT stored in RAS (x and y flipped, the direction saying so) gives the slice model the
    images of the DICOM-order file; the box stays in the file's voxels."""
    flip = lambda a: np.ascontiguousarray(a[:, ::-1, ::-1])
    vol = case.volume
    ras = dataclasses.replace(vol, array=flip(vol.array), direction=(-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    opts = PredictSlicesOptions(size=64)
    z, images, box = lung_slices(vol, case.lungs, opts)
    z2, images2, box2 = lung_slices(ras, flip(case.lungs), opts)
    assert np.array_equal(z, z2) and all(np.array_equal(a, b) for a, b in zip(images, images2, strict=True))
    ny, nx = vol.shape[1:]
    assert box2 == (ny - box[1], ny - box[0], nx - box[3], nx - box[2])


def test_lung_slices_of_a_reformat_are_those_of_its_axial_series(case, reformat):
    """A CT stored as coronal or sagittal slices gives the slice model the axial series'
    slices, indices and box (before: its coronal slices)."""
    opts = PredictSlicesOptions(size=64)
    z, images, box = lung_slices(case.volume, case.lungs, opts)
    z2, images2, box2 = lung_slices(reformat.volume(case.volume), reformat.mask(case.lungs), opts)
    assert np.array_equal(z, z2) and box == box2
    assert all(np.array_equal(a, b) for a, b in zip(images, images2, strict=True))
