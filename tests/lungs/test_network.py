"""The lung network at run time: the shipped ONNX file, its probability, damaged files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from synth import dice

from covidct.errors import DataUnavailableError, InvalidInputError
from covidct.lungs.learned import TORCH_MODEL_FILE, load_lung_model
from covidct.lungs.network import (
    LUNG_MODEL_FILES,
    load_lung_models,
    load_onnx_lung_model,
    lung_model_path,
    lung_model_paths,
    predict_lung_probability,
)
from covidct.provenance import sha256_file


def test_the_shipped_model_is_the_onnx_export_of_the_shipped_weights():
    """One network, ``lung-unet.onnx``: its sha256 is the one the .pt's card names, and its
    settings are the .pt's."""
    shipped = load_lung_models()
    assert [m.source for m in shipped] == lung_model_paths() == [lung_model_path()]
    assert LUNG_MODEL_FILES == ("lung-unet.onnx",)
    onnx_model, torch_model = shipped[0], load_lung_model()
    card = json.loads(lung_model_path().with_name("lung-unet.card.json").read_text())
    assert onnx_model.sha256 == card["onnx_sha256"] == sha256_file(lung_model_path())
    assert (onnx_model.pixel_mm, onnx_model.canvas, onnx_model.hu_window, onnx_model.context) == (
        torch_model.pixel_mm, torch_model.canvas, torch_model.hu_window, torch_model.context)
    assert lung_model_path().stat().st_size < 5_000_000 and not onnx_model.is_3d


def test_prediction_on_a_phantom_equals_the_torch_weights(phantom):
    vol = phantom.volume
    prob = predict_lung_probability(vol.array, vol.spacing)
    assert prob.dtype == np.float32 and prob.shape == vol.shape
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    assert dice(prob > 0.5, phantom.lungs > 0) > 0.9
    assert np.array_equal(prob, predict_lung_probability(vol.array, vol.spacing))  # deterministic
    np.testing.assert_allclose(predict_lung_probability(vol.array, vol.spacing, threads=1), prob, atol=1e-5)
    before = torch.get_num_threads()
    weights = predict_lung_probability(vol.array, vol.spacing, model=load_lung_model(), device="cpu", threads=1)
    assert torch.get_num_threads() == before  # restored
    np.testing.assert_allclose(weights, prob, atol=1e-4)  # the .pt it was exported from


def test_thin_slices_are_predicted_every_few_and_interpolated(phantom):
    """1.3 mm slices (every slice repeated 4 times): the network sees slices 4 apart."""
    vol = phantom.volume
    thin = np.repeat(vol.array[20:40], 4, axis=0)
    prob = predict_lung_probability(thin, (vol.spacing[0] / 4, *vol.spacing[1:]))
    assert dice(prob > 0.5, np.repeat(phantom.lungs[20:40], 4, axis=0) > 0) > 0.9


def test_damaged_missing_or_foreign_onnx_files_raise(tmp_path):
    src = lung_model_path()
    shutil.copy(src.with_name("lung-unet.card.json"), tmp_path / "lung-unet.card.json")
    flipped = bytearray(src.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    (tmp_path / "lung-unet.onnx").write_bytes(bytes(flipped))
    with pytest.raises(InvalidInputError, match="corrupt"):
        load_onnx_lung_model(tmp_path / "lung-unet.onnx")  # the card's sha256
    (tmp_path / "cut.onnx").write_bytes(src.read_bytes()[:100_000])  # no card: ONNX Runtime refuses it
    with pytest.raises(InvalidInputError, match="not a usable lung model"):
        load_onnx_lung_model(tmp_path / "cut.onnx")
    with pytest.raises(DataUnavailableError, match="missing"):
        load_lung_models(tmp_path / "absent.onnx")
    with pytest.raises(InvalidInputError, match="runs on the CPU"):
        load_onnx_lung_model().slice_logits(np.zeros((1, 3, 192, 192), np.float32), device="cuda")


def test_a_pt_file_of_the_shipped_weights_runs_in_torch():
    model = load_lung_models(lung_model_path(TORCH_MODEL_FILE))[0]
    assert model.source == lung_model_path(TORCH_MODEL_FILE) and hasattr(model, "module")


def test_bad_input():
    with pytest.raises(InvalidInputError):
        predict_lung_probability(np.zeros((32, 32)), (1.0, 1.0, 1.0))
    with pytest.raises(InvalidInputError):
        predict_lung_probability(np.zeros((4, 32, 32)), (0.0, 1.0, 1.0))
