"""Module S: exactly K ranked RoIs, only S and BN affine weights train, BN statistics frozen."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from covidct.detection.classifier import CTMaskNet, CTMaskNetOptions, ctmasknet_loss, pad_ranked
from covidct.detection.model import MaskRCNNOptions, build_maskrcnn


@pytest.fixture(params=["frozen-stats", "batch"])
def net(request) -> CTMaskNet:
    torch.manual_seed(0)
    det = build_maskrcnn(MaskRCNNOptions(backbone="resnet18", truncation=2, min_size=64, max_size=64,
                                         norm=request.param))
    for m in det.modules():  # non-trivial running statistics, to see that they do not move
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return CTMaskNet(det, CTMaskNetOptions(roi_batch_size=16, s_features=8))


def test_pad_ranked_repeats_in_rank_order():
    rows = torch.arange(6.0).reshape(3, 2)
    assert pad_ranked(rows, 7)[:, 0].tolist() == [0, 2, 4, 0, 2, 4, 0]
    assert pad_ranked(rows, 2).tolist() == rows[:2].tolist()
    assert pad_ranked(rows[:0], 4).abs().sum() == 0 and pad_ranked(rows[:0], 4).shape == (4, 2)


def test_exactly_k_ranked_rois(net):
    images = [torch.rand(3, 64, 64), torch.rand(3, 64, 64)]
    net.train()
    feats = net.roi_features(images)
    assert feats.shape == (2, 16, 5)
    assert net.detector.training is False and net.s.training is True
    scores = feats[0, :, 0]
    n_unique = len(torch.unique(feats[0], dim=0))
    assert torch.all(scores[: n_unique][:-1] >= scores[: n_unique][1:])
    assert torch.all((feats[..., 1:] >= 0) & (feats[..., 1:] <= 1))
    assert net(images).shape == (2, 3)
    assert net.s[0].in_features == 5 * 16


def test_only_s_and_bn_affine_train_and_statistics_stay(net):
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert all(n.startswith("s.") or ".bn" in n or "downsample.1" in n for n in trainable)
    assert any(n.startswith("detector.") for n in trainable)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    net.train()
    loss = ctmasknet_loss(net([torch.rand(3, 64, 64), torch.rand(3, 64, 64)]), torch.tensor([0, 2]))
    loss.backward()
    opt.step()
    after = net.state_dict()
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)
    assert not torch.equal(before["s.0.weight"], after["s.0.weight"])
    assert not torch.equal(before["detector.backbone.body.bn1.weight"], after["detector.backbone.body.bn1.weight"])
    assert torch.equal(before["detector.backbone.body.conv1.weight"], after["detector.backbone.body.conv1.weight"])
    assert torch.equal(before["detector.roi_heads.box_head.fc6.weight"], after["detector.roi_heads.box_head.fc6.weight"])


def test_loss_is_bce_on_one_hot():
    logits = torch.tensor([[2.0, -1.0, 0.0]])
    expected = nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([[1.0, 0, 0]]))
    assert ctmasknet_loss(logits, torch.tensor([0])) == pytest.approx(float(expected))
