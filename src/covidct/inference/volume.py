"""A trained 3D model (COVID-MTL or a single-task net) applied to one CT study.

A :class:`VolumeModel` carries everything inference needs: the network, its training config,
the common grid and crop it was trained on, and the HU normaliser fit on its training fold.
It loads from a training run (``covidct train`` run folder or one of its ``fold<k>`` folders)
or from a portable model file written by :func:`save_volume_model` (one ``.pt`` holding
weights and settings; a model card JSON may sit beside it as ``<name>.card.json``).

Pipeline: CT (HU, z, y, x) + lung labels -> :func:`prepare_volume` (grid resampling, lung
blanking, centred crop, normalisation) -> :func:`predict_volume` (class probabilities per
task); :func:`to_ct_grid` maps an array on the network's crop (a heat map) back to the CT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from covidct.errors import InvalidInputError
from covidct.io import CTVolume
from covidct.models.files import read_model_dict
from covidct.preprocess.grid import GridCase, GridPreset, from_grid, get_grid, to_grid
from covidct.provenance import read_card, sha256_file, write_card
from covidct.training.config import TrainConfig
from covidct.training.data import Normaliser, center_crop_offsets
from covidct.training.module import CovidCTModule

__all__ = [
    "VolumeModel", "PreparedVolume", "load_volume_model", "save_volume_model",
    "prepare_volume", "predict_volume", "to_ct_grid",
]

FORMAT = "covidct-volume-model/1"


@dataclass(frozen=True, eq=False)
class VolumeModel:
    """A trained 3D network ready for inference.

    Attributes:
        module: the network in eval mode; ``module(x)`` gives a dict task -> logits.
        config: its training config.
        grid: the common grid of its inputs.
        crop: network input (D, H, W) voxels.
        normaliser: HU window and mean/std of the training fold.
        source: the file or folder it was loaded from.
        sha256: hash of the weights file.
        card: the model card (dict), when one is beside the file.
    """

    module: CovidCTModule
    config: TrainConfig
    grid: GridPreset
    crop: tuple[int, int, int]
    normaliser: Normaliser
    source: Path
    sha256: str
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names in output order."""
        return tuple(self.config.tasks)

    @property
    def network(self) -> nn.Module:
        """The bare network (for Grad-CAM target layers)."""
        return self.module.model


@dataclass(frozen=True, eq=False)
class PreparedVolume:
    """A CT made ready for a :class:`VolumeModel`.

    Attributes:
        tensor: (1, 1, D, H, W) float32 network input.
        grid_case: the study on the model's grid (geometry of the full grid).
        crop_offsets: (z, y, x) voxel offsets of the crop inside the grid.
    """

    tensor: torch.Tensor
    grid_case: GridCase
    crop_offsets: tuple[int, int, int]


def _module_from_state(config: TrainConfig, state_dict: dict[str, Any], n_features: int) -> CovidCTModule:
    module = CovidCTModule(config, n_features=n_features)
    module.load_state_dict(state_dict)
    return module.eval()


def _load_run_fold(path: Path) -> VolumeModel:
    fold_dir = path
    if (path / "config.yaml").is_file() and not (path / "fit_state.json").is_file():
        folds = sorted(path.glob("fold*/fit_state.json"))
        if not folds:
            raise InvalidInputError(f"{path}: a run folder without trained folds")
        fold_dir = folds[0].parent
    run = fold_dir.parent
    ckpts = [fold_dir / "checkpoints" / n for n in ("best.ckpt", "last.ckpt")]
    ckpt = next((c for c in ckpts if c.is_file()), None)
    if ckpt is None or not (run / "config.yaml").is_file():
        raise InvalidInputError(f"{path}: expected a training run with config.yaml and checkpoints")
    config = TrainConfig(**yaml.safe_load((run / "config.yaml").read_text()))
    state = json.loads((fold_dir / "fit_state.json").read_text())
    grid_file = Path(config.data) / "grid.json"
    if not grid_file.is_file():
        raise InvalidInputError(f"{path}: the run's grid ({grid_file}) is not available")
    grid = get_grid(json.loads(grid_file.read_text())["name"])
    if state.get("feature_columns"):
        raise InvalidInputError(f"{path}: models that take radiomic features are not supported here")
    raw = torch.load(ckpt, map_location="cpu", weights_only=False)
    module = _module_from_state(config, raw["state_dict"], 0)
    return VolumeModel(module=module, config=config, grid=grid,
                       crop=tuple(config.crop or grid.crop),  # type: ignore[arg-type]
                       normaliser=Normaliser(**state["normaliser"]), source=path,
                       sha256=sha256_file(ckpt))


