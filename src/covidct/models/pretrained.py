"""ImageNet weights for torchvision backbones: from torch's local cache or a file, never downloaded.

``load_imagenet_weights(model, arch, weights)``:

* ``"imagenet"`` uses torchvision's default ImageNet checkpoint of ``arch`` (e.g.
  ``resnet18-f37072fd.pth``) only when it is already in torch's hub cache
  (``torch.hub.get_dir()/checkpoints``); torchvision reads it there and fixes old key names;
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


def cached_imagenet_file(arch: str) -> Path:
    """Where torch's hub cache keeps the default ImageNet checkpoint of ``arch`` (may not exist)."""
    from torchvision.models import get_model_weights

    try:
        url = get_model_weights(arch).DEFAULT.url
    except (ValueError, AttributeError, KeyError) as exc:
        raise InvalidInputError(f"no torchvision ImageNet weights for architecture {arch!r}") from exc
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        raise InvalidInputError(f"cannot read weights file {path}: {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
    if not isinstance(raw, dict):
        raise InvalidInputError(f"weights file {path} holds no state dict")
    return raw


def _load_matching(model: nn.Module, state: dict[str, torch.Tensor], arch: str, path: Path) -> None:
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


def load_imagenet_weights(model: nn.Module, arch: str, weights: str | Path | None) -> str:
    """Load ImageNet (or file) weights of ``arch`` into ``model`` in place.

    Args:
        model: a torchvision network of ``arch``, possibly with layers removed or a new head
            (keys the weights have and the model lacks are ignored).
        arch: torchvision architecture name ("resnet18", "densenet121", ...).
        weights: "imagenet" (torch hub cache only), a checkpoint path, or None/"none".

    Returns:
        What was loaded: ``"imagenet:<file name>"``, ``"file:<path>"`` or ``"none"``.

    Raises:
        InvalidInputError: a given file that is missing, unreadable or does not fit ``arch``.
    """
    if weights is None or str(weights).lower() == "none":
        log.info("%s: training from scratch (no pretrained weights asked for)", arch)
        return "none"
    if str(weights).lower() == "imagenet":
        path = cached_imagenet_file(arch)
        if not path.is_file():
            log.warning("%s: ImageNet weights are not in torch's local cache (%s); training from "
                        "scratch (no download is attempted). Put the file there or pass its path.",
                        arch, path)
            return "none"
        from torchvision.models import get_model

        _load_matching(model, get_model(arch, weights="DEFAULT").state_dict(), arch, path)
        log.info("%s: ImageNet weights loaded from %s", arch, path)
        return f"imagenet:{path.name}"
    path = Path(weights)
    if not path.is_file():
        raise InvalidInputError(f"weights file {path} does not exist (expected imagenet, none or a file)")
    _load_matching(model, _state_dict(path), arch, path)
    log.info("%s: weights loaded from %s", arch, path)
    return f"file:{path}"
