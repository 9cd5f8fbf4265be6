"""ImageNet weights for torchvision backbones, from local files only (never a download).

``weights``: ``"imagenet"`` = torchvision's default weights for ``arch`` if the file is in
torch's local hub cache (``torch.hub.get_dir()/checkpoints``); a path = that state-dict file;
``None`` or ``"none"`` = keep the random initialisation. Whatever happens is logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from covidct.errors import InvalidInputError

__all__ = ["load_imagenet_weights"]

log = logging.getLogger(__name__)


def _cached_imagenet_file(arch: str) -> Path | None:
    from torchvision.models import get_model_weights

    try:
        url = get_model_weights(arch).DEFAULT.url
    except (ValueError, AttributeError, KeyError):
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    return path if path.is_file() else None


def load_imagenet_weights(model: nn.Module, arch: str, weights: str | Path | None) -> str:
    """Load ImageNet (or file) weights into ``model`` (a torchvision ``arch`` with its own head).

    Returns what was loaded: ``"imagenet:<file>"``, ``"file:<path>"`` or ``"none"``. ImageNet
    weights missing from the local cache are logged as a warning and the model stays random.

    Raises:
        InvalidInputError: a given weights file that is missing or does not fit ``arch``.
    """
    if weights is None or str(weights).lower() == "none":
        log.info("%s: training from scratch (no pretrained weights)", arch)
        return "none"
    if str(weights).lower() == "imagenet":
        path = _cached_imagenet_file(arch)
        if path is None:
            log.warning("%s: ImageNet weights are not in torch's local cache (%s/checkpoints); "
                        "training from scratch (no download is attempted)", arch, torch.hub.get_dir())
            return "none"
        from torchvision.models import get_model

        # torchvision reads its cached file (present, so no download) and fixes old key names.
        _load(model, get_model(arch, weights="DEFAULT").state_dict(), arch, path)
        log.info("%s: loaded ImageNet weights from %s", arch, path)
        return f"imagenet:{path.name}"
    path = Path(weights)
    if not path.is_file():
        raise InvalidInputError(f"weights file {path} does not exist (expected imagenet, none or a file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError, EOFError) as exc:
        raise InvalidInputError(f"weights {path} are not a readable state dict: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    _load(model, state, arch, path)
    log.info("%s: loaded weights from %s", arch, path)
    return f"file:{path}"


def _load(model: nn.Module, state: dict, arch: str, path: Path) -> None:
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInputError(f"weights {path} do not fit {arch}: {exc}") from exc
