"""Slice transforms: the tutorial's as a named preset, and COVIDx-CT's body-box crop.

Slice images are 8-bit grey levels (a lung window of HU, or whatever the source used): they
are **not HU**, and every reader here says so in its log and its results. Pipeline (torchvision
``transforms.v2`` on a (1, H, W) uint8 tensor): optional body-box crop -> training: resize
``resize`` (short side), ``RandomResizedCrop(crop, scale)``, horizontal flip; evaluation:
resize to ``crop x crop`` (the tutorial's test transform) -> float in [0, 1], grey copied to 3
channels -> ``Normalize(mean, std)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from covidct.errors import InvalidInputError

__all__ = ["TRANSFORM_PRESETS", "SliceTransform", "crop_box", "get_transform", "to_tensor"]

NOT_HU = "8-bit grey levels (not HU)"


@dataclass(frozen=True, kw_only=True)
class SliceTransform:
    """Image preprocessing of a slice model (pixels).

    Attributes:
        name: preset name.
        resize: short side after the first training resize (pixels).
        crop: network input side (pixels); evaluation resizes straight to crop x crop.
        scale: area range of the random resized crop (training).
        hflip: random horizontal flip (training).
        mean, std: per-channel normalisation after scaling grey levels to [0, 1].
    """

    name: str = "tutorial"
    resize: int = 256
    crop: int = 224
    scale: tuple[float, float] = (0.5, 1.0)
    hflip: bool = True
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if not 0 < self.crop <= self.resize:
            raise InvalidInputError(f"need 0 < crop <= resize; got crop {self.crop}, resize {self.resize}")
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise InvalidInputError(f"scale must satisfy 0 < low <= high <= 1; got {self.scale}")

    def build(self, *, train: bool):
        """The torchvision transform: (1, H, W) uint8 tensor -> (3, crop, crop) float tensor."""
        from torchvision.transforms import v2

        steps = ([v2.Resize(self.resize, antialias=True),
                  v2.RandomResizedCrop(self.crop, scale=self.scale, antialias=True)]
                 + ([v2.RandomHorizontalFlip()] if self.hflip else [])
                 if train else [v2.Resize((self.crop, self.crop), antialias=True)])
        return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True),
                           v2.Lambda(lambda x: x.expand(3, -1, -1)),
                           v2.Normalize(list(self.mean), list(self.std))])


#: Named presets: the tutorial's (mean 0, std 1 as in its code), the same with ImageNet
#: statistics, and smaller ones for CPU runs (96 px: the from-scratch learning runs) and tests.
TRANSFORM_PRESETS: dict[str, SliceTransform] = {
    "tutorial": SliceTransform(),
    "imagenet": SliceTransform(name="imagenet", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    "cpu-112": SliceTransform(name="cpu-112", resize=128, crop=112),
    "cpu-96": SliceTransform(name="cpu-96", resize=104, crop=96, scale=(0.75, 1.0)),
    "cpu-64": SliceTransform(name="cpu-64", resize=72, crop=64),
}


def get_transform(name: str) -> SliceTransform:
    """The transform preset ``name``."""
    if name not in TRANSFORM_PRESETS:
        raise InvalidInputError(f"unknown transform preset {name!r}; expected one of {sorted(TRANSFORM_PRESETS)}")
    return TRANSFORM_PRESETS[name]


def crop_box(image: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """``image[ymin:ymax, xmin:xmax]`` for a box ``(xmin, ymin, xmax, ymax)`` (max exclusive).

    ``None`` or an empty/out-of-image box leaves the image whole.
    """
    if box is None:
        return image
    xmin, ymin, xmax, ymax = (int(v) for v in box)
    h, w = image.shape[:2]
    xmin, ymin, xmax, ymax = max(xmin, 0), max(ymin, 0), min(xmax, w), min(ymax, h)
    if xmax - xmin < 2 or ymax - ymin < 2:
        return image
    return image[ymin:ymax, xmin:xmax]


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """A 2D uint8 grey image as a (1, H, W) uint8 tensor."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise InvalidInputError(f"expected a 2D uint8 slice image; got {image.dtype} {image.shape}")
    return torch.from_numpy(np.array(image, copy=True))[None]
