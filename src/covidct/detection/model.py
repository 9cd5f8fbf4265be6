"""Mask R-CNN lesion models of COVID-CT-Mask-Net, built on torchvision's detection API.

:func:`build_maskrcnn` configures ``torchvision.models.detection.MaskRCNN`` with the seed's
settings (:class:`MaskRCNNOptions`): anchors of sizes 2..32 px and aspect ratios 0.1..2,
RPN / RoI sampling 256 with positive fraction 0.75, RoI fg/bg IoU 0.75/0.5, NMS 0.75, a box
head ``TwoMLPHead(256*7*7, 128)`` and a one-layer 128-channel mask head.

Backbones:

* ``resnet18`` / ``resnet34`` with truncation 0, 1, 2 (the last stage kept is layer4, layer3,
  layer2) feeding a single-level FPN of 256 channels with no extra pooled level: one feature
  map "0", one anchor tuple holding all five sizes, RoI poolers on map "0";
* ``resnet50`` (truncation 0 only): layers 1-4 into a 4-level FPN plus torchvision's
  max-pooled level (5 maps); one anchor size per map (2, 4, 8, 16, 32), every aspect ratio.

Batch norm in the backbone is :class:`StatsFrozenBatchNorm2d` by default: its affine weights
train, its running statistics never change (the seed's classifier relies on this; batch size
1 gives no usable batch statistics either); ``norm="batch"`` learns them, for training from
scratch. Images are (3, H, W) float tensors in 0..1 (a grey CT slice
repeated on three channels), normalised with the ImageNet mean/std inside the model.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from torch import Tensor, nn
from torchvision.models import resnet18, resnet34, resnet50
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from covidct.errors import InvalidInputError
from covidct.models.pretrained import load_imagenet_weights

__all__ = [
    "MASK_TYPES",
    "MaskRCNNOptions",
    "SingleLevelFPNBackbone",
    "StatsFrozenBatchNorm2d",
    "build_maskrcnn",
    "class_names",
    "count_detection_parameters",
    "num_classes",
]

#: mask type -> lesion class names (background excluded), in label order 1, 2, ...
MASK_TYPES: dict[str, tuple[str, ...]] = {
    "both": ("ggo", "consolidation"),
    "ggo": ("ggo",),
    "merge": ("lesion",),
}
_RESNETS = {"resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50}
_LAYER_CHANNELS = {"resnet18": (64, 128, 256, 512), "resnet34": (64, 128, 256, 512),
                   "resnet50": (256, 512, 1024, 2048)}


@dataclass(frozen=True, kw_only=True)
class MaskRCNNOptions:
    """Mask R-CNN configuration (the seed's values by default; sizes in pixels, of the image after resizing to min_size).

    Attributes:
        backbone: "resnet18", "resnet34" or "resnet50".
        truncation: 0, 1 or 2 stages removed from the end of ResNet18/34 (0 for resnet50).
        mask_type: "both" (GGO, consolidation), "ggo" or "merge" (one class "lesion").
        pretrained: "imagenet" (torch cache only), a weights file, or "none".
        min_size, max_size: torchvision's resize of the shorter / longer image side.
        anchor_sizes, aspect_ratios: anchor sizes (px) and height/width ratios.
        rpn_batch_size, rpn_positive_fraction: anchors sampled per image for the RPN loss.
        rpn_nms: NMS IoU of the RPN proposals.
        box_batch_size, box_positive_fraction: RoIs sampled per image for the head losses.
        box_fg_iou, box_bg_iou: IoU above which an RoI is foreground / below background.
        box_nms: NMS IoU of the final detections (per class).
        box_score_thresh: minimum score of a detection (negative = keep all).
        detections_per_img: detections kept per image.
        representation_size: width of the box head MLP.
        norm: backbone batch norm: "frozen-stats" (:class:`StatsFrozenBatchNorm2d`, for
            ImageNet-initialised backbones, as the seed) or "batch" (statistics learnt during
            training, for training from scratch; a classifier freezes them in any case).
        mask_layers: channels of each mask-head convolution (the light head: one of 128;
            torchvision's standard head, which the seed's full ResNet50 model keeps, is
            (256, 256, 256, 256)); the mask predictor takes the last one.
    """

    backbone: str = "resnet18"
    truncation: int = 1
    mask_type: str = "merge"
    pretrained: str = "none"
    min_size: int = 512
    max_size: int = 1024
    anchor_sizes: tuple[int, ...] = (2, 4, 8, 16, 32)
    aspect_ratios: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0)
    rpn_batch_size: int = 256
    rpn_positive_fraction: float = 0.75
    rpn_nms: float = 0.75
    box_batch_size: int = 256
    box_positive_fraction: float = 0.75
    box_fg_iou: float = 0.75
    box_bg_iou: float = 0.5
    box_nms: float = 0.75
    box_score_thresh: float = 0.05
    detections_per_img: int = 100
    representation_size: int = 128
    mask_layers: tuple[int, ...] = (128,)
    norm: str = "frozen-stats"

    def __post_init__(self) -> None:
        object.__setattr__(self, "anchor_sizes", tuple(int(s) for s in self.anchor_sizes))
        object.__setattr__(self, "aspect_ratios", tuple(float(r) for r in self.aspect_ratios))
        object.__setattr__(self, "mask_layers", tuple(int(c) for c in self.mask_layers))
        if not self.mask_layers:
            raise InvalidInputError("mask_layers needs at least one convolution")
        if self.backbone not in _RESNETS:
            raise InvalidInputError(f"backbone must be one of {sorted(_RESNETS)}; got {self.backbone!r}")
        allowed = (0,) if self.backbone == "resnet50" else (0, 1, 2)
        if self.truncation not in allowed:
            raise InvalidInputError(
                f"truncation of {self.backbone} must be one of {allowed}; got {self.truncation!r}"
            )
        if self.mask_type not in MASK_TYPES:
            raise InvalidInputError(f"mask_type must be one of {sorted(MASK_TYPES)}; got {self.mask_type!r}")
        if self.norm not in ("frozen-stats", "batch"):
            raise InvalidInputError(f"norm must be 'frozen-stats' or 'batch'; got {self.norm!r}")
        if self.backbone == "resnet50" and len(self.anchor_sizes) != 5:
            raise InvalidInputError("resnet50 + FPN has 5 feature maps: give 5 anchor sizes")


def class_names(mask_type: str) -> tuple[str, ...]:
    """Lesion class names of ``mask_type`` (label 1, 2, ...; 0 is background)."""
    if mask_type not in MASK_TYPES:
        raise InvalidInputError(f"mask_type must be one of {sorted(MASK_TYPES)}; got {mask_type!r}")
    return MASK_TYPES[mask_type]


def num_classes(mask_type: str) -> int:
    """Classes of the Mask R-CNN predictors, background included."""
    return 1 + len(class_names(mask_type))


class StatsFrozenBatchNorm2d(nn.BatchNorm2d):
    """Batch norm that always normalises with its running statistics and never updates them.

    Unlike torchvision's ``FrozenBatchNorm2d`` the affine weight and bias stay parameters (they
    train); ``train()`` leaves the layer in eval mode so the statistics stay frozen.
    """

    def train(self, mode: bool = True) -> StatsFrozenBatchNorm2d:
        return super().train(False)


class SingleLevelFPNBackbone(nn.Module):
    """A ResNet cut after one stage, feeding a one-level FPN (feature map "0", no extra level)."""

    def __init__(self, body: nn.Module, return_layer: str, in_channels: int,
                 out_channels: int = 256) -> None:
        super().__init__()
        self.body = IntermediateLayerGetter(body, return_layers={return_layer: "0"})
        self.fpn = FeaturePyramidNetwork([in_channels], out_channels, extra_blocks=None)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        return self.fpn(self.body(x))


class _MultiLevelFPNBackbone(nn.Module):
    """ResNet50 layers 1-4 into a 4-level FPN plus a max-pooled level ("0".."3", "pool")."""

    def __init__(self, body: nn.Module, out_channels: int = 256) -> None:
        super().__init__()
        layers = {f"layer{k}": str(k - 1) for k in range(1, 5)}
        self.body = IntermediateLayerGetter(body, return_layers=layers)
        self.fpn = FeaturePyramidNetwork(list(_LAYER_CHANNELS["resnet50"]), out_channels,
                                         extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        return self.fpn(self.body(x))


def _backbone(options: MaskRCNNOptions) -> nn.Module:
    norm = StatsFrozenBatchNorm2d if options.norm == "frozen-stats" else nn.BatchNorm2d
    body = _RESNETS[options.backbone](weights=None, norm_layer=norm)
    load_imagenet_weights(body, options.backbone, options.pretrained)
    if options.backbone == "resnet50":
        return _MultiLevelFPNBackbone(body)
    stage = 4 - options.truncation
    return SingleLevelFPNBackbone(body, f"layer{stage}", _LAYER_CHANNELS[options.backbone][stage - 1])


def _anchors(options: MaskRCNNOptions) -> AnchorGenerator:
    if options.backbone == "resnet50":
        sizes = tuple((s,) for s in options.anchor_sizes)
    else:
        sizes = (options.anchor_sizes,)
    return AnchorGenerator(sizes=sizes, aspect_ratios=(options.aspect_ratios,) * len(sizes))


def build_maskrcnn(options: MaskRCNNOptions | None = None) -> MaskRCNN:
    """A torchvision ``MaskRCNN`` configured by ``options`` (the seed's settings by default)."""
    options = options or MaskRCNNOptions()
    n = num_classes(options.mask_type)
    backbone = _backbone(options)
    maps = ["0", "1", "2", "3"] if options.backbone == "resnet50" else ["0"]
    resolution = 7
    model = MaskRCNN(
        backbone,
        num_classes=None,
        min_size=options.min_size,
        max_size=options.max_size,
        rpn_anchor_generator=_anchors(options),
        rpn_nms_thresh=options.rpn_nms,
        rpn_batch_size_per_image=options.rpn_batch_size,
        rpn_positive_fraction=options.rpn_positive_fraction,
        box_roi_pool=MultiScaleRoIAlign(maps, output_size=resolution, sampling_ratio=2),
        box_head=TwoMLPHead(backbone.out_channels * resolution**2, options.representation_size),
        box_predictor=FastRCNNPredictor(options.representation_size, n),
        box_score_thresh=options.box_score_thresh,
        box_nms_thresh=options.box_nms,
        box_detections_per_img=options.detections_per_img,
        box_fg_iou_thresh=options.box_fg_iou,
        box_bg_iou_thresh=options.box_bg_iou,
        box_batch_size_per_image=options.box_batch_size,
        box_positive_fraction=options.box_positive_fraction,
        mask_roi_pool=MultiScaleRoIAlign(maps, output_size=14, sampling_ratio=2),
        mask_head=MaskRCNNHeads(backbone.out_channels, list(options.mask_layers), 1),
        mask_predictor=MaskRCNNPredictor(options.mask_layers[-1], options.mask_layers[-1], n),
    )
    return model


def count_detection_parameters(model: nn.Module) -> dict[str, int]:
    """Parameters of a Mask R-CNN by part: backbone body, fpn, rpn, box and mask heads, total."""
    parts = {
        "body": model.backbone.body, "fpn": model.backbone.fpn, "rpn": model.rpn,
        "box_head": nn.ModuleList([model.roi_heads.box_head, model.roi_heads.box_predictor]),
        "mask_head": nn.ModuleList([model.roi_heads.mask_head, model.roi_heads.mask_predictor]),
    }
    counts = {k: sum(p.numel() for p in m.parameters()) for k, m in parts.items()}
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


