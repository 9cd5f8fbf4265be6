"""Slice datasets for Mask R-CNN and the COVID-CT-Mask-Net classifier.

:func:`instances_from_mask` turns a CNCB mask (0 background, 1 lung field, 2 GGO,
3 consolidation; see :mod:`covidct.datasets.cncb`) into Mask R-CNN targets: one instance per
8-connected component of a class, components of ``min_pixels`` (100) pixels or fewer
dropped, labels by pixel value (not by position in ``np.unique``):

* ``both``: GGO (2) -> label 1, consolidation (3) -> label 2;
* ``ggo``: GGO -> 1, consolidation ignored (background);
* ``merge``: GGO and consolidation -> one class "lesion" = 1 (then split into components).

Slices with no lesion are kept (empty targets). Images are returned as (3, H, W) float32
tensors in 0..1 (the 8-bit lung-window slice repeated on three channels); boxes are
``(x1, y1, x2, y2)`` pixel edges (x2 = last column + 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from skimage.measure import label as cc_label
from skimage.measure import regionprops
from torch import Tensor
from torch.utils.data import Dataset

from covidct.datasets._common import read_png
from covidct.datasets.cncb import MASK_VALUES
from covidct.datasets.table import resolve_path
from covidct.detection.model import class_names
from covidct.errors import InvalidInputError

__all__ = [
    "MIN_COMPONENT_PIXELS",
    "ClassSliceDataset",
    "LesionSliceDataset",
    "class_mask",
    "collate_detection",
    "hflip_detection",
    "image_tensor",
    "instances_from_mask",
]

#: Components of this many pixels or fewer are dropped (the seed's rule).
MIN_COMPONENT_PIXELS = 100
_SOURCE_VALUES: dict[str, tuple[tuple[int, ...], ...]] = {
    "both": ((MASK_VALUES["ggo"],), (MASK_VALUES["consolidation"],)),
    "ggo": ((MASK_VALUES["ggo"],),),
    "merge": ((MASK_VALUES["ggo"], MASK_VALUES["consolidation"]),),
}


def class_mask(mask: np.ndarray, mask_type: str) -> np.ndarray:
    """(H, W) uint8 label image of ``mask_type`` classes (0 background, 1.. lesion classes)."""
    class_names(mask_type)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InvalidInputError(f"a slice mask must be 2D; got shape {mask.shape}")
    out = np.zeros(mask.shape, dtype=np.uint8)
    for label, values in enumerate(_SOURCE_VALUES[mask_type], start=1):
        out[np.isin(mask, values)] = label
    return out


def instances_from_mask(
    mask: np.ndarray, mask_type: str = "both", *, min_pixels: int = MIN_COMPONENT_PIXELS
) -> dict[str, np.ndarray]:
    """Instances of a CNCB slice mask: ``boxes`` (N, 4) float32 xyxy, ``labels`` (N,) int64,
    ``masks`` (N, H, W) uint8, ``areas`` (N,) pixels; sorted by label, then position."""
    classes = class_mask(mask, mask_type)
    boxes, labels, masks, areas = [], [], [], []
    for label in range(1, len(_SOURCE_VALUES[mask_type]) + 1):
        components = cc_label(classes == label, connectivity=2)
        for region in regionprops(components):
            if region.area <= min_pixels:
                continue
            y1, x1, y2, x2 = region.bbox
            boxes.append((x1, y1, x2, y2))
            labels.append(label)
            masks.append(components == region.label)
            areas.append(region.area)
    h, w = classes.shape
    return {
        "boxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        "labels": np.asarray(labels, dtype=np.int64),
        "masks": np.asarray(masks, dtype=np.uint8).reshape(-1, h, w),
        "areas": np.asarray(areas, dtype=np.int64),
    }


def image_tensor(grey: np.ndarray) -> Tensor:
    """(3, H, W) float32 tensor in 0..1 from an 8-bit (H, W) slice (lung window)."""
    grey = np.asarray(grey)
    if grey.ndim != 2:
        raise InvalidInputError(f"a slice image must be 2D; got shape {grey.shape}")
    t = torch.from_numpy(grey.astype(np.float32) / 255.0)
    return t.unsqueeze(0).expand(3, -1, -1).contiguous()


class LesionSliceDataset(Dataset):
    """CNCB lesion slices (a table from :func:`covidct.datasets.cncb.read_cncb_seg`) as
    ``(image, target)`` pairs for torchvision's Mask R-CNN.

    ``target`` holds ``boxes``, ``labels``, ``masks`` tensors and ``image_id`` (row index).
    ``hflip``: probability of flipping a slice left-right with its masks and boxes (training
    augmentation; drawn from torch's global generator).
    """

    def __init__(self, table: pd.DataFrame, root: str | Path, *, mask_type: str = "both",
                 hflip: float = 0.0) -> None:
        class_names(mask_type)
        self.hflip = float(hflip)
        if "lesion_mask" not in table.columns or table["lesion_mask"].isna().any():
            raise InvalidInputError("every slice of a lesion dataset needs a lesion_mask")
        self.table = table.reset_index(drop=True)
        self.root = Path(root)
        self.mask_type = mask_type

    def __len__(self) -> int:
        return len(self.table)

    def grey(self, index: int) -> np.ndarray:
        """The 8-bit slice of row ``index``."""
        return read_png(resolve_path(self.root, self.table.loc[index, "image"]))

    def raw_mask(self, index: int) -> np.ndarray:
        """The CNCB mask (0..3) of row ``index``."""
        return read_png(resolve_path(self.root, self.table.loc[index, "lesion_mask"]))

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Any]]:
        grey, mask = self.grey(index), self.raw_mask(index)
        if grey.shape != mask.shape:
            raise InvalidInputError(
                f"slice {self.table.loc[index, 'image']} is {grey.shape} but its mask is {mask.shape}"
            )
        inst = instances_from_mask(mask, self.mask_type)
        target = {
            "boxes": torch.from_numpy(inst["boxes"]),
            "labels": torch.from_numpy(inst["labels"]),
            "masks": torch.from_numpy(inst["masks"]),
            "image_id": index,
        }
        image = image_tensor(grey)
        if self.hflip and float(torch.rand(())) < self.hflip:
            image, target = hflip_detection(image, target)
        return image, target


def hflip_detection(image: Tensor, target: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
    """``image`` (C, H, W) and its ``boxes`` (xyxy pixel edges) and ``masks`` flipped left-right."""
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, 0], boxes[:, 2] = width - target["boxes"][:, 2], width - target["boxes"][:, 0]
    return image.flip(-1), {**target, "boxes": boxes, "masks": target["masks"].flip(-1)}


class ClassSliceDataset(Dataset):
    """COVIDx-CT slices (a table from :func:`covidct.datasets.covidx.read_covidx_ct`) as
    ``(image, class_id)`` pairs: 0 Normal/control, 1 pneumonia, 2 COVID-19."""

    def __init__(self, table: pd.DataFrame, root: str | Path) -> None:
        if "class_id" not in table.columns or table["class_id"].isna().any():
            raise InvalidInputError("every slice of a classification dataset needs a class_id")
        self.table = table.reset_index(drop=True)
        self.root = Path(root)

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        grey = read_png(resolve_path(self.root, self.table.loc[index, "image"]))
        return image_tensor(grey), int(self.table.loc[index, "class_id"])


def collate_detection(batch: list[tuple[Tensor, Any]]) -> tuple[list[Tensor], list[Any]]:
    """Keep images and targets as lists (torchvision detection models take lists)."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
