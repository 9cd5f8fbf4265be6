"""ImageNet weights: from a file, from torch's cache only, never downloaded."""

from __future__ import annotations

import logging

import pytest
import torch
from torchvision.models import resnet18

from covidct.errors import InvalidInputError
from covidct.models.pretrained import cached_imagenet_file, load_imagenet_weights


def test_file_weights_load_into_a_truncated_model(tmp_path):
    torch.manual_seed(1)
    source = resnet18()
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": source.state_dict()}, path)
    target = resnet18()
    del target.fc, target.layer4
    assert load_imagenet_weights(target, "resnet18", path) == f"file:{path}"
    assert torch.equal(target.layer3[0].conv1.weight, source.layer3[0].conv1.weight)


def test_imagenet_missing_from_cache_trains_from_scratch(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert cached_imagenet_file("resnet18").parent == tmp_path / "hub" / "checkpoints"
    model = resnet18()
    before = model.conv1.weight.clone()
    with caplog.at_level(logging.WARNING):
        assert load_imagenet_weights(model, "resnet18", "imagenet") == "none"
    assert "training from scratch" in caplog.text
    assert torch.equal(before, model.conv1.weight)


def test_imagenet_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = cached_imagenet_file("resnet18")
    cached.parent.mkdir(parents=True)
    source = resnet18()
    torch.save(source.state_dict(), cached)
    model = resnet18()
    assert load_imagenet_weights(model, "resnet18", "imagenet") == f"imagenet:{cached.name}"
    assert torch.equal(model.fc.weight, source.fc.weight)


def test_none_and_bad_files(tmp_path):
    assert load_imagenet_weights(resnet18(), "resnet18", None) == "none"
    assert load_imagenet_weights(resnet18(), "resnet18", "none") == "none"
    with pytest.raises(InvalidInputError):
        load_imagenet_weights(resnet18(), "resnet18", tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(InvalidInputError):
        load_imagenet_weights(resnet18(), "resnet18", tmp_path / "junk.pth")
    from torchvision.models import resnet50
    torch.save(resnet50().state_dict(), tmp_path / "r50.pth")
    with pytest.raises(InvalidInputError, match="does not fit"):
        load_imagenet_weights(resnet18(), "resnet18", tmp_path / "r50.pth")
