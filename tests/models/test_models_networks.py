"""Single-task 3D networks: shapes at several input sizes, eval determinism, gradients,
parameter counts against an analytic count, bad input."""

from __future__ import annotations

import pytest
import torch

from covidct.errors import InvalidInputError
from covidct.models import (
    DeCovNet,
    ResNet3D,
    Shift3D,
    SqueezeNet3D,
    build_model,
    count_parameters,
)
from covidct.models.squeezenet3d import FIRE_CONFIG

SIZES = [(2, 1, 24, 32, 32), (1, 1, 17, 23, 29), (1, 1, 8, 8, 8)]


@pytest.fixture(scope="module")
def nets() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {
        "squeezenet3d": build_model("squeezenet3d", num_classes=3),
        "shiftnet3d": build_model("shiftnet3d", num_classes=3),
        "resnet3d-shift": build_model("resnet3d-shift", num_classes=3),
        "decovnet": build_model("decovnet", num_classes=3),
    }


@pytest.mark.parametrize("name", ["squeezenet3d", "shiftnet3d", "resnet3d-shift", "decovnet"])
def test_output_shapes_and_eval_determinism(nets: dict, name: str) -> None:
    net = nets[name].eval()
    with torch.no_grad():
        for shape in SIZES:
            x = torch.randn(shape)
            y = net(x)
            assert y.shape == (shape[0], 3)
            assert torch.isfinite(y).all()
            assert torch.equal(y, net(x))


def test_shiftnet_equals_squeezenet_in_eval(nets: dict) -> None:
    plain, shift = nets["squeezenet3d"].eval(), nets["shiftnet3d"].eval()
    shift.load_state_dict(plain.state_dict())
    x = torch.randn(2, 1, 24, 32, 32)
    with torch.no_grad():
        assert torch.equal(plain(x), shift(x))
    assert isinstance(shift.features.shift, Shift3D)


@pytest.mark.parametrize("name", ["shiftnet3d", "decovnet"])
def test_gradients_reach_the_stem(nets: dict, name: str) -> None:
    net = nets[name].train()
    net.zero_grad()
    x = torch.randn(2, 1, 24, 32, 32)
    torch.nn.functional.cross_entropy(net(x), torch.tensor([0, 2])).backward()
    stem_w = net.features.stem[0].weight
    assert stem_w.grad is not None and stem_w.grad.abs().sum() > 0


def test_resnet_gradient_small_variant() -> None:
    net = ResNet3D(2, layers=(1, 1, 1, 1), shift=Shift3D(p=1.0)).train()
    x = torch.randn(2, 1, 24, 32, 32)
    torch.nn.functional.cross_entropy(net(x), torch.tensor([0, 1])).backward()
    assert net.features.stem[0].weight.grad.abs().sum() > 0


def _fire_params(cin: int, sq: int, e1: int, e3: int) -> int:
    # convs with bias + BN (weight, bias) after each conv
    return (cin * sq + sq + 2 * sq) + (sq * e1 + e1 + 2 * e1) + (sq * e3 * 27 + e3 + 2 * e3)


def test_squeezenet_parameter_count_is_analytic() -> None:
    expected = 1 * 64 * 27 + 64 + 2 * 64  # stem conv (bias) + BN
    expected += sum(_fire_params(*item[:4]) for item in FIRE_CONFIG if item != "M")
    net = SqueezeNet3D(2)
    assert count_parameters(net.features) == expected == 3_659_008
    assert count_parameters(net) == expected + 512 * 2 + 2
    # reference: "about 3.7 M" backbone parameters
    assert abs(expected - 3.7e6) / 3.7e6 < 0.015


def test_resnet_and_decovnet_parameter_counts(nets: dict) -> None:
    # 3D ResNet-34 with a 5^3 stem: 63.46 M (the published 3D ResNet-34 has 63.5 M)
    assert count_parameters(nets["resnet3d-shift"].features) == 63_455_680
    assert count_parameters(nets["decovnet"]) == 1_369_971


def test_bad_input_is_rejected(nets: dict) -> None:
    net = nets["squeezenet3d"]
    with pytest.raises(InvalidInputError, match="N, 1, D, H, W"):
        net(torch.zeros(1, 24, 32, 32))
    with pytest.raises(InvalidInputError, match="N, 1, D, H, W"):
        net(torch.zeros(1, 2, 24, 32, 32))
    with pytest.raises(InvalidInputError, match="floating"):
        net(torch.zeros(1, 1, 8, 8, 8, dtype=torch.int16))
    assert isinstance(DeCovNet(2), DeCovNet)
