"""COVID-CT-Mask-Net: Mask R-CNN lesion segmentation on CT slices and the 3-class classifier.

* :mod:`~covidct.detection.model` — torchvision Mask R-CNN with the seed's anchors and heads,
  ResNet18/34 (truncated, single-level FPN) and ResNet50 + FPN backbones;
* :mod:`~covidct.detection.slices` — CNCB / COVIDx-CT slices as Mask R-CNN targets;
* :mod:`~covidct.detection.coco` — COCO AP (pycocotools) and the seed's per-image mAP;
* :mod:`~covidct.detection.classifier` — module S over the top-K ranked RoIs;
* :mod:`~covidct.detection.volume` — a lesion mask for a whole CT, slice by slice.
"""

from __future__ import annotations

from covidct.detection.classifier import CTMaskNet, CTMaskNetOptions
from covidct.detection.coco import coco_metrics, detection_metrics, per_image_map
from covidct.detection.infer import predict_slices
from covidct.detection.model import MaskRCNNOptions, build_maskrcnn
from covidct.detection.slices import LesionSliceDataset, instances_from_mask
from covidct.detection.volume import segment_lesions_model

__all__ = [
    "CTMaskNet",
    "CTMaskNetOptions",
    "LesionSliceDataset",
    "MaskRCNNOptions",
    "build_maskrcnn",
    "coco_metrics",
    "detection_metrics",
    "instances_from_mask",
    "per_image_map",
    "predict_slices",
    "segment_lesions_model",
]
