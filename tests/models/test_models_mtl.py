"""COVID-MTL model: task dicts, AFNN on/off, gradients, parameter counts, tiny overfit."""

from __future__ import annotations

import pytest
import torch

from covidct.errors import InvalidInputError
from covidct.models import (
    AFNN,
    COVIDMTL,
    EqualWeightLoss,
    RandomWeightedLoss,
    build_model,
    count_parameters,
)
from covidct.models.squeezenet3d import SqueezeNet3DFeatures

X_SHAPE = (2, 1, 24, 32, 32)


@pytest.fixture(scope="module")
def mtl() -> COVIDMTL:
    torch.manual_seed(0)
    return COVIDMTL(n_features=375)


def test_outputs_per_task(mtl: COVIDMTL) -> None:
    mtl.eval()
    x, f = torch.randn(X_SHAPE), torch.randn(2, 375)
    with torch.no_grad():
        out = mtl(x, f)
        assert list(out) == ["ct", "nat", "severity"]
        assert {k: tuple(v.shape) for k, v in out.items()} == {
            "ct": (2, 2),
            "nat": (2, 2),
            "severity": (2, 3),
        }
        again = mtl(x, f)
    assert all(torch.equal(out[k], again[k]) for k in out)  # eval is deterministic


def test_parameter_counts_match_reference(mtl: COVIDMTL) -> None:
    afnn = 375 * 256 + 256 + 256 * 128 + 128 + 128 * 64 + 64 + 64 * 32 + 32
    assert count_parameters(mtl.afnn) == afnn == 139_488
    heads = 3 * (512 * 32 + 32) + (64 * 2 + 2) * 2 + (64 * 3 + 3)
    assert count_parameters(mtl) == 3_659_008 + afnn + heads == 3_848_199
    assert abs(count_parameters(mtl) - 3.85e6) / 3.85e6 < 0.005  # reference: about 3.85 M
    full = COVIDMTL(n_features=378)
    assert count_parameters(full) - count_parameters(mtl) == 3 * 256


def test_gradients_reach_backbone_and_afnn(mtl: COVIDMTL) -> None:
    mtl.train()
    mtl.zero_grad()
    out = mtl(torch.randn(X_SHAPE), torch.randn(2, 375))
    loss = sum(torch.nn.functional.cross_entropy(v, torch.tensor([0, 1])) for v in out.values())
    loss.backward()
    for p in (mtl.backbone.stem[0].weight, mtl.afnn[0].weight, mtl.cnn_heads["nat"].conv.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_afnn_off_and_task_subset() -> None:
    net = COVIDMTL({"severity": 3}, use_afnn=False, backbone="squeezenet3d").eval()
    assert net.afnn is None
    out = net(torch.randn(X_SHAPE))
    assert list(out) == ["severity"] and out["severity"].shape == (2, 3)
    assert net.classifiers["severity"][1].in_features == 32


@pytest.mark.parametrize(
    ("backbone", "options"),
    [("decovnet", {}), ("resnet3d-shift", {"layers": (1, 1, 1, 1), "p": 1.0})],
)
def test_other_backbones(backbone: str, options: dict) -> None:
    net = build_model(
        "covid-mtl",
        tasks={"ct": 2, "nat": 2},
        backbone=backbone,
        backbone_options=options,
        n_features=378,
    )
    out = net(torch.randn(X_SHAPE), torch.randn(2, 378))
    assert {k: v.shape for k, v in out.items()} == {"ct": (2, 2), "nat": (2, 2)}


def test_bad_inputs(mtl: COVIDMTL) -> None:
    x = torch.randn(X_SHAPE)
    with pytest.raises(InvalidInputError, match="needs radiomic features"):
        mtl(x)
    with pytest.raises(InvalidInputError, match=r"expected shape \(2, 375\)"):
        mtl(x, torch.randn(2, 378))
    with pytest.raises(InvalidInputError, match="classes"):
        COVIDMTL({"ct": 1})
    with pytest.raises(InvalidInputError, match="unknown backbone"):
        COVIDMTL(backbone="vgg3d")


def test_afnn_layers() -> None:
    afnn = AFNN(375)
    widths = [(m.in_features, m.out_features) for m in afnn if isinstance(m, torch.nn.Linear)]
    assert widths == [(375, 256), (256, 128), (128, 64), (64, 32)]
    assert sum(isinstance(m, torch.nn.ReLU) for m in afnn) == 3


def test_tiny_overfit_lowers_the_loss() -> None:
    """A few Adam steps on a trivially separable batch (bright vs dark volumes, features carry
    the labels too) lower the loss. A slim Fire backbone keeps it fast on a shared CPU; the
    loss is measured in train mode with dropout off (deterministic: same batch, BN batch
    statistics)."""
    torch.manual_seed(0)
    slim = SqueezeNet3DFeatures(1, config=((64, 16, 32, 32, False), "M", (64, 16, 32, 32, True)))
    net = COVIDMTL({"ct": 2, "severity": 3}, backbone=slim, n_features=16, dropout=0.0)
    y_ct = torch.tensor([0, 1, 0, 1, 0, 1])
    y_sev = torch.tensor([0, 1, 2, 0, 1, 2])
    x = torch.randn(6, 1, 12, 12, 12) * 0.1 + (y_ct.float() * 2 - 1)[:, None, None, None, None]
    feats = torch.randn(6, 16) * 0.1
    feats[:, 0] += y_ct.float()
    feats[torch.arange(6), 1 + y_sev] += 1.0
    targets = {"ct": y_ct, "severity": y_sev}
    criterion = RandomWeightedLoss(net.tasks, generator=0)
    measure = EqualWeightLoss(net.tasks)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    with torch.no_grad():
        before = measure(net(x, feats), targets)[0].item()
    for _ in range(20):
        opt.zero_grad()
        total, _, _ = criterion(net(x, feats), targets)
        total.backward()
        opt.step()
    with torch.no_grad():
        after = measure(net(x, feats), targets)[0].item()
    assert after < 0.3 * before  # about 0.86 -> 0.05 (seeds 0-3: at most 0.16)
