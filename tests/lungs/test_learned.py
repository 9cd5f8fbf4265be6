"""The lung networks in torch: the shipped weights, model files, 3D network, ONNX export."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from synth import dice

from covidct.errors import DataUnavailableError, InvalidInputError
from covidct.lungs.learned import (
    FORMAT,
    TORCH_MODEL_FILE,
    LungModel,
    LungUNet,
    LungUNet3D,
    export_onnx,
    load_lung_model,
    save_lung_model,
)
from covidct.lungs.network import (
    load_lung_models,
    load_onnx_lung_model,
    lung_model_path,
    predict_lung_probability,
)
from covidct.provenance import sha256_file


def test_shipped_weights_match_their_card():
    path = lung_model_path(TORCH_MODEL_FILE)
    model = load_lung_model()
    card = json.loads(path.with_name(path.stem + ".card.json").read_text())
    assert model.source == path and model.sha256 == card["sha256"] == sha256_file(path)
    assert model.card["trained_on"]["real_cts"] == ["lung1_image.nrrd", "lung2_image.nrrd"]
    assert {r["case"].split()[0] for r in card["held_out"]["rows"]} == {"lung1", "lung2"}
    assert path.stat().st_size < 5_000_000
    assert not model.module.training
    assert not model.is_3d


def test_corrupt_or_missing_weights_raise(tmp_path):
    src = lung_model_path(TORCH_MODEL_FILE)
    bad = tmp_path / "lung-unet.pt"
    shutil.copy(src, bad)
    shutil.copy(src.with_name("lung-unet.card.json"), tmp_path / "lung-unet.card.json")
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError, match="corrupt"):
        load_lung_model(bad)
    with pytest.raises(DataUnavailableError, match="missing"):
        load_lung_model(tmp_path / "absent.pt")


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    net = LungUNet(features=(4, 8)).eval()
    model = LungModel(module=net, pixel_mm=4.0, canvas=32, hu_window=(-1000.0, 200.0))
    path = save_lung_model(model, tmp_path / "m.pt", card={"name": "test"})
    loaded = load_lung_model(path)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), loaded.module(x))
    assert loaded.card["sha256"] == sha256_file(path) and loaded.pixel_mm == 4.0


def test_context_is_saved_with_the_model_and_old_files_read_as_three_slices(tmp_path):
    torch.manual_seed(0)
    net = LungUNet(in_channels=5, features=(4, 8)).eval()
    path = save_lung_model(LungModel(module=net, pixel_mm=4.0, canvas=32, hu_window=(-1000.0, 200.0),
                                     context=(1, 3)), tmp_path / "wide.pt")
    loaded = load_lung_model(path)
    assert loaded.context == (1, 3) and loaded.module.down[0][0].in_channels == 5
    old = {"format": FORMAT, "features": [4, 8], "pixel_mm": 4.0, "canvas": 32, "hu_window": [-1000.0, 200.0],
           "state_dict": LungUNet(features=(4, 8)).state_dict()}  # written before the context key
    torch.save(old, tmp_path / "old.pt")
    assert load_lung_model(tmp_path / "old.pt").context == (1,)
    torch.save({**old, "context": [1, 3]}, tmp_path / "mismatch.pt")  # 5 channels said, 3 stored
    with pytest.raises(InvalidInputError, match="not a usable lung model"):
        load_lung_model(tmp_path / "mismatch.pt")
    probability = predict_lung_probability(np.full((12, 40, 40), -800, np.int16), (2.5, 1.0, 1.0), model=loaded)
    assert probability.shape == (12, 40, 40) and np.isfinite(probability).all()


class _DarkIsLung(LungUNet3D):
    """A fixed "3D network": lung logit -20 x scaled HU (lung below the window's middle)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -20.0 * x


def test_3d_model_file_round_trip_and_the_mean_of_networks(tmp_path):
    torch.manual_seed(0)
    net = LungUNet3D(features=(2, 4)).eval()
    path = save_lung_model(LungModel(module=net, pixel_mm=4.0, canvas=32, hu_window=(-1000.0, 200.0), pool=2,
                                     slice_mm=5.0), tmp_path / "m3.pt", card={"name": "test3d"})
    loaded = load_lung_model(path)
    assert loaded.is_3d and (loaded.pool, loaded.slice_mm, loaded.card["name"]) == (2, 5.0, "test3d")
    assert all(torch.equal(a, b) for a, b in zip(loaded.module.state_dict().values(), net.state_dict().values()))
    flat = save_lung_model(LungModel(module=LungUNet(features=(4, 8)).eval(), pixel_mm=4.0, canvas=32,
                                     hu_window=(-1000.0, 200.0)), tmp_path / "m2.pt")
    vol = np.random.default_rng(0).normal(-500, 300, (13, 40, 44)).astype(np.float32)
    sp = (2.5, 1.0, 1.0)
    one = predict_lung_probability(vol, sp, model=loaded)
    assert one.shape == vol.shape and np.isfinite(one).all() and 0.0 <= one.min() and one.max() <= 1.0
    pair = load_lung_models(f"{flat}+{path}")
    assert [m.is_3d for m in pair] == [False, True]
    mean = (predict_lung_probability(vol, sp, model=pair[0]) + one) / 2  # the mean of their probabilities
    np.testing.assert_allclose(predict_lung_probability(vol, sp, model=pair), mean, atol=1e-6)


def test_3d_network_input_and_output_keep_the_geometry():
    """A 60 mm disk of lung (-900 HU) in water on 0.8 mm pixels and 1.25 mm slices: through
    the 2 mm canvas, 2 x 2 pooling (4 mm) and 5 mm slices, a network that calls dark voxels
    lung gives the disk back on the CT's grid, from the first slice to the last."""
    model = LungModel(module=_DarkIsLung(features=(2,)).eval(), pixel_mm=2.0, canvas=192,
                      hu_window=(-1024.0, 400.0), pool=2, slice_mm=5.0)
    yy, xx = np.mgrid[:300, :320]
    disk = (yy - 140) ** 2 + (xx - 170) ** 2 <= (30 / 0.8) ** 2
    vol = np.where(disk, -900.0, 0.0)[None].repeat(24, axis=0).astype(np.float32)
    prob = predict_lung_probability(vol, (1.25, 0.8, 0.8), model=model)
    assert prob.shape == vol.shape
    assert dice(prob[0] > 0.5, disk) > 0.97 and dice(prob[-1] > 0.5, disk) > 0.97


def test_onnx_export_gives_torch_s_logits_and_settings(tmp_path):
    """A small network exported to ONNX: the same logits as torch (1e-4), its settings read
    back from the file's metadata, its sha256 written into the .pt's card and checked."""
    torch.manual_seed(0)
    net = LungUNet(in_channels=5, features=(4, 8)).eval()
    pt = save_lung_model(LungModel(module=net, pixel_mm=4.0, canvas=32, hu_window=(-1000.0, 200.0), context=(1, 3)),
                         tmp_path / "m.pt", card={"name": "test"})
    onnx_path = export_onnx(load_lung_model(pt), tmp_path / "m.onnx", card_of=pt)
    assert not (tmp_path / "m.onnx.part").exists()
    card = json.loads((tmp_path / "m.card.json").read_text())
    assert card["onnx_sha256"] == sha256_file(onnx_path) and card["sha256"] == sha256_file(pt)
    assert card["onnx_export"]["max_gap"] < 1e-4
    exported = load_onnx_lung_model(onnx_path)
    assert (exported.pixel_mm, exported.canvas, exported.hu_window, exported.context) == (4.0, 32, (-1000.0, 200.0), (1, 3))
    x = np.random.default_rng(1).uniform(-1, 1, (7, 5, 32, 32)).astype(np.float32)  # another batch size
    with torch.no_grad():
        np.testing.assert_allclose(exported.slice_logits(x, threads=1), net(torch.from_numpy(x)).numpy(), atol=1e-4)
    vol = np.random.default_rng(2).normal(-500, 300, (9, 40, 44)).astype(np.float32)
    np.testing.assert_allclose(predict_lung_probability(vol, (2.5, 1.0, 1.0), model=exported),
                               predict_lung_probability(vol, (2.5, 1.0, 1.0), model=load_lung_model(pt)), atol=1e-5)
    assert load_lung_models(f"{onnx_path}+{pt}")[1].module is not None  # .onnx and .pt in one model
    with pytest.raises(InvalidInputError, match="2.5D"):
        export_onnx(LungModel(module=LungUNet3D(features=(2,)), pixel_mm=4.0, canvas=32,
                              hu_window=(-1000.0, 200.0)), tmp_path / "m3.onnx")

