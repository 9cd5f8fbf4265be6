"""Slice-classifier training configuration and presets (the ``slices`` family of ``covidct train``).

Presets ``slices-<arch>`` follow the tutorial: its transforms (resize 256, random resized
crop 224 at scale 0.5-1, flip, mean 0 / std 1), ImageNet weights when cached locally, SGD
lr 0.01 momentum 0.9, batch 8 x 8 accumulation steps, its plateau policy (moving averages
0.2, patience 5, lr x0.1), at most 60 epochs, the best epoch by validation accuracy.
``slices-<arch>-cpu`` keep the policy at 112 px, batch 16, no accumulation, 15 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from covidct.errors import InvalidInputError
from covidct.slices.models import ARCHS
from covidct.slices.transforms import TRANSFORM_PRESETS
from covidct.training.families import RunConfig

__all__ = ["OPTIMIZERS", "PRESETS", "SliceConfig", "load_slice_config", "preset_rows", "train_from_cli"]

#: Optimiser names: ``sgd`` (momentum, the tutorial's) or ``adamw`` (betas 0.9, 0.999).
OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True, kw_only=True)
class SliceConfig(RunConfig):
    """Everything a slice-training run needs; written as ``config.yaml`` into the run folder.

    Attributes:
        name: preset / run name.
        data: dataset root (UCSD COVID-CT or COVIDx-CT layout).
        arch: torchvision backbone (see :data:`covidct.slices.models.ARCHS`).
        weights: ``imagenet`` (local torch cache only), a weights file, or ``none``.
        transform: transform preset (:data:`covidct.slices.transforms.TRANSFORM_PRESETS`).
        box_crop: crop slices to their body box when the dataset gives one (COVIDx-CT).
        folds: 0 = the dataset's split files; k >= 2 = patient-level k-fold CV.
        val_size: patient share of training held out for validation when none is given.
        epochs, batch_size, accumulate: at most ``epochs``; gradient accumulation steps.
        optimizer: ``sgd`` (the tutorial's, with ``momentum``) or ``adamw``.
        lr, momentum, weight_decay: optimiser settings (momentum: SGD only).
        ema_factor, patience, lr_factor: the plateau policy (:mod:`covidct.slices.policy`).
        precision: Lightning precision; "auto" = 16-mixed on CUDA, 32-true on CPU.
        num_workers, seed, bootstrap: loader workers, seed of everything, bootstrap replicates.
        accelerator, devices: Lightning hardware settings.
    """

    name: str = "slices-vgg19_bn"
    data: str = ""
    arch: str = "vgg19_bn"
    weights: str = "imagenet"
    transform: str = "tutorial"
    box_crop: bool = True
    folds: int = 0
    val_size: float = 0.15
    epochs: int = 60
    batch_size: int = 8
    accumulate: int = 8
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    ema_factor: float = 0.2
    patience: int = 5
    lr_factor: float = 0.1
    precision: str = "auto"
    num_workers: int = 0
    seed: int = 0
    bootstrap: int = 1000
    accelerator: str = "auto"
    devices: str = "auto"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise InvalidInputError(f"unknown slice backbone {self.arch!r}; expected one of {sorted(ARCHS)}")
        if self.transform not in TRANSFORM_PRESETS:
            raise InvalidInputError(f"unknown transform {self.transform!r}; expected one of {sorted(TRANSFORM_PRESETS)}")
        if self.optimizer not in OPTIMIZERS:
            raise InvalidInputError(f"unknown optimizer {self.optimizer!r}; expected one of {list(OPTIMIZERS)}")
        if self.folds == 1 or self.folds < 0:
            raise InvalidInputError(f"folds must be 0 (the dataset's split) or >= 2; got {self.folds}")
        if self.epochs < 1 or self.batch_size < 1 or self.accumulate < 1:
            raise InvalidInputError("epochs, batch_size and accumulate must be >= 1")


def _presets() -> dict[str, SliceConfig]:
    out: dict[str, SliceConfig] = {}
    for arch in ARCHS:
        paper = SliceConfig(name=f"slices-{arch}", arch=arch)
        out[paper.name] = paper
        cpu = replace(paper, name=f"slices-{arch}-cpu", transform="cpu-112", batch_size=16,
                      accumulate=1, epochs=15)
        out[cpu.name] = cpu
    return out


PRESETS: dict[str, SliceConfig] = _presets()


def load_slice_config(source: str | Path) -> SliceConfig:
    """A preset name, or a YAML file whose ``preset:`` names one (other keys override it)."""
    from covidct.training.families import load_preset_config

    return load_preset_config(source, PRESETS, what="slice")


def preset_rows() -> list[Any]:
    """One row per slice preset for ``covidct train --list`` (parameters for 2 classes)."""
    from covidct.models import count_parameters
    from covidct.slices.models import build_slice_model
    from covidct.training.families import PresetRow

    counts = {arch: count_parameters(build_slice_model(arch, 2, weights="none")[0]) for arch in ARCHS}
    return [PresetRow(name=name, family="slices", model=cfg.arch, task="slice class",
                      parameters=counts[cfg.arch]) for name, cfg in PRESETS.items()]


def train_from_cli(source: str, out: Path, overrides: dict[str, Any], progress: Any = None) -> Path:
    """Train the slice preset or YAML ``source`` into ``out`` (the family interface)."""
    from covidct.slices.run import train_slices

    return train_slices(load_slice_config(source).with_overrides(**overrides), out, progress=progress)
