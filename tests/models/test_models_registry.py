"""build_model / count_parameters: names, options, errors."""

from __future__ import annotations

import pytest
import torch

from covidct.errors import InvalidInputError
from covidct.models import (
    COVIDMTL,
    DeCovNet,
    ResNet3D,
    Shift3D,
    SqueezeNet3D,
    available_models,
    build_model,
    count_parameters,
)
from covidct.models.squeezenet3d import SqueezeNet3DFeatures


def test_names_build_the_right_networks() -> None:
    small = {"layers": (1, 1, 1, 1)}
    sq = build_model("SqueezeNet3D")
    assert isinstance(sq, SqueezeNet3D) and not isinstance(sq.features.shift, Shift3D)
    sh = build_model("shiftnet3d", p=0.5, max_fraction=0.1)
    assert isinstance(sh.features.shift, Shift3D)
    assert (sh.features.shift.p, sh.features.shift.max_fraction) == (0.5, 0.1)
    rs = build_model("resnet3d_shift", **small)
    assert isinstance(rs, ResNet3D) and isinstance(rs.features.shift, Shift3D)
    assert isinstance(build_model("decovnet", num_classes=3), DeCovNet)
    mtl = build_model("covid-mtl-squeezenet3d", tasks={"nat": 2})
    assert isinstance(mtl, COVIDMTL) and isinstance(mtl.backbone, SqueezeNet3DFeatures)
    assert not isinstance(mtl.backbone.shift, Shift3D)
    assert "covid-mtl" in available_models() and "covid-mtl-decovnet" in available_models()


def test_unknown_names_and_options() -> None:
    with pytest.raises(InvalidInputError, match="unknown model"):
        build_model("alexnet3d")
    with pytest.raises(InvalidInputError, match="bad options"):
        build_model("decovnet", widht=3)
    with pytest.raises(InvalidInputError, match="already names"):
        build_model("covid-mtl-decovnet", backbone="resnet3d")


def test_count_parameters_trainable_only() -> None:
    net = build_model("decovnet")
    total = count_parameters(net)
    for p in net.features.parameters():
        p.requires_grad_(False)
    frozen = sum(p.numel() for p in net.features.parameters())
    assert count_parameters(net) == total - frozen
    assert count_parameters(net, trainable_only=False) == total
    assert count_parameters(torch.nn.Linear(3, 2)) == 8