def save_volume_model(model: VolumeModel, path: str | Path, *, card: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as one portable ``.pt`` file (and ``<stem>.card.json`` when ``card``)."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "grid": model.grid.name,
        "crop": list(model.crop),
        "normaliser": model.normaliser.__dict__,
        "state_dict": model.module.state_dict(),
    }
    tmp = path.with_name(path.name + ".part")
    torch.save(payload, tmp)
    tmp.replace(path)
    if card is not None:
        write_card(path, card)
    return path


def _load_portable(path: Path) -> VolumeModel:
    raw = read_model_dict(path, FORMAT, "volume model", weights_only=False)
    config = TrainConfig(**raw["config"])
    card = read_card(path)
    return VolumeModel(module=_module_from_state(config, raw["state_dict"], 0), config=config,
                       grid=get_grid(raw["grid"]), crop=tuple(raw["crop"]),  # type: ignore[arg-type]
                       normaliser=Normaliser(**raw["normaliser"]), source=path,
                       sha256=sha256_file(path), card=card)


def load_volume_model(path: str | Path) -> VolumeModel:
    """Load a 3D model from a portable ``.pt`` file or a training run (folder or fold folder).

    Raises:
        InvalidInputError: missing, damaged or unsupported model.
    """
    path = Path(path)
    if path.is_file():
        return _load_portable(path)
    if path.is_dir():
        return _load_run_fold(path)
    raise InvalidInputError(f"model {path} does not exist")


def prepare_volume(model: VolumeModel, ct: CTVolume, lungs: np.ndarray) -> PreparedVolume:
    """Put a CT and its lung labels on the model's grid, crop the centre, normalise.

    Raises:
        NoLungsFoundError: empty lung mask.
        GeometryMismatchError: lungs not on the CT's grid.
    """
    case = to_grid(ct, lungs, model.grid)
    arr = case.volume.array
    offsets = center_crop_offsets(arr.shape, model.crop)
    window = tuple(slice(o, o + c) for o, c in zip(offsets, model.crop))
    x = model.normaliser(arr[window])
    tensor = torch.from_numpy(np.ascontiguousarray(x))[None, None]
    return PreparedVolume(tensor=tensor, grid_case=case,
                          crop_offsets=tuple(int(o) for o in offsets))  # type: ignore[arg-type]


@torch.no_grad()
def predict_volume(model: VolumeModel, prepared: PreparedVolume) -> dict[str, np.ndarray]:
    """Class probabilities per task (task -> float array of n_classes), summing to 1."""
    logits = model.module(prepared.tensor.to(next(model.module.parameters()).device))
    return {t: torch.softmax(v.float(), dim=1)[0].cpu().numpy() for t, v in logits.items()}


def to_ct_grid(
    values: np.ndarray, prepared: PreparedVolume, ct: CTVolume, *, labels: bool = False
) -> np.ndarray:
    """Map a (D, H, W) array on the network's crop (e.g. a heat map) onto the CT's grid.

    Outside the crop the result is 0. Linear interpolation (float32), or nearest for labels.
    """
    crop_shape = prepared.tensor.shape[2:]
    if tuple(values.shape) != tuple(crop_shape):
        raise InvalidInputError(f"values of shape {values.shape} do not match the crop {tuple(crop_shape)}")
    full = np.zeros(prepared.grid_case.volume.shape, np.uint8 if labels else np.float32)
    window = tuple(slice(o, o + c) for o, c in zip(prepared.crop_offsets, crop_shape))
    full[window] = values
    return from_grid(full, prepared.grid_case.volume, ct, labels=labels)
