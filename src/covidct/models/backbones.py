"""Backbones by name: the feature extractors shared by the single-task and MTL models.

Every backbone maps (N, in_channels, D, H, W) to a feature map (N, out_channels, d, h, w)
and has ``in_channels`` and ``out_channels`` attributes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from covidct.errors import InvalidInputError
from covidct.models.decovnet import DeCovNetFeatures
from covidct.models.resnet3d import ResNet3DFeatures
from covidct.models.shift3d import Shift3D
from covidct.models.squeezenet3d import SqueezeNet3DFeatures

__all__ = ["BACKBONES", "build_backbone"]


def _shift(
    p: float, max_fraction: float, per_batch: bool, generator: torch.Generator | None
) -> Shift3D:
    return Shift3D(p, max_fraction, per_batch=per_batch, generator=generator)


def _squeezenet(in_channels: int = 1) -> nn.Module:
    return SqueezeNet3DFeatures(in_channels)


def _shiftnet(
    in_channels: int = 1,
    *,
    p: float = 0.25,
    max_fraction: float = 0.2,
    per_batch: bool = False,
    generator: torch.Generator | None = None,
) -> nn.Module:
    return SqueezeNet3DFeatures(in_channels, shift=_shift(p, max_fraction, per_batch, generator))


def _resnet(in_channels: int = 1, *, layers: tuple[int, ...] = (3, 4, 6, 3)) -> nn.Module:
    return ResNet3DFeatures(in_channels, layers=layers)


def _resnet_shift(
    in_channels: int = 1,
    *,
    layers: tuple[int, ...] = (3, 4, 6, 3),
    p: float = 0.25,
    max_fraction: float = 0.2,
    per_batch: bool = False,
    generator: torch.Generator | None = None,
) -> nn.Module:
    shift = _shift(p, max_fraction, per_batch, generator)
    return ResNet3DFeatures(in_channels, layers=layers, shift=shift)


def _decovnet(in_channels: int = 1) -> nn.Module:
    return DeCovNetFeatures(in_channels)


#: backbone name -> builder(in_channels=1, **options) returning the feature extractor.
BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "squeezenet3d": _squeezenet,
    "shiftnet3d": _shiftnet,
    "resnet3d": _resnet,
    "resnet3d-shift": _resnet_shift,
    "decovnet": _decovnet,
}


def build_backbone(name: str, **kwargs: object) -> nn.Module:
    """Build the feature extractor called ``name`` (one of :data:`BACKBONES`).

    Options: ``in_channels``; for the Shift3D variants ``p``, ``max_fraction``,
    ``per_batch``, ``generator``; for ResNet3D ``layers``.
    """
    key = name.lower().replace("_", "-")
    if key not in BACKBONES:
        raise InvalidInputError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    try:
        return BACKBONES[key](**kwargs)
    except TypeError as exc:
        raise InvalidInputError(f"bad options for backbone {name!r}: {exc}") from exc
