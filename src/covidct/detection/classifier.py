"""COVID-CT-Mask-Net: a trained Mask R-CNN's ranked RoIs -> module S -> 3 classes.

The segmentation model runs in inference mode with no score threshold: its detections after
per-class NMS are ranked by score and exactly K = ``roi_batch_size`` kept; when NMS keeps fewer,
the kept ones are repeated cyclically in rank order (0, 1, .., n-1, 0, 1, ..), as the seed
pads its batch. Each RoI gives 5 values: its score and its box corners (x1, y1, x2, y2)
divided by the width / height of the resized image (so 0..1). The (K, 5) block is flattened
into module S: Linear(5K, s) ReLU Linear(s, s) ReLU Linear(s, 3) -> logits of
0 control / normal, 1 common pneumonia, 2 COVID-19.

Only S and the batch-norm affine weights of the backbone train; batch-norm running statistics
stay frozen (:class:`~covidct.detection.model.StatsFrozenBatchNorm2d`) and every other weight of
the segmentation model is fixed. Loss: BCE-with-logits on one-hot targets (:func:`ctmasknet_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.models.detection import MaskRCNN

from covidct.errors import InvalidInputError

__all__ = ["CLASSIFIER_CLASSES", "CTMaskNet", "CTMaskNetOptions", "ctmasknet_loss", "pad_ranked"]

#: Class names of the classifier (COVIDx-CT class ids 0, 1, 2).
CLASSIFIER_CLASSES = ("control", "pneumonia", "covid")


@dataclass(frozen=True, kw_only=True)
class CTMaskNetOptions:
    """Module S: ``roi_batch_size`` K ranked RoIs in, ``s_features`` hidden units, 3 classes."""

    roi_batch_size: int = 128
    s_features: int = 512

    def __post_init__(self) -> None:
        if self.roi_batch_size < 1 or self.s_features < 1:
            raise InvalidInputError(
                f"roi_batch_size and s_features must be >= 1; got {self.roi_batch_size}, {self.s_features}"
            )


def pad_ranked(rows: Tensor, k: int) -> Tensor:
    """Exactly ``k`` rows from ranked ``rows`` (n, d): the first k, or cyclic repeats when n < k.

    No rows at all (nothing survived) gives zeros.
    """
    n = rows.shape[0]
    if n == 0:
        return rows.new_zeros((k, rows.shape[1]))
    return rows[torch.arange(k, device=rows.device) % n]


class CTMaskNet(nn.Module):
    """Mask R-CNN ``detector`` (weights fixed but BN affine) + module S over its top-K RoIs."""

    def __init__(self, detector: MaskRCNN, options: CTMaskNetOptions | None = None,
                 n_classes: int = len(CLASSIFIER_CLASSES)) -> None:
        super().__init__()
        self.options = options or CTMaskNetOptions()
        k, s = self.options.roi_batch_size, self.options.s_features
        self.detector = detector
        detector.roi_heads.score_thresh = -1.0
        detector.roi_heads.detections_per_img = k
        self.s = nn.Sequential(nn.Linear(5 * k, s), nn.ReLU(inplace=True), nn.Linear(s, s),
                               nn.ReLU(inplace=True), nn.Linear(s, n_classes))
        for module in detector.modules():
            is_bn = isinstance(module, nn.BatchNorm2d)
            for p in module.parameters(recurse=False):
                p.requires_grad_(is_bn)
        self.detector.eval()

    def train(self, mode: bool = True) -> CTMaskNet:
        """S follows ``mode``; the detector always stays in inference mode."""
        super().train(mode)
        self.detector.eval()
        return self

    def roi_features(self, images: list[Tensor]) -> Tensor:
        """(N, K, 5) ranked RoIs per image: score, x1/w, y1/h, x2/w, y2/h (resized image)."""
        det = self.detector
        image_list, _ = det.transform(images)
        features = det.backbone(image_list.tensors)
        proposals, _ = det.rpn(image_list, features)
        heads = det.roi_heads
        x = heads.box_head(heads.box_roi_pool(features, proposals, image_list.image_sizes))
        logits, regression = heads.box_predictor(x)
        boxes, scores, _ = heads.postprocess_detections(logits, regression, proposals,
                                                        image_list.image_sizes)
        out = []
        for b, sc, (h, w) in zip(boxes, scores, image_list.image_sizes, strict=True):
            order = torch.argsort(sc, descending=True, stable=True)
            scale = b.new_tensor([w, h, w, h])
            rows = torch.cat([sc[order, None], b[order] / scale], dim=1)
            out.append(pad_ranked(rows, self.options.roi_batch_size))
        return torch.stack(out)

    def forward(self, images: list[Tensor]) -> Tensor:
        """(N, 3) class logits of (3, H, W) images in 0..1."""
        return self.s(self.roi_features(images).flatten(1))


def ctmasknet_loss(logits: Tensor, target: Tensor) -> Tensor:
    """BCE-with-logits of (N, C) logits against one-hot class indices ``target`` (N,)."""
    one_hot = torch.nn.functional.one_hot(target.long(), logits.shape[1]).to(logits.dtype)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, one_hot)
