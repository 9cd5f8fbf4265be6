"""torchvision backbones for 2D slice classification, with the classifier replaced.

:func:`build_slice_model` builds ``arch`` with its ImageNet head (so ImageNet weights load
as they are, see :func:`covidct.models.pretrained.load_imagenet_weights`), then replaces the
last linear layer by one with ``num_classes`` outputs. :func:`cam_layer` names the layer
Grad-CAM reads for each architecture (the last convolutional feature map).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from covidct.errors import InvalidInputError
from covidct.models.pretrained import load_imagenet_weights

__all__ = ["ARCHS", "build_slice_model", "cam_layer"]

#: arch -> dotted path of its last linear layer (replaced) and of its Grad-CAM layer.
ARCHS: dict[str, tuple[str, str]] = {
    "vgg19_bn": ("classifier.6", "features.51"),  # last ReLU before the final max-pool
    "resnet18": ("fc", "layer4"),
    "resnet50": ("fc", "layer4"),
    "densenet121": ("classifier", "features"),
    "densenet169": ("classifier", "features"),
    "efficientnet_b0": ("classifier.1", "features"),
}


def _get(model: nn.Module, dotted: str) -> nn.Module:
    return model.get_submodule(dotted)


def _set(model: nn.Module, dotted: str, layer: nn.Module) -> None:
    parent, _, name = dotted.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, name, layer)


def build_slice_model(
    arch: str, num_classes: int, *, weights: str | Path | None = None
) -> tuple[nn.Module, str]:
    """A torchvision ``arch`` with a new ``num_classes``-way last layer; returns (model, weights used).

    ``weights``: ``"imagenet"`` (local torch cache only), a state-dict file of the ImageNet
    model, or ``None``/``"none"`` (random). Input: (N, 3, H, W) float images.
    """
    from torchvision.models import get_model

    if arch not in ARCHS:
        raise InvalidInputError(f"unknown slice backbone {arch!r}; expected one of {sorted(ARCHS)}")
    if num_classes < 2:
        raise InvalidInputError(f"num_classes must be >= 2; got {num_classes}")
    model = get_model(arch, weights=None)
    used = load_imagenet_weights(model, arch, weights)
    head_path = ARCHS[arch][0]
    head = _get(model, head_path)
    if not isinstance(head, nn.Linear):
        raise InvalidInputError(f"{arch}: expected a Linear layer at {head_path}, got {type(head).__name__}")
    _set(model, head_path, nn.Linear(head.in_features, num_classes))
    return model, used


def cam_layer(model: nn.Module, arch: str) -> nn.Module:
    """The layer whose activations Grad-CAM uses for ``arch`` (last convolutional features)."""
    if arch not in ARCHS:
        raise InvalidInputError(f"unknown slice backbone {arch!r}; expected one of {sorted(ARCHS)}")
    return _get(model, ARCHS[arch][1])
