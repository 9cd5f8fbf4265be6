"""torchvision backbones with a replaced classifier; local-only ImageNet weights."""

from __future__ import annotations

import logging

import pytest
import torch

from covidct.errors import InvalidInputError
from covidct.models.pretrained import load_imagenet_weights
from covidct.slices.models import ARCHS, build_slice_model, cam_layer


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_backbone_gets_a_new_head(arch):
    torch.manual_seed(0)
    model, used = build_slice_model(arch, 3, weights="none")
    assert used == "none"
    assert model.get_submodule(ARCHS[arch][0]).out_features == 3
    assert isinstance(cam_layer(model, arch), torch.nn.Module)


def test_resnet18_forward_shape():
    model, _ = build_slice_model("resnet18", 2, weights=None)
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 3, 64, 64)).shape == (2, 2)


def test_imagenet_without_cache_is_a_clear_message_and_scratch(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="covidct.models.pretrained"):
        _, used = build_slice_model("resnet18", 2, weights="imagenet")
    assert used == "none"
    assert "not in torch's local cache" in caplog.text and "no download" in caplog.text


def test_imagenet_from_the_local_cache_and_from_a_file(tmp_path, monkeypatch):
    from torchvision.models import ResNet18_Weights, get_model

    torch.manual_seed(1)
    reference = get_model("resnet18", weights=None)
    cache = tmp_path / "checkpoints"
    cache.mkdir()
    torch.save(reference.state_dict(), cache / ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[1])
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    model, used = build_slice_model("resnet18", 2, weights="imagenet")
    assert used.startswith("imagenet:")
    torch.testing.assert_close(model.conv1.weight, reference.conv1.weight)
    target = get_model("resnet18", weights=None)
    assert load_imagenet_weights(target, "resnet18", cache.iterdir().__next__()).startswith("file:")
    torch.testing.assert_close(target.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)


def test_bad_weights_and_arch_are_refused(tmp_path):
    with pytest.raises(InvalidInputError):
        build_slice_model("resnet18", 2, weights=tmp_path / "missing.pt")
    wrong = tmp_path / "wrong.pt"
    torch.save({"x": torch.zeros(1)}, wrong)
    with pytest.raises(InvalidInputError, match="does not fit"):
        build_slice_model("resnet18", 2, weights=wrong)
    with pytest.raises(InvalidInputError):
        build_slice_model("alexnet", 2)


def test_train_list_rows_of_the_slice_family():
    from covidct.slices.config import PRESETS, preset_rows

    rows = {r.name: r for r in preset_rows()}
    assert set(rows) == set(PRESETS) and len(rows) == 2 * len(ARCHS)
    # resnet18: 11,689,512 parameters with its 1000-class head (512 x 1000 + 1000)
    assert rows["slices-resnet18"].parameters == 11_689_512 - 513_000 + 1_026
    assert rows["slices-vgg19_bn-cpu"].family == "slices"
    cfg = PRESETS["slices-vgg19_bn"]
    assert (cfg.batch_size, cfg.accumulate, cfg.lr, cfg.momentum, cfg.epochs) == (8, 8, 0.01, 0.9, 60)
    assert (cfg.ema_factor, cfg.patience, cfg.lr_factor, cfg.transform) == (0.2, 5, 0.1, "tutorial")
