"""Training of the lung model (the ``lungs`` family of ``covidct train``).

Data (:mod:`covidct.lungs.train_data`): phantom cases (exact labels, half with dense disease
painted in) and the real clear-lung CTs of ``data`` (minus ``exclude``), clear and with
disease painted in; their lung labels are the rules' mask, or a ``NAME_lungmask`` file beside
the CT where there is one (:func:`covidct.lungs.train_data.lung_label_file`). Validation, for
the choice of the best epoch, uses other phantom seeds and other painted variants of the same
training CTs; a CT held out for reporting is left out of both with ``exclude``. Strong
augmentation on every batch: rotation, scale, shift, left-right flip, z order, slice
thickness (z mixing), blur / sharpening, noise, HU offset and contrast.

The 3D network (``network: 3d``) trains on crops of ``crop_slices`` slices of the same
examples, average-pooled in-plane by ``pool``, with a lighter augmentation (shift, contrast,
offset, noise).

Presets: ``lungs-unet`` (3 mm pixels, 128 px, 320 steps), ``lungs-unet-2mm`` (2 mm, 192 px,
48 deformed variants per real CT, 1440 steps: the recipe of the shipped 2.5D weights),
``lungs-unet3d`` (the same examples at 4 mm, 900 steps of two 48-slice crops; measured
beside the 2.5D network, not shipped: docs/validation.md) and ``lungs-unet-quick`` / ``lungs-unet3d-quick`` (smoke tests).

``covidct train lungs-unet-2mm --data DIR -o RUN`` writes ``RUN/config.yaml``,
``RUN/lung-unet.pt`` with ``RUN/lung-unet.card.json``, its ONNX export ``RUN/lung-unet.onnx``
(what a run uses: :mod:`covidct.lungs.network`) and ``RUN/metrics.csv`` (3D: ``RUN/lung-unet3d.pt``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from covidct.errors import InvalidInputError
from covidct.training.families import RunConfig

__all__ = ["PRESETS", "LungTrainConfig", "preset_rows", "train_from_cli", "train_lung_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class LungTrainConfig(RunConfig):
    """Everything a lung-model run needs; written as ``config.yaml`` into the run folder.

    Attributes:
        name: preset / run name.
        data: folder of real chest CTs with clear lungs (files whose name holds "label" or
            "mask" are skipped; ``NAME_lungmask.*`` is NAME's lung labels, 1 right, 2 left);
            "" = phantoms only.
        exclude: names (file stem before "_" or ".") of CTs in ``data`` left out (held out).
        phantom_seeds, val_phantom_seeds: [first, last) phantom seeds for training / validation.
        phantom_size: phantom grid preset.
        paint_seeds, val_paint_seeds: [first, last) seeds of the painted variants per real CT.
        deform_seeds: [first, last) seeds of the deformed variants per real CT
            (:mod:`covidct.lungs.train_augment`; training only).
        real_share: share of the training slices drawn from the real CTs and their variants
            (0 = every slice equally likely, phantoms included).
        pixel_mm, canvas, hu_window: model input (in-plane mm, pixels, HU range).
        network: "2.5d" (:class:`~covidct.lungs.learned.LungUNet`) or "3d"
            (:class:`~covidct.lungs.learned.LungUNet3D`).
        features: U-Net channels per level.
        crop_slices, pool: the 3D network's training crops (slices) and in-plane average
            pooling of the canvas.
        base_share, base_mm: share of the 3D network's training crops that are scans of the
            lung bases, from below the lungs up to a height in ``base_mm`` (mm) above their
            lowest slice (:class:`~covidct.lungs.train_loop.CropSet`); these crops are read
            one at a time, their gradients summed over ``batch_size`` of them.
        context: neighbour slices given as channels, in multiples of the 5 mm step
            (:func:`covidct.lungs.model_grid.context_offsets`; ``(1,)``: z - 5 mm, z, z + 5 mm).
        epochs, steps_per_epoch, batch_size, lr, weight_decay: the optimisation (AdamW,
            one-cycle schedule); the epoch with the best validation Dice is kept.
        val_every: validation (and the choice of the best epoch) every this many epochs.
        seed, threads: seed of everything; torch CPU threads.
        cache: folder of the example cache ("" = ``<run>/cache``).
        accelerator: Lightning accelerator ("cpu", "gpu", "auto").
    """

    name: str = "lungs-unet"
    data: str = ""
    exclude: tuple[str, ...] = ()
    phantom_seeds: tuple[int, int] = (5000, 5060)
    val_phantom_seeds: tuple[int, int] = (5900, 5903)
    phantom_size: str = "small"
    paint_seeds: tuple[int, int] = (100, 106)
    val_paint_seeds: tuple[int, int] = (900, 901)
    deform_seeds: tuple[int, int] = (0, 0)
    real_share: float = 0.0
    pixel_mm: float = 3.0
    canvas: int = 128
    hu_window: tuple[float, float] = (-1024.0, 400.0)
    network: str = "2.5d"
    features: tuple[int, ...] = (8, 16, 32, 64, 128)
    crop_slices: int = 48
    pool: int = 2
    base_share: float = 0.0
    base_mm: tuple[float, float] = (50.0, 110.0)
    context: tuple[int, ...] = (1,)
    epochs: int = 8
    steps_per_epoch: int = 40
    batch_size: int = 12
    val_every: int = 2
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1
    cache: str = ""
    accelerator: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("exclude", "phantom_seeds", "val_phantom_seeds", "paint_seeds", "val_paint_seeds",
                     "deform_seeds", "hu_window", "features", "context", "base_mm"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("phantom_seeds", "val_phantom_seeds", "paint_seeds", "val_paint_seeds", "deform_seeds"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise InvalidInputError(f"{name} must be [first, last) with 0 <= first <= last; got {(lo, hi)}")
        if set(range(*self.phantom_seeds)) & set(range(*self.val_phantom_seeds)):
            raise InvalidInputError("phantom_seeds and val_phantom_seeds overlap")
        if set(range(*self.paint_seeds)) & set(range(*self.val_paint_seeds)):
            raise InvalidInputError("paint_seeds and val_paint_seeds overlap")
        if not self.context or min(self.context) < 1 or len(set(self.context)) != len(self.context):
            raise InvalidInputError(f"context must be distinct positive multiples of the 5 mm step; got {self.context}")
        if not 0.0 <= self.real_share < 1.0:
            raise InvalidInputError(f"real_share must be in [0, 1); got {self.real_share}")
        if not 0.0 <= self.base_share <= 1.0 or not 0 < self.base_mm[0] <= self.base_mm[1]:
            raise InvalidInputError(f"base_share must be in [0, 1] and base_mm (low, high) with 0 < low <= high; "
                                    f"got {self.base_share}, {self.base_mm}")
        if self.base_share and self.network != "3d":
            raise InvalidInputError("base_share is an option of the 3D network (network: 3d)")
        if self.network not in ("2.5d", "3d"):
            raise InvalidInputError(f"network must be '2.5d' or '3d'; got {self.network!r}")
        if self.network == "2.5d" and self.canvas % 2 ** (len(self.features) - 1):
            raise InvalidInputError(f"canvas {self.canvas} must divide by 2 ** (levels - 1)")
        if self.network == "3d" and self.canvas % self.pool:
            raise InvalidInputError(f"canvas {self.canvas} must divide by pool {self.pool}")
        if min(self.epochs, self.steps_per_epoch, self.batch_size, self.threads, self.val_every,
               self.crop_slices, self.pool) < 1 or self.pixel_mm <= 0:
            raise InvalidInputError("epochs, steps_per_epoch, batch_size, threads, val_every, crop_slices, pool "
                                    "and pixel_mm must be > 0")


PRESETS: dict[str, LungTrainConfig] = {
    "lungs-unet": LungTrainConfig(),
    "lungs-unet-quick": LungTrainConfig(name="lungs-unet-quick", phantom_seeds=(5000, 5006),
                                        val_phantom_seeds=(5900, 5902), paint_seeds=(100, 101),
                                        epochs=2, steps_per_epoch=5, batch_size=8, val_every=1),
    # 2 mm pixels on a 192 px canvas (384 mm), 48 deformed variants per real CT, 60 % of the
    # slices from real anatomy, 1440 steps of 12 slices (25-45 min on one CPU thread; 12
    # and 48 epochs scored lower held out, docs/validation.md)
    "lungs-unet-2mm": LungTrainConfig(name="lungs-unet-2mm", pixel_mm=2.0, canvas=192,
                                      paint_seeds=(100, 103), deform_seeds=(0, 48), real_share=0.6,
                                      epochs=24, steps_per_epoch=60),
    # the same examples pooled to 4 mm, whole 48-slice crops (240 mm at 5 mm slices), 900
    # steps of two crops (25-30 min on one CPU thread; docs/validation.md)
    "lungs-unet3d": LungTrainConfig(name="lungs-unet3d", network="3d", pixel_mm=2.0, canvas=192,
                                    features=(8, 16, 32, 64, 96), paint_seeds=(100, 103),
                                    deform_seeds=(0, 48), real_share=0.6, epochs=9, steps_per_epoch=100,
                                    batch_size=2, val_every=1),
    "lungs-unet3d-quick": LungTrainConfig(name="lungs-unet3d-quick", network="3d", features=(4, 8, 16),
                                          phantom_seeds=(5000, 5004), val_phantom_seeds=(5900, 5901),
                                          paint_seeds=(100, 101), crop_slices=16, epochs=2,
                                          steps_per_epoch=3, batch_size=2, val_every=1),
}


def preset_rows() -> list[Any]:
    """One row per lung preset for ``covidct train --list``."""
    from covidct.training.families import PresetRow

    return [PresetRow(name=name, family="lungs", model="LungUNet3D" if cfg.network == "3d" else "LungUNet (2.5D)",
                      task="lung mask", parameters=sum(p.numel() for p in _network(cfg).parameters()))
            for name, cfg in PRESETS.items()]


def _network(config: LungTrainConfig) -> Any:
    from covidct.lungs.learned import LungUNet, LungUNet3D
    from covidct.lungs.model_grid import context_channels

    if config.network == "3d":
        return LungUNet3D(features=config.features)
    return LungUNet(in_channels=context_channels(config.context), features=config.features)


def _datasets(config: LungTrainConfig, out: Path) -> tuple[list[Any], list[Any], dict[Path, str]]:
    from covidct.lungs.train_data import load_examples, read_labelled_ct, real_ct_files, source_name

    cache = Path(config.cache) if config.cache else out / "cache"
    real = real_ct_files(config.data, config.exclude) if config.data else []
    labelled = {str(p): read_labelled_ct(p) for p in real}
    grid = {"size": config.phantom_size, "pixel_mm": config.pixel_mm, "canvas": config.canvas, "labelled": labelled}
    train = load_examples(cache, range(*config.phantom_seeds),
                          [(str(p), tuple(range(*config.paint_seeds)), True, tuple(range(*config.deform_seeds)))
                           for p in real], **grid)
    val = load_examples(cache, range(*config.val_phantom_seeds),
                        [(str(p), tuple(range(*config.val_paint_seeds)), False, ()) for p in real], **grid)
    return train, val, {p: source_name(p, *labelled[str(p)]) for p in real}


def train_lung_model(config: LungTrainConfig, out: str | Path, *, progress: Any = None) -> Path:
    """Train the lung model of ``config`` into the run folder ``out``; returns ``out``."""
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from covidct.lungs.learned import LungModel, export_onnx, load_lung_model, save_lung_model
    from covidct.lungs.model_grid import NEIGHBOUR_MM, context_offsets
    from covidct.lungs.train_loop import LungModule, best_metrics, training_sets
    from covidct.provenance import provenance
    from covidct.training.hardware import used_hardware

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / "config.yaml")
    torch.set_num_threads(config.threads)
    train, val, real = _datasets(config, out)
    if progress:
        progress(f"{len(train)} training volumes, {len(val)} validation volumes")
    L.seed_everything(config.seed, workers=True, verbose=False)
    net = _network(config)
    module = LungModule(net, config)
    gen = torch.Generator().manual_seed(config.seed)
    train_set, val_set, weights = training_sets(train, val, config)
    one_by_one = config.base_share > 0  # crops of different lengths: gradients summed instead
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=1 if one_by_one else config.batch_size,
        sampler=torch.utils.data.WeightedRandomSampler(
            weights, config.steps_per_epoch * config.batch_size, replacement=True, generator=gen))
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=1 if config.network == "3d" else 64)
    best = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor="val_dice", mode="max")
    trainer = L.Trainer(max_epochs=config.epochs, accelerator=config.accelerator, devices=1,
                        accumulate_grad_batches=config.batch_size if one_by_one else 1,
                        callbacks=[best], logger=CSVLogger(out, name="", version=""),
                        check_val_every_n_epoch=config.val_every, log_every_n_steps=10,
                        enable_progress_bar=False, enable_model_summary=False, deterministic=False)
    trainer.fit(module, loader, val_loader)
    state = torch.load(best.best_model_path, map_location="cpu", weights_only=False)["state_dict"]
    module.load_state_dict(state)
    net.eval()
    three_d = config.network == "3d"
    card = {
        "name": config.name,
        "architecture": f"{'LungUNet3D' if three_d else 'LungUNet 2.5D'}, features {list(config.features)}, "
                        f"{sum(p.numel() for p in net.parameters())} parameters",
        "input": {"pixel_mm": config.pixel_mm, "canvas": config.canvas, "hu_window": list(config.hu_window),
                  **({"pool": config.pool, "slice_mm": NEIGHBOUR_MM,
                      "channels": f"one: the whole scan at {config.pixel_mm * config.pool:g} mm in-plane and "
                                  f"{NEIGHBOUR_MM:g} mm slices"} if three_d else
                     {"channels": f"slices z + {context_offsets(config.context, 1)} x s with "
                                  "s = round(5 mm / slice spacing)"})},
        "trained_on": {"phantom_seeds": list(config.phantom_seeds), "phantom_size": config.phantom_size,
                       "real_cts": [p.name for p in real], "paint_seeds": list(config.paint_seeds),
                       # stem and digest of each real CT's voxels and lung labels (the rules' mask unless
                       # a labels file is beside it): a retrain with other labels shows here
                       "real_labels": {p.name: name for p, name in real.items()},
                       "deform_seeds": list(config.deform_seeds), "real_share": config.real_share},
        "validation": {"phantom_seeds": list(config.val_phantom_seeds),
                       "paint_seeds": list(config.val_paint_seeds), **best_metrics(out / "metrics.csv")},
        "seed": config.seed,
        "hardware": used_hardware(trainer),
        "intended_use": "lung prior for covidct.lungs.segment_lungs (method 'model' / 'hybrid'); research use",
        "provenance": provenance(options=config.to_dict(), seed=config.seed, inputs=list(real)),
    }
    model = LungModel(module=net, pixel_mm=config.pixel_mm, canvas=config.canvas, hu_window=config.hu_window,
                      context=config.context, pool=config.pool if three_d else 1, slice_mm=NEIGHBOUR_MM)  # type: ignore[arg-type]
    pt = save_lung_model(model, out / ("lung-unet3d.pt" if three_d else "lung-unet.pt"), card=card)
    if not three_d:  # the run time's file (covidct.lungs.network)
        export_onnx(load_lung_model(pt), out / "lung-unet.onnx", card_of=pt)
    if progress:
        progress(f"best validation Dice {card['validation'].get('val_dice', math.nan):.4f}")
    return out


def train_from_cli(source: str, out: Path, overrides: dict[str, Any], progress: Any = None) -> Path:
    """Train the lung preset or YAML ``source`` into ``out`` (the family interface)."""
    from covidct.training.families import load_preset_config

    config = load_preset_config(source, PRESETS, what="lung").with_overrides(**overrides)
    return train_lung_model(config, out, progress=progress)
