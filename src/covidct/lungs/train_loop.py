"""The training loop of the lung model: slice and volume-crop datasets, batch augmentation,
Lightning module."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from covidct.lungs.model_grid import DEFAULT_CONTEXT, NEIGHBOUR_MM, neighbour_stack, scale_hu

__all__ = ["CropSet", "LungModule", "SliceSet", "augment", "augment_volume", "best_metrics", "slice_weights",
           "soft_dice_loss", "training_sets"]


class SliceSet(torch.utils.data.Dataset):
    """Every axial slice of a list of :class:`~covidct.lungs.train_data.Example`: items are
    ``(HU (context_channels(context), c, c) float32, lung fraction (1, c, c) float32)``, the
    channels of :func:`~covidct.lungs.model_grid.neighbour_stack`."""

    def __init__(self, examples: list[Any], context: tuple[int, ...] = DEFAULT_CONTEXT) -> None:
        self.examples, self.context = examples, tuple(context)
        self.index = [(i, z) for i, ex in enumerate(examples) for z in range(ex.hu.shape[0])]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        i, z = self.index[k]
        ex = self.examples[i]
        x = neighbour_stack(torch.from_numpy(ex.hu), np.array([z]), ex.step, self.context)[0].float()
        y = torch.from_numpy(ex.lung[z:z + 1].astype(np.float32) / 255.0)
        return x, y


class CropSet(torch.utils.data.Dataset):
    """The examples average-pooled in-plane by ``pool`` (HU and lung fraction, float32): item
    ``i`` is ``(HU (1, crop, c', c'), lung fraction (1, crop, c', c'))``, a random run of
    ``crop`` slices of example ``i`` (padded with air at both ends when shorter), or the whole
    example when ``crop`` is 0 (validation).

    With ``base_share`` > 0 that share of the crops is a scan of the lung bases instead, as a
    scan that stops below the apex shows them: from a random slice at or below the lowest lung
    slice up to a random height in ``base_mm`` (mm) above it (slices of ``5 / step`` mm);
    such crops differ in length, so they are read one at a time."""

    def __init__(self, examples: list[Any], pool: int, crop: int = 0, *, base_share: float = 0.0,
                 base_mm: tuple[float, float] = (50.0, 110.0)) -> None:
        self.crop, self.names = crop, [ex.name for ex in examples]
        self.base_share, self.base_mm = base_share, base_mm
        self.volumes = [(_pooled(ex.hu, pool), _pooled(ex.lung.astype(np.float32) / 255.0, pool)) for ex in examples]
        self.bases = [_lowest_lung(ex.lung) for ex in examples]
        self.slice_mm = [NEIGHBOUR_MM / ex.step for ex in examples]

    def __len__(self) -> int:
        return len(self.volumes)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.volumes[i]
        if self.crop and self.base_share and float(torch.rand(())) < self.base_share:
            low = self.bases[i]
            height = self.base_mm[0] + float(torch.rand(())) * (self.base_mm[1] - self.base_mm[0])
            start = int(torch.randint(low + 1, ()))
            stop = min(x.shape[0], low + max(1, round(height / self.slice_mm[i])))
            x, y = x[start:stop], y[start:stop]
        elif self.crop:
            short = max(0, self.crop - x.shape[0])
            if short:
                pad = (0, 0, 0, 0, short // 2, short - short // 2)
                x, y = F.pad(x, pad, value=-1024.0), F.pad(y, pad)
            start = int(torch.randint(x.shape[0] - self.crop + 1, ()))
            x, y = x[start:start + self.crop], y[start:start + self.crop]
        return x[None], y[None]


def _lowest_lung(lung: np.ndarray) -> int:
    """Index of the lowest slice (feet first, as examples are laid) with lung, 0 if none."""
    zs = np.flatnonzero((lung > 127).any(axis=(1, 2)))
    return int(zs[0]) if zs.size else 0


def _pooled(a: np.ndarray, pool: int) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(a, dtype=np.float32))
    return F.avg_pool2d(t[:, None], pool)[:, 0] if pool > 1 else t


def training_sets(train: list[Any], val: list[Any], config: Any) -> tuple[Any, Any, torch.Tensor]:
    """(training set, validation set, sampling weight of each training item) of ``config``'s
    network: slices (:class:`SliceSet`) for the 2.5D one, crops (:class:`CropSet`) for the 3D."""
    if config.network == "3d":
        crops = CropSet(train, config.pool, config.crop_slices, base_share=config.base_share,
                        base_mm=config.base_mm)
        return crops, CropSet(val, config.pool), _group_weights(crops.names, config.real_share)
    slices = SliceSet(train, config.context)
    return slices, SliceSet(val, config.context), slice_weights(slices, config.real_share)


def slice_weights(slices: SliceSet, real_share: float) -> torch.Tensor:
    """Sampling weight of every slice of ``slices``: ``real_share`` of the total on the
    examples not made from phantoms (names not starting with "phantom"), the rest on the
    phantoms, equal within each group; ``real_share`` 0 (or one group empty): all equal."""
    return _group_weights([slices.examples[i].name for i, _ in slices.index], real_share)


def _group_weights(names: list[str], real_share: float) -> torch.Tensor:
    real = torch.tensor([not n.startswith("phantom") for n in names])
    n_real, n_all = int(real.sum()), len(names)
    if real_share <= 0 or n_real in (0, n_all):
        return torch.ones(n_all, dtype=torch.double)
    return torch.where(real, real_share / n_real, (1.0 - real_share) / (n_all - n_real)).double()


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=gen).to(device) * (hi - lo) + lo


def augment(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random augmentation of a batch: HU ``x`` (n, c, h, w) (an odd number of slices, the
    centre one in the middle), lung fraction ``y`` (n, 1, h, w).

    Slice thickness (the centre slice mixed with up to 30 % of each nearest neighbour), z order,
    rotation (+-15 degrees), scale (0.85-1.2), shift (+-8 %), left-right flip, blur or
    sharpening, HU contrast (0.9-1.1 about -500 HU) and offset (+-40 HU), noise (SD 0-30 HU).
    """
    n, dev = x.shape[0], x.device
    u = lambda lo, hi: _uniform(n, lo, hi, gen, dev)
    w, c = u(0.0, 0.3)[:, None, None], x.shape[1] // 2
    x = x.clone()
    x[:, c] = (1 - 2 * w) * x[:, c] + w * (x[:, c - 1] + x[:, c + 1])
    swap = u(0, 1) < 0.5
    x = torch.where(swap[:, None, None, None], x.flip(1), x)
    angle, scale = u(-math.pi / 12, math.pi / 12), u(0.85, 1.2)
    flip = torch.where(u(0, 1) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, u(-0.08, 0.08)], 1),
                         torch.stack([sin * flip, cos, u(-0.08, 0.08)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x + 1024.0, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1024.0
    y = F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=dev) / 16.0
    blur = F.conv2d(F.pad(x.reshape(-1, 1, *x.shape[2:]), (2, 2, 2, 2), mode="replicate"),
                    (kernel[:, None] * kernel[None, :])[None, None]).reshape(x.shape)
    sharp = u(-1.0, 1.5)[:, None, None, None]  # < 0 blurs, > 0 sharpens
    x = x + sharp * (x - blur)
    x = (x + 500.0) * u(0.9, 1.1)[:, None, None, None] - 500.0 + u(-40, 40)[:, None, None, None]
    noise = torch.randn(x.shape, generator=gen).to(dev) * u(0, 30)[:, None, None, None]
    return x + noise, y


def augment_volume(x: torch.Tensor, gen: torch.Generator | None = None,
                   y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random augmentation of a batch of scaled-HU crops ``x`` (n, 1, z, h, w) (and their
    lung fraction ``y``): the same in-plane shift of both (+-6 pixels, wrapping round), and
    contrast (0.95-1.05), offset (+-0.03) and noise (SD 0-0.03) of ``x``, in scaled units
    (:func:`~covidct.lungs.model_grid.scale_hu`)."""
    n, dev = x.shape[0], x.device
    shifts = torch.randint(-6, 7, (n, 2), generator=gen).tolist()
    x = torch.stack([torch.roll(v, tuple(d), (-2, -1)) for v, d in zip(x, shifts)])
    if y is not None:
        y = torch.stack([torch.roll(v, tuple(d), (-2, -1)) for v, d in zip(y, shifts)])
    shape = (n, 1, 1, 1, 1)
    x = x * _uniform(n, 0.95, 1.05, gen, dev).view(shape) + _uniform(n, -0.03, 0.03, gen, dev).view(shape)
    return x + torch.randn(x.shape, generator=gen).to(dev) * _uniform(n, 0.0, 0.03, gen, dev).view(shape), y


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - soft Dice of the batch (all pixels together)."""
    p = torch.sigmoid(logits)
    return 1.0 - (2.0 * (p * target).sum() + 1.0) / (p.sum() + target.sum() + 1.0)


class LungModule(L.LightningModule):
    """The lung U-Net (2.5D or 3D) with BCE + soft Dice loss, AdamW and a one-cycle schedule."""

    def __init__(self, net: torch.nn.Module, config: Any) -> None:
        super().__init__()
        self.net, self.config = net, config
        self._val: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(scale_hu(x, self.config.hu_window))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.config.network == "3d":
            x, y = augment_volume(scale_hu(batch[0], self.config.hu_window), y=batch[1])
            logits = self.net(x)
        else:
            x, y = augment(*batch)
            logits = self(x)
        loss = F.binary_cross_entropy_with_logits(logits, y) + soft_dice_loss(logits, y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        pred = self(x) > 0
        truth = y > 0.5
        self._val.append(torch.stack([(pred & truth).sum(), pred.sum(), truth.sum()]).float())

    def on_validation_epoch_end(self) -> None:
        inter, npred, ntrue = torch.stack(self._val).sum(0)
        self._val.clear()
        self.log("val_dice", float(2 * inter / (npred + ntrue).clamp(min=1)))

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)
        total = self.config.epochs * self.config.steps_per_epoch
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.config.lr, total_steps=total,
                                                    pct_start=0.15)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def best_metrics(metrics_csv: Path) -> dict[str, float]:
    """The validation row with the highest ``val_dice`` of a Lightning CSV log."""
    rows = [r for r in csv.DictReader(metrics_csv.open()) if r.get("val_dice")] if metrics_csv.is_file() else []
    if not rows:
        return {}
    row = max(rows, key=lambda r: float(r["val_dice"]))
    return {"val_dice": float(row["val_dice"]), "epoch": int(float(row["epoch"]))}
