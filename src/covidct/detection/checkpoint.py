"""Model files of the Mask R-CNN family: one ``model.pt`` holding weights, options and classes.

A lesion model file holds ``format`` ("covidct-maskrcnn/1"), the :class:`MaskRCNNOptions`,
the class names, the slice geometry it was trained on (``slice_size`` px square slices of
the whole field of view, lung window ``window_hu`` = (centre, width)) and the state dict.
A classifier file ("covidct-ctmasknet/1") adds the :class:`CTMaskNetOptions`.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from covidct.datasets._common import LUNG_WINDOW_CENTER_HU, LUNG_WINDOW_WIDTH_HU
from covidct.detection.classifier import CTMaskNet, CTMaskNetOptions
from covidct.detection.model import MaskRCNNOptions, build_maskrcnn, class_names
from covidct.errors import InvalidInputError
from covidct.models.files import read_model_dict

__all__ = ["CLASSIFIER_FORMAT", "LESION_FORMAT", "load_model_file", "save_model_file"]

LESION_FORMAT = "covidct-maskrcnn/1"
CLASSIFIER_FORMAT = "covidct-ctmasknet/1"
SLICE_SIZE = 512


def save_model_file(model: nn.Module, options: MaskRCNNOptions, path: str | Path, *,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write a Mask R-CNN or :class:`CTMaskNet` with its options to ``path`` (tmp + rename)."""
    path = Path(path)
    blob: dict[str, Any] = {
        "format": CLASSIFIER_FORMAT if isinstance(model, CTMaskNet) else LESION_FORMAT,
        "options": asdict(replace(options, pretrained="none")),
        "class_names": list(class_names(options.mask_type)),
        "slice_size": SLICE_SIZE,
        "window_hu": [LUNG_WINDOW_CENTER_HU, LUNG_WINDOW_WIDTH_HU],
        "state_dict": model.state_dict(),
        "extra": extra or {},
    }
    if isinstance(model, CTMaskNet):
        blob["classifier"] = asdict(model.options)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)
    return path


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise InvalidInputError(f"model file {path} does not exist")
    return path


def load_model_file(path: str | Path, *, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The model (eval mode) and its metadata from a ``model.pt`` or a run folder holding one."""
    path = _resolve(path)
    blob = read_model_dict(path, (LESION_FORMAT, CLASSIFIER_FORMAT), "Mask R-CNN model")
    options = MaskRCNNOptions(**blob["options"])
    model: nn.Module = build_maskrcnn(options)
    if blob["format"] == CLASSIFIER_FORMAT:
        model = CTMaskNet(model, CTMaskNetOptions(**blob["classifier"]))
    model.load_state_dict(blob["state_dict"])
    model.to(device).eval()
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    meta["options"] = options
    meta["path"] = str(path)
    return model, meta
