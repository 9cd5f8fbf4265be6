"""A trained slice model as one portable file: network weights, backbone, classes, transform.

``model.pt`` (format ``covidct-slice-model/1``) holds what inference needs; a model card
``<stem>.card.json`` beside it records the run, fold, weights origin and validation score.
:func:`load_slice_model` accepts the file, a fold folder or a run folder (its first fold).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from covidct.errors import InvalidInputError
from covidct.models.files import read_model_dict
from covidct.provenance import read_card, sha256_file, write_card
from covidct.slices.models import build_slice_model
from covidct.slices.transforms import SliceTransform, crop_box, to_tensor

__all__ = ["SliceModel", "is_slice_model", "load_slice_model", "save_slice_model"]

FORMAT = "covidct-slice-model/1"


@dataclass(frozen=True, eq=False)
class SliceModel:
    """A 2D slice classifier ready for inference.

    Attributes:
        network: the torchvision network (eval mode), (N, 3, S, S) -> (N, n_classes) logits.
        arch: its backbone name.
        class_names: class names in output order.
        transform: the image preprocessing it was trained with.
        box_crop: whether its inputs were cropped to their body box.
        source: file it was loaded from; sha256: hash of that file; card: its model card.
    """

    network: nn.Module
    arch: str
    class_names: tuple[str, ...]
    transform: SliceTransform
    box_crop: bool = True
    source: Path | None = None
    sha256: str = ""
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def positive_class(self) -> int:
        """Index of the COVID class (the last one in both layouts)."""
        return len(self.class_names) - 1

    def tensor(self, images: list[np.ndarray], boxes: list[Any] | None = None) -> torch.Tensor:
        """(N, 3, S, S) network input from 2D uint8 grey images (evaluation transform)."""
        tf = self.transform.build(train=False)
        boxes = boxes if boxes is not None else [None] * len(images)
        return torch.stack([tf(to_tensor(crop_box(im, b))) for im, b in zip(images, boxes)])

    @torch.no_grad()
    def predict(self, images: list[np.ndarray], *, batch_size: int = 32) -> np.ndarray:
        """Class probabilities (N, n_classes) of 2D uint8 grey images (8-bit, not HU)."""
        self.network.eval()
        out = [torch.softmax(self.network(self.tensor(images[i:i + batch_size])).float(), dim=1)
               for i in range(0, len(images), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.class_names)), np.float32)


def save_slice_model(model: SliceModel, path: str | Path, *, card: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as one ``.pt`` file (temporary name, then renamed); card beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "arch": model.arch, "class_names": list(model.class_names),
               "transform": asdict(model.transform), "box_crop": model.box_crop,
               "state_dict": model.network.state_dict()}
    tmp = path.with_name(path.name + ".part")
    torch.save(payload, tmp)
    tmp.replace(path)
    if card is not None:
        write_card(path, card)
    return path


def _model_file(path: Path) -> Path:
    if path.is_file():
        return path
    if (path / "model.pt").is_file():
        return path / "model.pt"
    folds = sorted(path.glob("fold*/model.pt"))
    if folds:
        return folds[0]
    raise InvalidInputError(f"{path}: neither a slice model file nor a slice training run")


def is_slice_model(path: str | Path) -> bool:
    """True when ``path`` is (or holds) a covidct slice model."""
    try:
        raw = torch.load(_model_file(Path(path)), map_location="cpu", weights_only=False)
    except (InvalidInputError, OSError, RuntimeError, EOFError, ValueError):
        return False
    return isinstance(raw, dict) and raw.get("format") == FORMAT


def load_slice_model(path: str | Path) -> SliceModel:
    """Load a slice model from its ``.pt`` file, a fold folder or a run folder (first fold).

    Raises:
        InvalidInputError: missing, damaged or not a slice model.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"model {path} does not exist")
    file = _model_file(path)
    raw = read_model_dict(file, FORMAT, "slice model", weights_only=False)
    network, _ = build_slice_model(raw["arch"], len(raw["class_names"]), weights="none")
    network.load_state_dict(raw["state_dict"])
    tf = raw["transform"]
    transform = SliceTransform(**{**tf, "scale": tuple(tf["scale"]), "mean": tuple(tf["mean"]),
                                  "std": tuple(tf["std"])})
    card = read_card(file)
    return SliceModel(network=network.eval(), arch=raw["arch"], class_names=tuple(raw["class_names"]),
                      transform=transform, box_crop=bool(raw["box_crop"]), source=file,
                      sha256=sha256_file(file), card=card)
