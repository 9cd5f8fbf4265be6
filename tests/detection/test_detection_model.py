"""Mask R-CNN configuration: anchors, heads, samplers, backbones, parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

from covidct.detection.model import (
    MaskRCNNOptions,
    StatsFrozenBatchNorm2d,
    build_maskrcnn,
    count_detection_parameters,
    num_classes,
)
from covidct.errors import InvalidInputError


def _total(model: nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


@pytest.fixture(scope="module")
def r18() -> nn.Module:
    return build_maskrcnn(MaskRCNNOptions(backbone="resnet18", truncation=1, mask_type="both"))


def test_anchors_one_tuple_per_feature_map(r18):
    gen = r18.rpn.anchor_generator
    assert gen.sizes == ((2, 4, 8, 16, 32),)
    assert gen.aspect_ratios == ((0.1, 0.25, 0.5, 1.0, 1.5, 2.0),)
    assert gen.num_anchors_per_location() == [30]
    assert r18.rpn.head.cls_logits.out_channels == 30
    image = torch.zeros(1, 3, 64, 64)
    feats = r18.backbone(image)
    assert list(feats) == ["0"]  # single-level FPN, no pooled extra level
    assert feats["0"].shape[1] == 256


def test_resnet50_has_five_maps_one_size_each():
    model = build_maskrcnn(MaskRCNNOptions(backbone="resnet50", truncation=0))
    gen = model.rpn.anchor_generator
    assert gen.sizes == ((2,), (4,), (8,), (16,), (32,))
    assert len(gen.aspect_ratios) == 5 and gen.num_anchors_per_location() == [6] * 5
    assert list(model.backbone(torch.zeros(1, 3, 64, 64))) == ["0", "1", "2", "3", "pool"]
    assert model.roi_heads.box_roi_pool.featmap_names == ["0", "1", "2", "3"]


def test_heads_samplers_and_transform(r18):
    rh, rpn = r18.roi_heads, r18.rpn
    assert isinstance(rh.box_head, TwoMLPHead) and rh.box_head.fc6.in_features == 256 * 7 * 7
    assert rh.box_head.fc7.out_features == 128
    assert isinstance(rh.box_predictor, FastRCNNPredictor)
    assert rh.box_predictor.cls_score.out_features == 3
    assert [m.out_channels for m in rh.mask_head.modules() if isinstance(m, nn.Conv2d)] == [128]
    assert isinstance(rh.mask_predictor, MaskRCNNPredictor)
    assert rh.mask_predictor.mask_fcn_logits.out_channels == 3
    assert rh.box_roi_pool.featmap_names == ["0"] and rh.mask_roi_pool.featmap_names == ["0"]
    assert rh.fg_bg_sampler.batch_size_per_image == 256
    assert rh.fg_bg_sampler.positive_fraction == 0.75
    assert rh.proposal_matcher.high_threshold == 0.75 and rh.proposal_matcher.low_threshold == 0.5
    assert rh.nms_thresh == 0.75
    assert rpn.fg_bg_sampler.batch_size_per_image == 256 and rpn.fg_bg_sampler.positive_fraction == 0.75
    assert rpn.nms_thresh == 0.75
    assert r18.transform.min_size == (512,) and r18.transform.max_size == 1024


@pytest.mark.parametrize(("backbone", "truncation", "stage", "channels"), [
    ("resnet18", 0, "layer4", 512), ("resnet18", 2, "layer2", 128), ("resnet34", 1, "layer3", 256),
])
def test_truncation_returns_the_right_stage(backbone, truncation, stage, channels):
    model = build_maskrcnn(MaskRCNNOptions(backbone=backbone, truncation=truncation))
    body = model.backbone.body
    assert list(body.return_layers) == [stage]
    assert model.backbone.fpn.inner_blocks[0][0].in_channels == channels
    kept = [n for n, _ in body.named_children()]
    assert kept[-1] == stage


@pytest.mark.parametrize(("backbone", "truncation", "seed_m"), [
    ("resnet18", 1, 6.12), ("resnet34", 1, 11.45),
])
def test_lightweight_parameter_counts_match_seed(backbone, truncation, seed_m):
    model = build_maskrcnn(MaskRCNNOptions(backbone=backbone, truncation=truncation))
    assert _total(model) == pytest.approx(seed_m, rel=0.03)


def test_resnet50_parameter_count_explained():
    """Light heads: 29.44 M. The seed's 31.78 M full model keeps torchvision's standard mask
    head (4 x 256-channel convs + 256-channel predictor): with it the count is within 1 %."""
    light = build_maskrcnn(MaskRCNNOptions(backbone="resnet50", truncation=0))
    standard = build_maskrcnn(MaskRCNNOptions(backbone="resnet50", truncation=0,
                                              mask_layers=(256, 256, 256, 256)))
    assert _total(light) == pytest.approx(29.435, abs=0.005)
    parts_light = count_detection_parameters(light)
    parts_std = count_detection_parameters(standard)
    assert parts_std["mask_head"] - parts_light["mask_head"] == 2623234 - 360962
    assert _total(standard) == pytest.approx(31.78, rel=0.01)


def test_batch_norm_keeps_statistics_in_train_mode(r18):
    bns = [m for m in r18.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(isinstance(m, StatsFrozenBatchNorm2d) for m in bns)
    r18.train()
    assert not any(m.training for m in bns) and all(m.weight.requires_grad for m in bns)


def test_bad_options_raise():
    with pytest.raises(InvalidInputError):
        MaskRCNNOptions(backbone="resnet50", truncation=1)
    with pytest.raises(InvalidInputError):
        MaskRCNNOptions(mask_type="lungs")
    assert num_classes("merge") == 2 and num_classes("both") == 3 and num_classes("ggo") == 2


def _step(model: nn.Module) -> None:
    image = torch.zeros(3, 64, 64)
    image[:, 20:40, 20:40] = 1.0
    masks = torch.zeros(1, 64, 64, dtype=torch.uint8)
    masks[0, 20:40, 20:40] = 1
    target = {"boxes": torch.tensor([[20.0, 20.0, 40.0, 40.0]]), "labels": torch.tensor([1]),
              "masks": masks}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    model.train()
    loss = sum(model([image], [target]).values())
    loss.backward()
    opt.step()


@pytest.mark.parametrize(("norm", "frozen"), [("frozen-stats", True), ("batch", False)])
def test_training_step_and_batch_norm_statistics(norm, frozen):
    torch.manual_seed(0)
    model = build_maskrcnn(MaskRCNNOptions(truncation=2, min_size=64, max_size=64, norm=norm,
                                           box_batch_size=32))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _step(model)
    after = model.state_dict()
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert stats
    assert all(torch.equal(before[k], after[k]) for k in stats) is frozen
    assert not torch.equal(before["backbone.body.bn1.weight"], after["backbone.body.bn1.weight"])
