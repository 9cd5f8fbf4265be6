"""ImageNet weights for torchvision backbones: from torch's local cache or a file, never downloaded.

``load_imagenet_weights(model, arch, weights)``:

* ``"imagenet"`` looks for torchvision's ImageNet checkpoint of ``arch`` (e.g.
  ``resnet18-f37072fd.pth``) in torch's hub cache (``$TORCH_HOME/hub/checkpoints``) only;
* a path loads that file (a state dict, or a dict holding one under ``state_dict``/``model``);
* ``None`` or ``"none"`` keeps the random initialisation (training from scratch).

When "imagenet" is asked for and the cache holds no checkpoint, a warning says where the file
is expected and the model trains from scratch. Keys the model lacks (e.g. ``fc.*`` for a
truncated backbone) are ignored; keys of the model missing from the file are an error, as are
shape mismatches.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from covidct.errors import InvalidInputError

__all__ = ["cached_imagenet_file", "load_imagenet_weights"]

log = logging.getLogger(__name__)


def _weights_enum(arch: str):
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(arch).IMAGENET1K_V1
    except (ValueError, AttributeError) as exc:
        raise InvalidInputError(f"no torchvision ImageNet weights for architecture {arch!r}") from exc


def cached_imagenet_file(arch: str) -> Path:
    """Where torch's hub cache keeps the ImageNet checkpoint of ``arch`` (it may not exist)."""
    url = _weights_enum(arch).url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InvalidInputError(f"cannot read weights file {path}: {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
    if not isinstance(raw, dict):
        raise InvalidInputError(f"weights file {path} holds no state dict")
    return raw


def load_imagenet_weights(model: nn.Module, arch: str, weights: str | Path | None) -> bool:
    """Load ImageNet weights of ``arch`` into ``model`` in place; True when weights were loaded.

    Args:
        model: a torchvision classification network of ``arch`` (possibly with layers removed).
        arch: torchvision architecture name ("resnet18", "resnet34", "resnet50", ...).
        weights: "imagenet" (torch hub cache only), a checkpoint path, or None/"none".
    """
    if weights is None or str(weights).lower() == "none":
        log.info("%s: random initialisation (no pretrained weights asked for)", arch)
        return False
    if str(weights).lower() == "imagenet":
        path = cached_imagenet_file(arch)
        if not path.is_file():
            log.warning(
                "%s: ImageNet weights not in torch's cache (%s); training from scratch. "
                "Put the file there or pass its path to use them.", arch, path,
            )
            return False
    else:
        path = Path(weights)
        if not path.is_file():
            raise InvalidInputError(f"weights file {path} does not exist")
    state = _state_dict(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise InvalidInputError(
            f"weights file {path} does not fit {arch}: {len(missing)} missing keys, e.g. {missing[:3]}"
        )
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if wrong:
        raise InvalidInputError(f"weights file {path} does not fit {arch}: shapes differ for {wrong[:3]}")
    model.load_state_dict({k: state[k] for k in own if k in state}, strict=False)
    log.info("%s: ImageNet weights loaded from %s", arch, path)
    return True
